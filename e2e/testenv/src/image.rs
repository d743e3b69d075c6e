//! Container images without a registry: OCI archives assembled from built binaries, imported
//! into a node's containerd.

pub mod ldd;
pub mod oci;
pub mod roster;
pub mod tar;
