//! `cargo xtask`: generation and developer tooling.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Roster developer tooling.
#[derive(Parser, Debug)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a hub and two members on this machine and stay in the foreground.
    Dev {
        /// Directory for kubeconfigs, logs and data.
        #[arg(long, default_value = ".dev")]
        dir: PathBuf,
    },
    /// Write the CRD YAML files, or with --check fail if they differ from the Rust types.
    Crds {
        /// Directory holding the generated files.
        #[arg(long, default_value = "crds")]
        dir: PathBuf,
        /// Compare instead of writing; exit non-zero on any difference.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { dir, check } => crds(&dir, check),
        Command::Dev { dir } => {
            roster_runtime::install_crypto_provider();
            let dir = std::path::absolute(&dir)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::dev::run(&dir))
        }
    }
}

fn crds(dir: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let files = xtask::crd_files()?;
    if check {
        let drift = xtask::drift(dir, &files)?;
        if !drift.is_empty() {
            anyhow::bail!(
                "generated CRDs differ from {}: {}\nrun `make crds` and commit the result",
                dir.display(),
                drift.join(", ")
            );
        }
        println!("crds: {} files up to date", files.len());
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, yaml) in &files {
        let path = dir.join(name);
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
