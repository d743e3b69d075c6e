//! The suite's parameters: names on the hub, run counts and the target.

pub(super) const SUITE: &str = "credentials";

/// Namespace of the Secrets and of the plugins' identity on the hub.
pub(super) const NAMESPACE: &str = "bench-credentials";
/// The member cluster the ExecCredential is asked for.
pub(super) const CLUSTER: &str = "member-1";
/// The RemoteServiceAccount `roster-credential` is told to use.
pub(super) const RSA: &str = "bench";
/// The service account both plugins authenticate to the hub as.
pub(super) const PLUGIN_IDENTITY: &str = "credential-plugin";

/// Timed runs per plugin, after [`WARMUP_RUNS`] untimed ones.
pub(super) const RUNS: usize = 100;
pub(super) const WARMUP_RUNS: usize = 10;
/// Runs per plugin under `/usr/bin/time` for peak memory.
pub(super) const MEMORY_RUNS: usize = 10;
/// In-process config builds per library and loop.
pub(super) const BUILD_ITERATIONS: usize = 3000;
pub(super) const BUILD_WARMUP: usize = 300;
/// In-process Rust client builds: each runs the plugin (see `build`).
pub(super) const CLIENT_ITERATIONS: usize = 100;
pub(super) const CLIENT_WARMUP: usize = 10;

/// The target the issue sets: `roster-credential` at least this many times faster.
pub(super) const SPEEDUP_TARGET: f64 = 5.0;
