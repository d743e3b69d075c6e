//! `kubectl roster`: joins member clusters to a Roster hub and shows the fleet.

pub mod cli;

/// Runs one subcommand.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Join { name } | cli::Command::Unjoin { name } => {
            anyhow::bail!("member {name}: join and unjoin are not built yet (issue 4)")
        }
        cli::Command::Status => anyhow::bail!("status is not built yet (issue 4)"),
    }
}
