//! Running Roster's own binaries (`roster-hub`, `roster-agent`, ...) as real processes.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;

use crate::{
    Cluster, Fleet, binary,
    process::{Process, Spec},
};

/// Serializes builds of missing binaries: concurrent cargo runs would only wait on each other.
static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Path of the Roster binary `name` (package of the same name) in the target folder this test
/// runs from, built with cargo first if it is missing. `make test` builds every binary before
/// the tests run; a test run on its own (`cargo test -p roster-e2e`) uses whatever was last
/// built, so run `cargo build --bins` first when the binaries changed.
pub fn binary_path(name: &str) -> anyhow::Result<PathBuf> {
    // Tests run as <target>/<profile>/deps/<test>-<hash>, binaries (roster-bench) as
    // <target>/<profile>/<name>; Roster's binaries sit in <profile>/.
    let exe = std::env::current_exe()?;
    let dir = exe.parent();
    let profile = match dir {
        Some(d) if d.file_name().is_some_and(|n| n == "deps") => d.parent().map(Path::to_path_buf),
        Some(d) if d.join("deps").is_dir() => Some(d.to_path_buf()),
        _ => None,
    }
    .unwrap_or_else(|| binary::workspace_root().join("target/debug"));
    let path = profile.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = std::process::Command::new(cargo);
        build
            .current_dir(binary::workspace_root())
            .args(["build", "-p", name, "--bin", name, "--target-dir"])
            .arg(profile.parent().unwrap_or(&profile));
        if profile.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .with_context(|| format!("running cargo build -p {name}"))?;
        if !status.success() || !path.is_file() {
            anyhow::bail!("building {name} failed; run `cargo build -p {name}`");
        }
    }
    Ok(path)
}

/// Starts Roster binary `name` with `args` and `env`, logging to `log`. Like the control planes,
/// it dies with the test run.
pub fn spawn(
    name: &str,
    args: &[String],
    env: &[(&str, &str)],
    log: &Path,
) -> anyhow::Result<Process> {
    let program = binary_path(name)?;
    let wrapper = binary::controlplane()?;
    let mut full: Vec<OsString> = vec!["exec".into(), program.into_os_string()];
    full.extend(args.iter().map(OsString::from));
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Process::spawn(Spec {
        name: name.to_owned(),
        program: wrapper,
        args: full,
        log: log.to_owned(),
        env: env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
    })
}

/// Starts a `roster-hub` of its own for `fleet` (a test's private fleet) with the fleet's admin
/// kubeconfig, its admin server on `admin` (port 0: any), no webhook (the shared hub serves
/// one, and `make dev` keeps 9443), then `flags`; it logs `info,roster_hub=debug` to `log`.
pub fn spawn_hub(
    fleet: &Fleet,
    admin: SocketAddr,
    flags: &[String],
    log: &Path,
) -> anyhow::Result<Process> {
    let mut args = hub_args(fleet, admin);
    args.extend_from_slice(flags);
    spawn(
        "roster-hub",
        &args,
        &[("RUST_LOG", "info,roster_hub=debug")],
        log,
    )
}

/// The flags of [`spawn_hub`] before its `flags`, for a hub started another way (the bench's).
pub fn hub_args(fleet: &Fleet, admin: SocketAddr) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", fleet.hub.kubeconfig_path().display()),
        format!("--admin-address={admin}"),
        "--webhook-address=".into(),
    ]
}

/// Starts a `roster-agent` for `member` (named as its cluster, reaching it with the admin
/// kubeconfig) joining with the `bootstrap` kubeconfig, keeping its state in `state`, its admin
/// server on `admin` (port 0: any), then `flags`; it logs `info,roster_agent=debug` to `log`.
pub fn spawn_agent(
    member: &Cluster,
    bootstrap: &Path,
    state: &Path,
    admin: SocketAddr,
    flags: &[String],
    log: &Path,
) -> anyhow::Result<Process> {
    let mut args = vec![
        format!("--member-name={}", member.name()),
        format!("--bootstrap-kubeconfig={}", bootstrap.display()),
        format!("--member-kubeconfig={}", member.kubeconfig_path().display()),
        format!("--state-dir={}", state.display()),
        format!("--admin-address={admin}"),
    ];
    args.extend_from_slice(flags);
    spawn(
        "roster-agent",
        &args,
        &[("RUST_LOG", "info,roster_agent=debug")],
        log,
    )
}
