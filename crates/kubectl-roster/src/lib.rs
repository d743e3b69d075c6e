//! `kubectl roster`: joins member clusters to a Roster hub, shows the fleet and audits its
//! remote identities.
//!
//! Pure parts (flags, manifest, kubeconfig, table) are separate from the I/O of each
//! subcommand, so they are tested without a cluster.

pub mod args;
pub mod audit;
pub mod cli;
pub mod federation;
pub mod hub;
pub mod join;
pub mod kubeconfig;
pub mod manifest;
pub mod member;
pub mod poll;
pub mod status;
pub mod table;
pub mod unjoin;

/// Runs one subcommand.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Join(args) => join::run(&cli.hub, *args).await,
        cli::Command::Unjoin(args) => unjoin::run(&cli.hub, args).await,
        cli::Command::Status(args) => status::run(&cli.hub, args).await,
        cli::Command::Audit(args) => audit::run(&cli.hub, args).await,
    }
}
