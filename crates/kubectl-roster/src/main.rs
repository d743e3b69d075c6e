use std::process::ExitCode;

use clap::Parser;
use kubectl_roster::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    match kubectl_roster::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", roster_runtime::errors::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
