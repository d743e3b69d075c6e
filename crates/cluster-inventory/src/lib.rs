//! The SIG-Multicluster Cluster Inventory API (`ClusterProfile`, group `multicluster.x-k8s.io`)
//! for Rust.
//!
//! The types follow the upstream `sigs.k8s.io/cluster-inventory-api` v0.2.0 API field for field:
//! [`v1alpha1`] (the storage version, with the deprecated `credentialProviders`) and
//! [`v1alpha2`]. [`crd::cluster_profiles`] builds the CustomResourceDefinition that serves both,
//! interchangeable with the upstream one. [`access`] is the access-provider library: it builds a
//! `kube::Config` or `kube::Client` for a profile's cluster from the consumer's provider file.
//! Nothing in this crate is specific to one cluster manager.

pub mod access;
pub mod crd;
pub mod names;
pub mod schema;
pub mod v1alpha1;
pub mod v1alpha2;

/// The API group of the Cluster Inventory API.
pub const GROUP: &str = "multicluster.x-k8s.io";
