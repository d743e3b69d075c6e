use clap::Parser;
use kubectl_roster::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    kubectl_roster::run(cli).await
}
