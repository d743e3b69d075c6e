//! Roster's own API, group `roster.dev`, version `v1alpha1`: [`MemberCluster`] (the hub's
//! record of a member, whose creation approves the join) and [`RemoteServiceAccount`] (an
//! identity for a hub namespace on member clusters), [`RemoteAccessPolicy`] (who may obtain
//! what on which members, decided by [`policy`]), plus the well-known names Roster's
//! components agree on.

pub mod ceiling;
pub mod conditions;
pub mod crd;
pub mod federation;
pub mod inventory;
pub mod member_cluster;
pub mod member_report;
pub mod names;
pub mod policy;
pub mod remote_access_policy;
pub mod remote_account_grant;
pub mod remote_service_account;
pub mod selector;
pub mod validation;
pub mod webhook;

pub use inventory::{Inventory, InventorySpec, InventoryStatus};
pub use member_cluster::{MemberCluster, MemberClusterSpec, MemberClusterStatus};
pub use member_report::{MemberReport, MemberReportSpec};
pub use remote_access_policy::{RemoteAccessPolicy, RemoteAccessPolicySpec};
pub use remote_account_grant::{
    RemoteAccountGrant, RemoteAccountGrantSpec, RemoteAccountGrantStatus,
};
pub use remote_service_account::{
    RemoteServiceAccount, RemoteServiceAccountSpec, RemoteServiceAccountStatus,
};

/// The API group of Roster's own resources.
pub const GROUP: &str = "roster.dev";
