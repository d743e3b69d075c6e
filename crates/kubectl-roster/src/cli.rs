//! Command line of `kubectl roster`.

use clap::{Parser, Subcommand};
use roster_runtime::logging::LogOptions;

/// Join member clusters to a Roster hub and show the fleet.
#[derive(Parser, Debug, Clone)]
#[command(name = "kubectl-roster", bin_name = "kubectl roster", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogOptions,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Approve a member cluster and write its agent's install manifest.
    Join {
        /// Name of the member cluster.
        name: String,
    },
    /// Remove a member cluster and everything the hub created for it.
    Unjoin {
        /// Name of the member cluster.
        name: String,
    },
    /// Show the fleet as a table.
    Status,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
