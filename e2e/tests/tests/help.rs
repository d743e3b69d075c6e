//! Smoke test of every binary's command line: `--help` and `--version` work and name the
//! binary's own flags. No cluster needed. A binary missing from the target directory is built
//! first; one already there is used as is, so run after `cargo build --workspace` (as
//! `cargo test --workspace` does) to test current code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Command, Output},
};

/// (package, binary, a flag or subcommand its help must mention).
const BINARIES: [(&str, &str, &str); 4] = [
    ("roster-hub", "roster-hub", "--inventory-namespace"),
    ("roster-agent", "roster-agent", "--member-name"),
    (
        "roster-credential",
        "roster-credential",
        "--remote-service-account",
    ),
    ("kubectl-roster", "kubectl-roster", "join"),
];

/// The binary's path, built with cargo first if it is not there yet.
fn binary(_package: &str, name: &str) -> PathBuf {
    roster_testenv::roster::binary_path(name).expect("binary is built")
}

fn run(package: &str, name: &str, arg: &str) -> (Output, String) {
    let output = Command::new(binary(package, name))
        .arg(arg)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} {arg} exited with {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, stdout)
}

fn help_names_its_flag(index: usize) {
    let (package, name, flag) = BINARIES[index];
    let (_, stdout) = run(package, name, "--help");
    assert!(stdout.contains("Usage:"), "{name} --help: {stdout}");
    assert!(
        stdout.contains(flag),
        "{name} --help lacks {flag}: {stdout}"
    );
}

fn version_prints_name_and_version(index: usize) {
    let (package, name, _) = BINARIES[index];
    let (_, stdout) = run(package, name, "--version");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        stdout.contains(name) && stdout.contains(version),
        "{name} --version should print its name and {version}: {stdout}"
    );
}

#[test]
fn roster_hub_help() {
    help_names_its_flag(0);
}

#[test]
fn roster_agent_help() {
    help_names_its_flag(1);
}

#[test]
fn roster_credential_help() {
    help_names_its_flag(2);
}

#[test]
fn kubectl_roster_help() {
    help_names_its_flag(3);
}

#[test]
fn every_binary_prints_its_version() {
    for index in 0..BINARIES.len() {
        version_prints_name_and_version(index);
    }
}
