//! Command line of `kubectl roster`; every flag can also be set from the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use roster_api::names;
use roster_runtime::logging::LogOptions;

use crate::args::KeyValue;

/// Join member clusters to a Roster hub and show the fleet.
#[derive(Parser, Debug, Clone)]
#[command(name = "kubectl-roster", bin_name = "kubectl roster", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub hub: HubOptions,

    #[command(flatten)]
    pub log: LogOptions,
}

/// How to reach the hub cluster.
#[derive(Args, Debug, Clone, Default)]
pub struct HubOptions {
    /// Kubeconfig of the hub cluster [default: $KUBECONFIG, else ~/.kube/config, else
    /// in-cluster].
    #[arg(long, env = "ROSTER_KUBECONFIG", global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context of the hub cluster [default: the current context].
    #[arg(long, env = "ROSTER_CONTEXT", global = true, value_name = "NAME")]
    pub context: Option<String>,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Approve a member cluster and write its agent's install manifest.
    Join(Box<JoinArgs>),
    /// Remove a member cluster and everything the hub created for it.
    Unjoin(UnjoinArgs),
    /// Show the fleet as a table.
    Status(StatusArgs),
    /// List every remote identity: rights, allowing policy, token expiry; exit 1 when any is
    /// beyond policy or a member's ceiling, or its token was not refreshed in time.
    Audit(AuditArgs),
}

/// What `join` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum JoinOutput {
    /// The agent's install manifest for the member cluster, bootstrap credential included.
    #[default]
    Manifest,
    /// The bootstrap kubeconfig alone, for an agent run as a local process.
    Kubeconfig,
}

/// Flags of `join`.
#[derive(Args, Debug, Clone)]
pub struct JoinArgs {
    /// Name of the member cluster.
    pub name: String,

    /// Human-readable name of the member cluster.
    #[arg(long, env = "ROSTER_DISPLAY_NAME", value_name = "TEXT")]
    pub display_name: Option<String>,

    /// Label of the MemberCluster (repeatable, or several separated by commas).
    #[arg(
        long = "label",
        env = "ROSTER_LABELS",
        value_name = "KEY=VALUE",
        value_delimiter = ','
    )]
    pub labels: Vec<KeyValue>,

    /// Static property of the member, copied into its ClusterProfile (repeatable).
    #[arg(long = "property", env = "ROSTER_PROPERTY", value_name = "NAME=VALUE")]
    pub properties: Vec<KeyValue>,

    /// HTTPS URL consumers use to reach the member's API server, overriding what the agent
    /// reports.
    #[arg(long, env = "ROSTER_API_SERVER_URL", value_name = "URL")]
    pub api_server_url: Option<String>,

    /// Lifetime of the bootstrap credential, seconds (at least 600).
    #[arg(
        long,
        env = "ROSTER_BOOTSTRAP_TTL",
        value_name = "SECONDS",
        default_value_t = names::DEFAULT_BOOTSTRAP_TTL_SECONDS,
        value_parser = clap::value_parser!(i64).range(600..),
    )]
    pub bootstrap_ttl: i64,

    /// What to write.
    #[arg(long, short, env = "ROSTER_JOIN_OUTPUT", value_enum, default_value_t)]
    pub output: JoinOutput,

    /// Write to this file instead of stdout.
    #[arg(long, short, env = "ROSTER_JOIN_FILE", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// How long to wait for the hub to prepare the member, seconds.
    #[arg(
        long,
        env = "ROSTER_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub timeout: u64,

    /// Image of the agent in the manifest.
    #[arg(
        long,
        env = "ROSTER_AGENT_IMAGE",
        value_name = "IMAGE",
        default_value = concat!("ghcr.io/roster-dev/roster-agent:", env!("CARGO_PKG_VERSION")),
    )]
    pub agent_image: String,

    /// Member API server URL the agent reports (its `--api-server-url`), when consumers reach
    /// the member by another address than the agent's in-cluster one [default: the agent
    /// reports its in-cluster address]. Unlike --api-server-url, the MemberCluster keeps no
    /// override.
    #[arg(long, env = "ROSTER_AGENT_API_SERVER_URL", value_name = "URL")]
    pub agent_api_server_url: Option<String>,

    /// ClusterRoles the member's agent may bind for remote service accounts, comma-separated
    /// ("*": any, cluster-admin included). The manifest gives the agent `bind` on exactly these,
    /// and the agent refuses any grant asking for another, whatever the hub asks.
    #[arg(long, env = "ROSTER_GRANTABLE_CLUSTER_ROLES", value_name = "NAMES", value_delimiter = ',',
          default_values_t = roster_api::ceiling::DEFAULT_GRANTABLE_CLUSTER_ROLES.iter().map(|r| (*r).to_owned()))]
    pub grantable_cluster_roles: Vec<String>,

    /// Let remote service accounts carry extra `rules` on this member. The agent then holds
    /// `escalate` and `bind` on any ClusterRole there: cluster-admin-level power.
    #[arg(long, env = "ROSTER_ALLOW_RULES")]
    pub allow_rules: bool,

    /// Hub API server URL written into the bootstrap kubeconfig, when the member reaches the
    /// hub by another name than this kubeconfig does [default: the kubeconfig's server].
    #[arg(long, env = "ROSTER_HUB_SERVER", value_name = "URL")]
    pub hub_server: Option<String>,

    /// Also write to this file the member API server's authentication configuration trusting
    /// the hub's service-account issuer for this member (federated access): issuer from the
    /// hub's discovery document, discovery URL and CA of the hub endpoint the agent uses. The
    /// member's admin passes it to kube-apiserver --authentication-config.
    #[arg(long, env = "ROSTER_FEDERATION_CONFIG", value_name = "PATH")]
    pub federation_config: Option<PathBuf>,

    /// With --federation-config: the hub's issuer is public (a managed hub's OIDC issuer,
    /// whose certificate chains to the system roots), so the configuration names only the
    /// issuer, which the member's API server fetches directly, and no discovery URL or CA.
    #[arg(
        long,
        env = "ROSTER_FEDERATION_PUBLIC_ISSUER",
        requires = "federation_config"
    )]
    pub federation_public_issuer: bool,
}

/// Flags of `unjoin`.
#[derive(Args, Debug, Clone)]
pub struct UnjoinArgs {
    /// Name of the member cluster.
    pub name: String,

    /// Wait until the MemberCluster and its namespace on the hub are gone.
    #[arg(
        long,
        env = "ROSTER_WAIT",
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
    )]
    pub wait: bool,

    /// How long to wait, seconds.
    #[arg(
        long,
        env = "ROSTER_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub timeout: u64,
}

/// How `status` prints the fleet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum StatusOutput {
    /// A table for people.
    #[default]
    Table,
    /// The MemberCluster list as JSON.
    Json,
    /// The MemberCluster list as YAML.
    Yaml,
}

/// Flags of `audit`.
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Output format (json and yaml: the identities as a list).
    #[arg(long, short, env = "ROSTER_AUDIT_OUTPUT", value_enum, default_value_t)]
    pub output: StatusOutput,
}

/// Flags of `status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, short, env = "ROSTER_STATUS_OUTPUT", value_enum, default_value_t)]
    pub output: StatusOutput,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-roster").chain(args.iter().copied()))
    }

    #[test]
    fn join_defaults_and_repeated_flags() {
        let cli = parse(&[
            "join",
            "m1",
            "--label",
            "env=prod",
            "--label",
            "tier=1",
            "--property",
            "p=a,b",
            "--context",
            "hub",
        ])
        .expect("parses");
        let Command::Join(join) = cli.command else {
            panic!("not join")
        };
        assert_eq!(join.labels.len(), 2);
        assert_eq!(join.properties[0].value, "a,b");
        assert_eq!(join.bootstrap_ttl, names::DEFAULT_BOOTSTRAP_TTL_SECONDS);
        assert_eq!(join.output, JoinOutput::Manifest);
        assert_eq!(join.timeout, 60);
        assert!(join.agent_image.ends_with(env!("CARGO_PKG_VERSION")));
        assert_eq!(cli.hub.context.as_deref(), Some("hub"));
    }

    #[test]
    fn bad_flags_are_refused_at_parse_time() {
        let err = parse(&["join", "m1", "--label", "novalue"]).expect_err("refused");
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        assert!(parse(&["join", "m1", "--bootstrap-ttl", "60"]).is_err());
    }

    #[test]
    fn unjoin_wait_takes_an_optional_value() {
        for (args, wait) in [
            (&["unjoin", "m1"][..], true),
            (&["unjoin", "m1", "--wait"][..], true),
            (&["unjoin", "m1", "--wait=false"][..], false),
        ] {
            let Command::Unjoin(unjoin) = parse(args).expect("parses").command else {
                panic!("not unjoin")
            };
            assert_eq!(unjoin.wait, wait, "{args:?}");
        }
    }
}
