//! Start-up plumbing shared by Roster's binaries: the rustls crypto provider, logging, the
//! flags every binary takes, the admin server (metrics, health), error categories, retry
//! delays and how watches list.

pub mod admin;
pub mod backoff;
pub mod errors;
pub mod logging;
pub mod metrics;
pub mod pem;
pub mod watch;

/// Installs ring as the process-wide rustls crypto provider. Call once, first thing in `main`.
pub fn install_crypto_provider() {
    // A second install (tests calling this twice) is harmless: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The exit code of a daemon's `run()`: on failure the error chain is logged on one line (no
/// backtrace), so the reason is the last thing an operator reads.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", errors::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM (what the kubelet
/// sends). Every long-running loop of a daemon selects on it to shut down gracefully.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
