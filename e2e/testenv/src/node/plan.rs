//! The address plan of a node fleet: pure functions from a node's index to its addresses.
//!
//! Every address here is private and lives only inside network namespaces the launcher creates:
//! the fabric (a bridge joining the nodes) and each node's own namespace. Nothing routes them
//! out of the machine, and the host namespace never sees them.

use std::net::Ipv4Addr;

/// The fabric's own address on its bridge: every node's default gateway.
pub const FABRIC_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Prefix length of the node network.
pub const NODE_PREFIX: u8 = 24;
/// Each cluster's Service range (the same in every cluster: each has its own kube-proxy).
pub const SERVICE_CIDR: &str = "10.96.0.0/24";
/// The `kubernetes` Service's ClusterIP in [`SERVICE_CIDR`].
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// The API server's port inside a node's namespace.
pub const APISERVER_PORT: u16 = 6443;
/// Most nodes a fleet may have (node IPs and pod subnets stay distinct below it).
pub const MAX_NODES: usize = 200;

/// Where one node sits on the fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    /// The node's position in its fleet, from 0.
    pub index: usize,
    /// Its address on the fabric (what the kubelet, the API server and other clusters use).
    pub node_ip: Ipv4Addr,
    /// Its pods' subnet, `10.244.<index+1>.0/24`.
    pub pod_cidr: String,
    /// Name of its veth end on the fabric bridge.
    pub fabric_link: String,
}

/// The plan of the node at `index`.
pub fn node(index: usize) -> anyhow::Result<NodePlan> {
    if index >= MAX_NODES {
        anyhow::bail!("a node fleet holds at most {MAX_NODES} nodes");
    }
    let octet = u8::try_from(index)?;
    Ok(NodePlan {
        index,
        node_ip: Ipv4Addr::new(10, 200, 0, 11 + octet),
        pod_cidr: format!("10.244.{}.0/24", u16::from(octet) + 1),
        fabric_link: format!("rn{index}"),
    })
}

/// The API server URL other clusters' pods use to reach this node's cluster.
pub fn apiserver_url(plan: &NodePlan) -> String {
    format!("https://{}:{APISERVER_PORT}", plan.node_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_distinct_addresses_and_subnets() -> anyhow::Result<()> {
        let first = node(0)?;
        let second = node(1)?;
        assert_eq!(first.node_ip, Ipv4Addr::new(10, 200, 0, 11));
        assert_eq!(first.pod_cidr, "10.244.1.0/24");
        assert_eq!(second.node_ip, Ipv4Addr::new(10, 200, 0, 12));
        assert_eq!(second.pod_cidr, "10.244.2.0/24");
        assert_ne!(first.fabric_link, second.fabric_link);
        assert_eq!(apiserver_url(&second), "https://10.200.0.12:6443");
        Ok(())
    }

    #[test]
    fn the_last_node_stays_inside_the_subnets() -> anyhow::Result<()> {
        let last = node(MAX_NODES - 1)?;
        assert_eq!(last.node_ip, Ipv4Addr::new(10, 200, 0, 210));
        assert_eq!(last.pod_cidr, "10.244.200.0/24");
        assert!(node(MAX_NODES).is_err());
        Ok(())
    }
}
