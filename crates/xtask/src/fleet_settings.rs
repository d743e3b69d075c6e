//! What `make dev` and `make dev-local` set up alike for the README's examples.

/// The sample RemoteAccessPolicy `make dev` and `make dev-local` install (workspace-relative).
pub const SAMPLE_POLICY: &str = "config/remote-access-policy.yaml";

/// What the dev members' agents may grant: what the sample policy allows.
pub const GRANTABLE_CLUSTER_ROLES: &str = "view,edit";
