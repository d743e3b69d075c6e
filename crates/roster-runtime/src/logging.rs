//! Structured logging: `--log-format plain|json`, filtered by `RUST_LOG` (default `info`).

use clap::{Args, ValueEnum};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging flags, flattened into every binary's command line.
#[derive(Args, Clone, Debug)]
pub struct LogOptions {
    /// Log line format.
    #[arg(long, env = "ROSTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Log filter in `RUST_LOG` syntax, for example `info,roster_hub=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl LogOptions {
    /// Installs the global subscriber; logs go to stderr so stdout stays free for output.
    pub fn init(&self) {
        let filter =
            EnvFilter::try_new(&self.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
        let registry = tracing_subscriber::registry().with(filter);
        let result = match self.log_format {
            LogFormat::Plain => registry
                .with(fmt::layer().with_writer(std::io::stderr))
                .try_init(),
            LogFormat::Json => registry
                .with(fmt::layer().json().with_writer(std::io::stderr))
                .try_init(),
        };
        // Already initialised (a test set it up first): keep the existing subscriber.
        let _ = result;
    }
}
