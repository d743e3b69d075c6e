use clap::Parser;
use roster_credential::cli::Cli;

fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    match roster_credential::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster-credential: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
