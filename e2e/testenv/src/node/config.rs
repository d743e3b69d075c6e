//! The node components' configuration files, rendered by pure functions.
//!
//! Paths under `/run`, `/var/lib`, `/var/log` and `/opt` are the node's own: its holder binds
//! private folders over them (see [`super::holder`]), so the defaults the components hard-code
//! stay apart between nodes and from the host.

use std::path::Path;

use serde_json::json;

use super::plan::NodePlan;

/// containerd's socket inside the node.
pub const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// The image the CRI runs every pod sandbox from; imported, never pulled.
pub const PAUSE_IMAGE: &str = "roster.test/pause:v1";
/// Where the Debian `containernetworking-plugins` package puts the CNI plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// Where the Debian `runc` package puts runc.
pub const RUNC: &str = "/usr/sbin/runc";

/// containerd's configuration (version 3, containerd 2.x).
///
/// `restrict_oom_score_adj`: the machine's bounding set lacks `CAP_SYS_RESOURCE`, so runc cannot
/// give a sandbox the kubelet's -998 and the sandbox never starts without it.
pub fn containerd(cni_conf_dir: &Path) -> String {
    format!(
        r#"version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "{CONTAINERD_SOCKET}"

[ttrpc]
  address = "{CONTAINERD_SOCKET}.ttrpc"

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  SystemdCgroup = false

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["{CNI_BIN_DIR}"]
  conf_dir = "{conf_dir}"
"#,
        conf_dir = cni_conf_dir.display()
    )
}

/// The CNI network: a bridge with the node as gateway, masquerading what leaves the pod subnet,
/// addresses from the node's own pod subnet.
pub fn cni(plan: &NodePlan) -> String {
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "roster",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": plan.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "/var/lib/cni/networks",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    });
    format!("{conf:#}\n")
}

/// What a kubelet's configuration depends on.
#[derive(Debug)]
pub struct KubeletInputs<'a> {
    /// The node's plan.
    pub plan: &'a NodePlan,
    /// The cgroup (in every v1 hierarchy) that holds the node's pods.
    pub cgroup_root: &'a str,
    /// CA file that signs the clients the kubelet accepts (the cluster CA).
    pub client_ca_file: &'a Path,
}

/// The `KubeletConfiguration`, as JSON (which the kubelet reads as YAML).
pub fn kubelet(inputs: &KubeletInputs<'_>) -> String {
    let conf = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        // The machine has cgroup v1 only; its hierarchy is used, never remounted.
        "failCgroupV1": false,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": inputs.cgroup_root,
        "containerRuntimeEndpoint": format!("unix://{CONTAINERD_SOCKET}"),
        "address": inputs.plan.node_ip.to_string(),
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": inputs.client_ca_file.display().to_string()},
        },
        "authorization": {"mode": "Webhook"},
        "failSwapOn": false,
        // No resolver inside the node: queries would only time out.
        "resolvConf": "",
        // Test data on a shared disk: evict only when it is really full, never collect images
        // (they are imported, not pullable). Absolute sizes, not percentages: on a large disk
        // that other work has nearly filled, 1% (2.5 GB of 252 GB) was reached with gigabytes
        // still free, and the node refused every new pod (DiskPressure).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "256Mi",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "256Mi",
        },
        "imageGCHighThresholdPercent": 100,
        "serializeImagePulls": false,
    });
    format!("{conf:#}\n")
}

/// The `KubeProxyConfiguration`: iptables mode, nothing bound outside loopback, and the
/// conntrack sysctls (global on this kernel) left alone.
pub fn kube_proxy(plan: &NodePlan, node_name: &str, kubeconfig: &Path) -> String {
    let conf = json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": plan.pod_cidr,
        "hostnameOverride": node_name,
        "clientConnection": {"kubeconfig": kubeconfig.display().to_string()},
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "iptables": {"localhostNodePorts": false},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    });
    format!("{conf:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::plan;

    #[test]
    fn containerd_restricts_oom_scores_and_uses_the_node_network() {
        let text = containerd(Path::new("/n/cni"));
        assert!(text.starts_with("version = 3\n"));
        assert!(text.contains("restrict_oom_score_adj = true"));
        assert!(text.contains(r#"sandbox = "roster.test/pause:v1""#));
        assert!(text.contains(r#"conf_dir = "/n/cni""#));
        assert!(text.contains(r#"BinaryName = "/usr/sbin/runc""#));
        assert!(text.contains("SystemdCgroup = false"));
    }

    #[test]
    fn cni_hands_out_the_nodes_pod_subnet() -> anyhow::Result<()> {
        let conf: serde_json::Value = serde_json::from_str(&cni(&plan::node(1)?))?;
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["ipMasq"], true);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.244.2.0/24");
        Ok(())
    }

    #[test]
    fn kubelet_serves_on_the_node_ip_in_its_own_cgroup() -> anyhow::Result<()> {
        let plan = plan::node(0)?;
        let conf: serde_json::Value = serde_json::from_str(&kubelet(&KubeletInputs {
            plan: &plan,
            cgroup_root: "/roster-node-1-hub",
            client_ca_file: Path::new("/n/ca.crt"),
        }))?;
        assert_eq!(conf["address"], "10.200.0.11");
        assert_eq!(conf["cgroupRoot"], "/roster-node-1-hub");
        assert_eq!(conf["failCgroupV1"], false);
        assert_eq!(conf["resolvConf"], "");
        assert_eq!(conf["readOnlyPort"], 0);
        assert_eq!(conf["authentication"]["x509"]["clientCAFile"], "/n/ca.crt");
        Ok(())
    }

    #[test]
    fn kube_proxy_leaves_conntrack_sysctls_alone() -> anyhow::Result<()> {
        let conf: serde_json::Value =
            serde_json::from_str(&kube_proxy(&plan::node(0)?, "hub", Path::new("/k")))?;
        assert_eq!(conf["mode"], "iptables");
        assert_eq!(conf["clusterCIDR"], "10.244.1.0/24");
        assert_eq!(conf["conntrack"]["maxPerCore"], 0);
        assert_eq!(conf["conntrack"]["min"], 0);
        assert_eq!(conf["iptables"]["localhostNodePorts"], false);
        Ok(())
    }
}
