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
    /// Start a hub and two members with real nodes, install Roster as users do (images,
    /// `kubectl apply -k deploy/hub`, `kubectl roster join` manifests) and stay in the
    /// foreground.
    Dev {
        /// Directory for kubeconfigs, manifests, logs and data.
        #[arg(long, default_value = ".dev")]
        dir: PathBuf,
        /// Stop everything and exit once the members are Joined and healthy.
        #[arg(long)]
        check_and_exit: bool,
    },
    /// Start a hub and two members without nodes, roster-hub and the agents as local
    /// processes (the fast-iteration loop), and stay in the foreground.
    DevLocal {
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
    /// Assemble OCI image archives of roster-hub, roster-agent, roster-credential and the pause
    /// image from built binaries, for `ctr images import` (no registry, no container engine).
    Images {
        /// Folder of the built Roster binaries.
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// The static pause binary (`make pause`).
        #[arg(long, default_value = ".bin/node/pause")]
        pause: PathBuf,
        /// The images' tag.
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        tag: String,
        /// Folder receiving the archives.
        #[arg(long, default_value = ".bin/images")]
        out: PathBuf,
    },
    /// Fail if a crate has a module cycle (modules that use each other in a ring).
    Modules {
        /// Folders holding crates (each `<folder>/<crate>/src`).
        #[arg(default_values = ["crates", "e2e"])]
        roots: Vec<PathBuf>,
    },
    /// Write deploy/agent/ from the manifest `kubectl roster join` writes and
    /// deploy/hub/webhook.yaml from roster-hub's webhook configuration, or with --check fail if
    /// they differ.
    Deploy {
        /// Directory of the kustomize bases.
        #[arg(long, default_value = "deploy")]
        dir: PathBuf,
        /// Compare instead of writing; exit non-zero on any difference.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { dir, check } => generate(&dir, &xtask::crd_files()?, check),
        Command::Deploy { dir, check } => {
            // deploy/agent/ is generated whole; deploy/hub/ holds hand-written files beside the
            // generated one.
            generate(&dir.join("agent"), &xtask::deploy::agent_files()?, check)?;
            generate_some(&dir.join("hub"), &xtask::deploy::hub_files()?, check)
        }
        Command::Modules { roots } => check_modules(&roots),
        Command::Images {
            bin_dir,
            pause,
            tag,
            out,
        } => {
            for archive in xtask::images::write_all(&bin_dir, &pause, &tag, &out)? {
                let size = std::fs::metadata(&archive)?.len();
                println!("wrote {} ({} MiB)", archive.display(), size >> 20);
            }
            Ok(())
        }
        Command::Dev {
            dir,
            check_and_exit,
        } => {
            roster_runtime::install_crypto_provider();
            let dir = std::path::absolute(&dir)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::dev::run(&dir, check_and_exit))
        }
        Command::DevLocal { dir } => {
            roster_runtime::install_crypto_provider();
            let dir = std::path::absolute(&dir)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::dev_local::run(&dir))
        }
    }
}

fn check_modules(roots: &[PathBuf]) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for root in roots {
        for entry in
            std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?
        {
            let src = entry?.path().join("src");
            if !src.is_dir() {
                continue;
            }
            for uses in xtask::modules::crate_cycles(&src)? {
                found.push(format!("{}: {}", src.display(), uses.join(", ")));
            }
        }
    }
    if !found.is_empty() {
        anyhow::bail!(
            "module cycles (each module in a ring uses the next; move the shared piece into a module of its own):\n{}",
            found.join("\n")
        );
    }
    Ok(())
}

fn generate(dir: &std::path::Path, files: &[(String, String)], check: bool) -> anyhow::Result<()> {
    write_or_check(dir, files, check, true)
}

/// Like [`generate`] in a folder that also holds files written by hand.
fn generate_some(
    dir: &std::path::Path,
    files: &[(String, String)],
    check: bool,
) -> anyhow::Result<()> {
    write_or_check(dir, files, check, false)
}

fn write_or_check(
    dir: &std::path::Path,
    files: &[(String, String)],
    check: bool,
    whole: bool,
) -> anyhow::Result<()> {
    if check {
        let drift = if whole {
            xtask::drift(dir, files)?
        } else {
            xtask::changed(dir, files)
        };
        if !drift.is_empty() {
            anyhow::bail!(
                "generated files differ from {}: {}\nrun `make crds` and commit the result",
                dir.display(),
                drift.join(", ")
            );
        }
        println!("{}: {} files up to date", dir.display(), files.len());
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, yaml) in files {
        let path = dir.join(name);
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
