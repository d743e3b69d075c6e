//! The SIG-Multicluster Cluster Inventory API (`ClusterProfile`, group `multicluster.x-k8s.io`)
//! for Rust.
//!
//! The types follow the upstream `sigs.k8s.io/cluster-inventory-api` v0.2.0 API field for field:
//! [`v1alpha1`] (the storage version, with the deprecated `credentialProviders`) and
//! [`v1alpha2`]. [`crd::cluster_profiles`] builds the CustomResourceDefinition that serves both,
//! interchangeable with the upstream one. Types only: no client, no runtime (the access-provider
//! library is the crate `cluster-inventory-access`). Nothing in this crate is specific to one
//! cluster manager.

pub mod crd;
pub mod names;
pub mod schema;
pub mod v1alpha1;
pub mod v1alpha2;

/// The API group of the Cluster Inventory API.
pub const GROUP: &str = "multicluster.x-k8s.io";
