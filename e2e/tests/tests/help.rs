//! Smoke test of every binary's command line: `--help` and `--version` work and name the
//! binary's own flags. No cluster needed. A binary missing from the target directory is built
//! first; one already there is used as is, so run after `cargo build --workspace` (as
//! `cargo test --workspace` does) to test current code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::Mutex,
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

/// Serializes builds: concurrent `cargo build`s would only wait on each other's lock.
static BUILD: Mutex<()> = Mutex::new(());

/// The target directory's profile folder: this test runs as `<profile>/deps/help-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in <profile>/deps")
        .to_path_buf()
}

/// The binary's path, built with cargo first if it is not there yet.
fn binary(package: &str, name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let target_dir = profile_dir().parent().unwrap().to_path_buf();
        let mut build = Command::new(cargo);
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "-p", package, "--bin", name, "--target-dir"])
            .arg(target_dir);
        if profile_dir().file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("runs cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.exists(), "{} not found after building", path.display());
    path
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
