//! The fleet suite's command-line options.

/// Options of the fleet suite.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Fleet sizes, in increasing order; one fleet grows through them.
    #[arg(long = "members", value_delimiter = ',', default_values_t = [100, 1000, 5000])]
    pub members: Vec<usize>,
    /// Heartbeat period of the simulated members, seconds.
    #[arg(long = "fleet-period", default_value_t = 10)]
    pub period: u64,
    /// Heartbeat grace of the simulated members, seconds (at least twice the period).
    #[arg(long = "fleet-grace", default_value_t = 40)]
    pub grace: u64,
    /// Length of the steady-state window, seconds.
    #[arg(long = "fleet-window", default_value_t = 60)]
    pub window: u64,
    /// Most hub requests the simulated agents have in flight at once.
    #[arg(long = "fleet-concurrency", default_value_t = 64)]
    pub concurrency: usize,
    /// Most MemberClusters awaiting the hub's preparation at once while growing.
    #[arg(long = "fleet-join-batch", default_value_t = 100)]
    pub join_batch: usize,
    /// Seconds growing to one size may take (default: 60 plus 0.1 per member added).
    #[arg(long = "fleet-join-timeout")]
    pub join_timeout: Option<u64>,
    /// Extra environment of `roster-hub`, KEY=VALUE (repeatable), for experiments such as
    /// `TOKIO_WORKER_THREADS=1` or `MALLOC_ARENA_MAX=2`; the figures' notes name it.
    #[arg(long = "fleet-hub-env", value_parser = key_value)]
    pub hub_env: Vec<(String, String)>,
    /// Members joined one at a time into each settled fleet, to time a join at steady state.
    #[arg(long = "fleet-join-sample", default_value_t = 20)]
    pub join_sample: usize,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}
