use clap::Parser;
use roster_credential::cli::Cli;

// No logging set-up: stderr belongs to the one error line the client shows its user, and the
// plugin runs on every token refresh, so start-up does nothing it does not need.
fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    match roster_credential::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", roster_credential::error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
