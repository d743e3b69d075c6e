//! Tests on real control planes: one binary, so the shared fleet starts once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e {
    pub mod agent;
    pub mod agent_identity;
    pub mod ceiling;
    pub mod controlplane;
    pub mod crds;
    pub mod credential;
    pub mod deploy;
    pub mod federated_credential;
    pub mod federated_grant;
    pub mod federation;
    pub mod grant_repair;
    pub mod ha;
    pub mod hub;
    pub mod interop;
    pub mod inventories;
    pub mod journey;
    pub mod kubectl_roster;
    pub mod kueue;
    pub mod members;
    pub mod metrics;
    pub mod policy;
    pub mod remote_access;
    pub mod repair;
    pub mod support;
    pub mod trust;
    pub mod upstream;
    pub mod webhook;
    pub mod webhook_repair;
}
