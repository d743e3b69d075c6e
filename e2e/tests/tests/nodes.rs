//! Roster on real nodes: a hub and a member node cluster (kubelet, containerd, kube-proxy),
//! Roster's images assembled without a registry and imported, and `kubectl apply -k
//! deploy/hub` giving two Ready roster-hub pods with one leader and its webhook served; a
//! member joined from the `kubectl roster join` manifest, its agent pod replaced, leader
//! failover, a consumer pod with roster-credential, and the uninstall order. A separate test binary: it
//! starts its own node clusters, apart from the loopback fleet of `e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod nodes {
    pub mod agent;
    pub mod consumer;
    pub mod failover;
    pub mod federated;
    pub mod hub;
    pub mod probe;
    pub mod support;
    pub mod uninstall;
    pub mod webhook;
}
