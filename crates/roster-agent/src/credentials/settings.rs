//! Where the agent's hub credentials come from and where they are kept.

use std::path::PathBuf;

use super::kept::Kept;

/// Where the agent's hub credentials come from and where they are kept.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The member's name, for messages.
    pub member: String,
    /// The hub namespace holding the agent's service account (`roster-member-<member>`).
    pub namespace: String,
    /// Kubeconfig with the bootstrap credential and the hub's server and CA.
    pub bootstrap_kubeconfig: PathBuf,
    /// Folder keeping the agent's current hub token.
    pub state_dir: PathBuf,
    /// Lifetime to ask for, seconds.
    pub ttl_seconds: i64,
    /// Where on the member the agent keeps its identity for the next pod, if anywhere.
    pub kept: Option<Kept>,
}
