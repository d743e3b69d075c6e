use clap::Parser;
use roster_agent::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    roster_agent::run(cli).await
}
