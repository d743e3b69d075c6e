use clap::Parser;
use roster_hub::cli::Cli;

/// See the workspace manifest: resident memory per member is a measured target.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    roster_runtime::install_crypto_provider();
    let cli = Cli::parse();
    cli.log.init();
    roster_runtime::exit_code(roster_hub::run(cli).await)
}
