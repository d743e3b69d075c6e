use clap::Parser;
use roster_agent::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    roster_runtime::exit_code(roster_agent::run(cli).await)
}
