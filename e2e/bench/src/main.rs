//! `make bench`: runs the suites, prints the table, writes `.bench/results.json`.

use clap::Parser;
use roster_bench::report;

/// Roster's benchmarks on real control planes.
#[derive(Parser, Debug)]
#[command(name = "roster-bench", version, about)]
struct Cli {
    /// Suites to run (default: all).
    #[arg(long, value_delimiter = ',', default_values_t = ["fleet".to_owned(), "credentials".to_owned(), "admission".to_owned(), "pods".to_owned()])]
    suites: Vec<String>,
    /// Where to write the JSON results.
    #[arg(long, default_value = ".bench/results.json")]
    output: std::path::PathBuf,
    #[command(flatten)]
    fleet: roster_bench::fleet::Options,
    #[command(flatten)]
    pods: roster_bench::pods::PodsOptions,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    roster_runtime_free_crypto();
    let cli = Cli::parse();
    let mut figures = Vec::new();
    let mut failed = Vec::new();
    for suite in &cli.suites {
        eprintln!("== {suite}");
        let result = match suite.as_str() {
            "fleet" => roster_bench::fleet::run(&cli.fleet).await,
            "credentials" => roster_bench::credentials::run().await,
            "admission" => roster_bench::admission::run().await,
            "pods" => roster_bench::pods::run(&cli.pods).await,
            other => Err(anyhow::anyhow!(
                "unknown suite {other:?} (fleet, credentials, admission, pods)"
            )),
        };
        match result {
            Ok(mut f) => figures.append(&mut f),
            Err(e) => {
                eprintln!("{suite}: {e:#}");
                failed.push(suite.clone());
            }
        }
    }
    let results = report::Results {
        finished: k8s_openapi::jiff::Timestamp::now().to_string(),
        machine: report::Machine::here(),
        figures,
    };
    println!("{}", report::table(&results.figures));
    if let Err(e) = report::write_json(&results, &cli.output) {
        eprintln!("{e:#}");
        return std::process::ExitCode::FAILURE;
    }
    println!("wrote {}", cli.output.display());
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("suites that failed: {}", failed.join(", "));
        std::process::ExitCode::FAILURE
    }
}

/// kube's rustls needs a process-wide crypto provider.
fn roster_runtime_free_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
