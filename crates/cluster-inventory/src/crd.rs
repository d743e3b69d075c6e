//! The ClusterProfile CustomResourceDefinition, serving v1alpha1 (storage) and v1alpha2.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{schema, v1alpha1, v1alpha2};

/// The version upstream stores ClusterProfiles in.
pub const STORAGE_VERSION: &str = "v1alpha1";

/// The `clusterprofiles.multicluster.x-k8s.io` CRD, interchangeable with upstream v0.2.0's.
pub fn cluster_profiles() -> CustomResourceDefinition {
    let mut crd = kube::core::crd::merge_crds(
        vec![
            v1alpha1::ClusterProfile::crd(),
            v1alpha2::ClusterProfile::crd(),
        ],
        STORAGE_VERSION,
    )
    .unwrap_or_else(|e| unreachable!("both versions share group, kind and scope: {e}"));
    schema::normalize(&mut crd);
    crd
}
