//! Running the command-line tools the tests and `make dev` drive — the upstream kubectl (the
//! control-plane binary's) and Roster's `kubectl-roster` — to the end: their standard output,
//! or an error carrying their standard error.

use std::{
    ffi::{OsStr, OsString},
    path::Path,
    process::Output,
};

use anyhow::Context as _;

use crate::{binary, roster};

/// A command line to run once.
#[derive(Debug)]
pub struct Tool {
    /// What errors call the tool (`kubectl`, `kubectl roster`).
    name: &'static str,
    program: OsString,
    /// Arguments the error does not repeat (the wrapper's `kubectl`, `--kubeconfig`).
    fixed: Vec<OsString>,
    args: Vec<OsString>,
}

/// The upstream kubectl with `kubeconfig`, and `args`.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Tool> {
    Ok(kubectl_without_kubeconfig(args)?.fixed(kubeconfig_flag(kubeconfig)))
}

/// The upstream kubectl with `args` alone (`kubectl kustomize DIR` needs no cluster).
pub fn kubectl_without_kubeconfig(args: &[&str]) -> anyhow::Result<Tool> {
    Ok(Tool {
        name: "kubectl",
        program: binary::controlplane()?.into_os_string(),
        fixed: vec!["kubectl".into()],
        args: Vec::new(),
    }
    .args(args))
}

/// Roster's `kubectl-roster` (the binary the tests run, see [`roster::binary_path`]) with
/// `kubeconfig`, and `args`.
pub fn kubectl_roster(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Tool> {
    Ok(Tool {
        name: "kubectl roster",
        program: roster::binary_path("kubectl-roster")?.into_os_string(),
        fixed: vec![kubeconfig_flag(kubeconfig)],
        args: Vec::new(),
    }
    .args(args))
}

fn kubeconfig_flag(kubeconfig: &Path) -> OsString {
    let mut flag = OsString::from("--kubeconfig=");
    flag.push(kubeconfig);
    flag
}

impl Tool {
    fn fixed(mut self, arg: OsString) -> Self {
        self.fixed.push(arg);
        self
    }

    /// One more argument (a path, say).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Runs the tool to the end, blocking the thread: its standard output, or an error
    /// carrying its standard error.
    pub fn run(self) -> anyhow::Result<String> {
        let output = self
            .command()
            .output()
            .with_context(|| format!("running {}", self.name))?;
        self.stdout(output)
    }

    /// [`Tool::run`] for async code: the runtime goes on while the tool runs.
    pub async fn run_async(self) -> anyhow::Result<String> {
        let output = tokio::process::Command::from(self.command())
            .output()
            .await
            .with_context(|| format!("running {}", self.name))?;
        self.stdout(output)
    }

    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.fixed).args(&self.args);
        command
    }

    fn stdout(&self, output: Output) -> anyhow::Result<String> {
        let line = std::iter::once(self.name.to_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        anyhow::ensure!(
            output.status.success(),
            "{line} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Tool {
        Tool {
            name: "sh",
            program: "sh".into(),
            fixed: vec!["-c".into()],
            args: Vec::new(),
        }
        .arg(script)
    }

    #[test]
    fn stdout_on_success_stderr_in_the_error() {
        assert_eq!(sh("echo out; echo err >&2").run().unwrap(), "out\n");
        let error = sh("echo out; echo refused >&2; exit 3")
            .run()
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("sh echo out;"), "{error}");
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.ends_with(": refused"), "{error}");
    }

    #[tokio::test]
    async fn async_runs_alike() {
        assert_eq!(sh("echo out").run_async().await.unwrap(), "out\n");
        let error = sh("echo no >&2; false").run_async().await.unwrap_err();
        assert!(error.to_string().ends_with(": no"), "{error}");
    }

    #[test]
    fn the_kubeconfig_goes_before_the_arguments() {
        let tool = kubectl_roster_like(Path::new("/k.yaml")).args(["status"]);
        let command = tool.command();
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["--kubeconfig=/k.yaml", "status"]);
    }

    fn kubectl_roster_like(kubeconfig: &Path) -> Tool {
        Tool {
            name: "kubectl roster",
            program: "kubectl-roster".into(),
            fixed: Vec::new(),
            args: Vec::new(),
        }
        .fixed(kubeconfig_flag(kubeconfig))
    }
}
