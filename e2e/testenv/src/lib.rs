//! Real Kubernetes control planes on loopback, for Roster's tests and `make dev`.
//!
//! The upstream kube-apiserver, kube-controller-manager and etcd run from one binary built
//! from Go modules (`make controlplane`, see `e2e/controlplane`). A [`Fleet`] is one etcd and
//! a hub plus member clusters, each with its own PKI, service-account issuer and admin
//! kubeconfig; [`TestEnv`] gives a test the shared fleet and a fresh namespace.

pub mod admin;
pub mod binary;
pub mod cluster;
pub mod command;
pub mod crds;
pub mod deploy;
pub mod env;
pub mod fleet;
pub mod identity;
pub mod image;
pub mod inventory;
pub mod jwt;
pub mod kubeconfig;
pub mod kueue;
pub mod metrics;
pub mod node;
pub mod pki;
pub mod policy;
pub mod ports;
pub mod process;
pub mod roster;
pub mod secret;
pub mod trust;
pub mod upstream;
pub mod wait;
pub mod workload;

pub use cluster::Cluster;
pub use env::{MEMBERS, TestEnv, shared_fleet};
pub use fleet::{Fleet, HUB};
