use clap::Parser as _;
use roster_credential::cli::Cli;

// No logging set-up: stderr belongs to the one error line the client shows its user, and the
// plugin runs on every token refresh, so start-up does nothing it does not need.
fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", roster_credential::usage_line(&e));
            return std::process::ExitCode::from(2);
        }
    };
    match roster_credential::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", roster_credential::error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
