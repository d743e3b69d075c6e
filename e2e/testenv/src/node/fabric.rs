//! The fabric: a bridge in a network namespace of its own that joins every node of a fleet.
//!
//! Each node gets a veth pair created from inside the fabric, its peer placed directly in the
//! node's namespace, so no link ever exists in the host namespace. The fabric routes each node's
//! pod subnet to that node and is every node's default gateway; it has no other route, so
//! nothing addressed outside the fleet leaves it.

use std::{ffi::OsString, path::Path, process::Command};

use anyhow::Context;

use super::plan::{FABRIC_IP, NODE_PREFIX, NodePlan};
use crate::process::{Process, Spec};

/// Name of the fabric's bridge.
const BRIDGE: &str = "rbr0";
/// Name of a node's own end of its veth pair.
pub const NODE_LINK: &str = "eth0";

/// Commands (run inside the fabric) that create the bridge and make it a router.
pub fn bridge_commands() -> Vec<String> {
    vec![
        "ip link set lo up".into(),
        format!("ip link add {BRIDGE} type bridge"),
        format!("ip addr add {FABRIC_IP}/{NODE_PREFIX} dev {BRIDGE}"),
        format!("ip link set {BRIDGE} up"),
        "sysctl -qw net.ipv4.ip_forward=1".into(),
    ]
}

/// Commands (inside the fabric) that plug the node whose holder is `holder_pid` in.
pub fn attach_commands(plan: &NodePlan, holder_pid: u32) -> Vec<String> {
    let link = &plan.fabric_link;
    vec![
        format!("ip link add {link} type veth peer name {NODE_LINK} netns {holder_pid}"),
        format!("ip link set {link} master {BRIDGE} up"),
        format!("ip route add {} via {}", plan.pod_cidr, plan.node_ip),
    ]
}

/// Commands (inside the node) that give it its address and the fabric as gateway.
pub fn node_commands(plan: &NodePlan) -> Vec<String> {
    vec![
        format!("ip addr add {}/{NODE_PREFIX} dev {NODE_LINK}", plan.node_ip),
        format!("ip link set {NODE_LINK} up"),
        format!("ip route add default via {FABRIC_IP}"),
        "sysctl -qw net.ipv4.ip_forward=1".into(),
    ]
}

/// The running fabric namespace.
#[derive(Debug)]
pub struct Fabric {
    process: Process,
}

impl Fabric {
    /// Starts the fabric's namespace (held by `pause`) and creates its bridge.
    pub async fn start(controlplane: &Path, pause: &Path, dir: &Path) -> anyhow::Result<Self> {
        let args = ["exec", "unshare", "--net", "--"]
            .into_iter()
            .map(OsString::from)
            .chain([pause.into()])
            .collect();
        let process = Process::spawn(Spec {
            name: "fabric".into(),
            program: controlplane.to_owned(),
            args,
            log: dir.join("fabric.log"),
            env: Vec::new(),
        })?;
        let fabric = Self { process };
        // unshare replaces itself with pause once the namespace exists.
        crate::wait::until(
            "fabric namespace",
            std::time::Duration::from_secs(10),
            || async { Ok(fabric.in_own_netns().then_some(())) },
        )
        .await?;
        run_in(fabric.pid(), &bridge_commands())?;
        Ok(fabric)
    }

    /// The process holding the fabric's namespace.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Connects a node to the bridge and configures its side.
    pub fn attach(&self, plan: &NodePlan, holder_pid: u32) -> anyhow::Result<()> {
        run_in(self.pid(), &attach_commands(plan, holder_pid))?;
        run_in(holder_pid, &node_commands(plan))
    }

    fn in_own_netns(&self) -> bool {
        let ours = std::fs::read_link("/proc/self/ns/net").ok();
        let theirs = std::fs::read_link(format!("/proc/{}/ns/net", self.pid())).ok();
        theirs.is_some() && theirs != ours
    }
}

/// Runs `commands` with `sh -e` inside the network namespace of `pid`.
pub fn run_in(pid: u32, commands: &[String]) -> anyhow::Result<()> {
    let script = commands.join("\n");
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "--", "sh", "-ec", &script])
        .output()
        .context("running nsenter")?;
    if !out.status.success() {
        anyhow::bail!(
            "in the network namespace of {pid}: {script}\nfailed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::plan;

    #[test]
    fn a_node_is_plugged_in_from_the_fabric_and_routed_to() -> anyhow::Result<()> {
        let plan = plan::node(1)?;
        assert_eq!(
            attach_commands(&plan, 77),
            [
                "ip link add rn1 type veth peer name eth0 netns 77",
                "ip link set rn1 master rbr0 up",
                "ip route add 10.244.2.0/24 via 10.200.0.12",
            ]
        );
        assert_eq!(
            node_commands(&plan)[..3],
            [
                "ip addr add 10.200.0.12/24 dev eth0",
                "ip link set eth0 up",
                "ip route add default via 10.200.0.1",
            ]
        );
        Ok(())
    }
}
