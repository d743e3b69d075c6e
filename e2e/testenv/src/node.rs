//! Real Kubernetes nodes: per cluster a control plane and a kubelet, containerd and kube-proxy,
//! in network, mount and PID namespaces of their own, joined by a fabric so clusters reach each
//! other, and reached from the host through loopback forwarders.
//!
//! A [`NodeFleet`] leaves nothing behind: its processes die with the test run (parent-death
//! signals, and the kernel killing a PID namespace with its first process), its mounts and
//! network devices live only in namespaces that die with them, and its cgroup roots are
//! removed on stop, or by the next run after a crash.

pub mod cgroup;
pub mod cluster;
pub mod components;
pub mod config;
pub mod fabric;
pub mod files;
pub mod fleet;
pub mod forward;
pub mod holder;
pub mod memory;
pub mod plan;
pub mod pods;

pub use cluster::{Binaries, NodeCluster};
pub use fleet::NodeFleet;
