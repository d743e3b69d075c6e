use clap::Parser;
use roster_hub::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    roster_runtime::exit_code(roster_hub::run(cli).await)
}
