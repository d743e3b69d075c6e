//! Every CustomResourceDefinition Roster installs, for generation and installation.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{
    Inventory, MemberCluster, MemberReport, RemoteAccessPolicy, RemoteAccountGrant,
    RemoteServiceAccount,
};

/// Roster's CRDs and the ClusterProfile CRD, in installation order.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut roster = vec![
        MemberCluster::crd(),
        RemoteServiceAccount::crd(),
        MemberReport::crd(),
        RemoteAccountGrant::crd(),
        Inventory::crd(),
        RemoteAccessPolicy::crd(),
    ];
    for crd in &mut roster {
        cluster_inventory::schema::normalize(crd);
    }
    let mut all = vec![cluster_inventory::crd::cluster_profiles()];
    all.append(&mut roster);
    all
}
