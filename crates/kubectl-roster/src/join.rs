//! `kubectl roster join NAME`: approves a member and writes what its agent needs (steps 1–4 of
//! the design's Join section).

use std::{io::Write, path::Path, time::Duration};

use anyhow::Context;
use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::ServiceAccount,
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use roster_api::{MemberCluster, MemberClusterSpec, member_cluster::ApiServer, names};

use crate::{
    args,
    cli::{HubOptions, JoinArgs, JoinOutput},
    federation, hub,
    kubeconfig::{self, HubEndpoint},
    manifest::AgentInstall,
    member::{Preparation, preparation},
    poll,
};

/// Field manager of the MemberClusters `kubectl roster` creates.
pub const FIELD_MANAGER: &str = roster_api::names::CLI_FIELD_MANAGER;

/// Creates the member if needed, waits for the hub, mints a bootstrap token and writes the
/// manifest or kubeconfig.
pub async fn run(hub_opts: &HubOptions, args: JoinArgs) -> anyhow::Result<()> {
    // Every flag is checked before the hub is touched: a typo leaves nothing behind.
    let desired = desired_member(&args)?;
    let name = args.name.as_str();
    let config = hub::config(hub_opts).await?;
    let endpoint = HubEndpoint::from_config(&config, args.hub_server.as_deref());
    tracing::debug!(member = name, hub = %endpoint.server, "hub endpoint for the agent");
    let client = hub::client(config.clone())?;
    // Read and staged before anything changes on the hub.
    let trust = match &args.federation_config {
        Some(path) => Some(
            prepare_trust(
                &config,
                &client,
                name,
                &endpoint,
                args.federation_public_issuer,
                path,
            )
            .await?,
        ),
        None => None,
    };
    let members: Api<MemberCluster> = Api::all(client.clone());

    ensure_member(&members, &desired).await?;
    wait_prepared(&members, name, Duration::from_secs(args.timeout)).await?;
    let (token, expires) = bootstrap_token(&client, name, args.bootstrap_ttl).await?;
    tracing::debug!(member = name, ?expires, "bootstrap token issued");

    let bootstrap = kubeconfig::to_yaml(&kubeconfig::bootstrap(name, &endpoint, &token))?;
    let output = match args.output {
        JoinOutput::Kubeconfig => bootstrap,
        JoinOutput::Manifest => AgentInstall {
            member: name,
            image: &args.agent_image,
            bootstrap_kubeconfig: &bootstrap,
            api_server_url: args.agent_api_server_url.as_deref(),
            grantable_cluster_roles: &args
                .grantable_cluster_roles
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            allow_rules: args.allow_rules,
        }
        .render()?,
    };
    match &args.file {
        Some(path) => write_private(path, &output)?,
        None => print!("{output}"),
    }
    print_next_steps(&args, expires);
    if let Some(trust) = trust {
        trust.finish()?;
    }
    Ok(())
}

/// The member's authentication configuration, staged, and what to tell its admin.
#[derive(Debug)]
struct Trust {
    staged: federation::Staged,
    instructions: String,
    warnings: Vec<String>,
}

impl Trust {
    /// Moves the file into place and tells the member's admin what to do with it.
    fn finish(self) -> anyhow::Result<()> {
        self.staged.commit()?;
        eprintln!("{}", self.instructions);
        for warning in &self.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(())
    }
}

/// Reads the hub's issuer and stages the configuration for `path`, reaching the issuer through
/// `endpoint` (the agent's hub endpoint) or, when `public`, at its own URL; fails, changing
/// nothing, when the discovery document cannot be read or the file cannot be written.
async fn prepare_trust(
    hub: &kube::Config,
    client: &Client,
    member: &str,
    endpoint: &HubEndpoint,
    public: bool,
    path: &Path,
) -> anyhow::Result<Trust> {
    let discovery = federation::read_discovery(client).await?;
    let (config, mut warnings) = if public {
        (
            federation::public_issuer_config(member, &discovery),
            Vec::new(),
        )
    } else {
        (
            federation::authentication_config(member, endpoint, &discovery)?,
            federation::warnings(endpoint, &discovery),
        )
    };
    let staged = federation::Staged::write(path, &federation::render(member, &config)?)?;
    if !public {
        warnings.extend(federation::anonymous_warning(hub).await);
    }
    Ok(Trust {
        staged,
        instructions: federation::instructions(member, path, &discovery),
        warnings,
    })
}

/// The MemberCluster the flags describe.
pub fn desired_member(args: &JoinArgs) -> anyhow::Result<MemberCluster> {
    let mut member = MemberCluster::new(
        &args.name,
        MemberClusterSpec {
            display_name: args.display_name.clone(),
            properties: args::properties(&args.properties)?,
            api_server: args.api_server_url.as_ref().map(|server| ApiServer {
                server: server.clone(),
                ca_data: None,
            }),
            heartbeat: None,
        },
    );
    let labels = args::labels(&args.labels)?;
    member.metadata.labels = (!labels.is_empty()).then_some(labels);
    Ok(member)
}

/// Creates the member unless it exists; an existing one is kept as it is, so re-running join
/// only issues a fresh bootstrap credential.
async fn ensure_member(
    members: &Api<MemberCluster>,
    desired: &MemberCluster,
) -> anyhow::Result<()> {
    let name = desired.metadata.name.as_deref().unwrap_or_default();
    let existing = members
        .get_opt(name)
        .await
        .with_context(|| format!("reading MemberCluster {name} on the hub"))?;
    if existing.is_some() {
        eprintln!(
            "MemberCluster {name} exists; keeping it and issuing a fresh bootstrap credential"
        );
        return Ok(());
    }
    members
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(desired),
        )
        .await
        .with_context(|| format!("creating MemberCluster {name}"))?;
    eprintln!("MemberCluster {name} created");
    Ok(())
}

/// Waits until the hub has acted on the member (its `Joined` condition exists).
async fn wait_prepared(
    members: &Api<MemberCluster>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let prepared = poll::until(timeout, || async {
        let member = members
            .get_opt(name)
            .await
            .with_context(|| format!("reading MemberCluster {name}"))?
            .with_context(|| {
                format!("MemberCluster {name} was deleted while waiting for the hub")
            })?;
        match preparation(&member) {
            Preparation::Pending => Ok(None),
            Preparation::Ready => Ok(Some(())),
            Preparation::Refused(message) => {
                anyhow::bail!("the hub cannot join member {name}: {message}")
            }
        }
    })
    .await?;
    prepared.with_context(|| {
        format!(
            "the hub did not prepare member {name} within {} s; check that roster-hub is running",
            timeout.as_secs()
        )
    })
}

/// Mints the bootstrap token: `roster-bootstrap` in the member's namespace, `ttl` seconds.
async fn bootstrap_token(
    client: &Client,
    name: &str,
    ttl: i64,
) -> anyhow::Result<(String, Option<Timestamp>)> {
    let namespace = names::member_namespace(name);
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(ttl),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let context = || {
        format!(
            "requesting a token for service account {} in {namespace}",
            names::BOOTSTRAP_SERVICE_ACCOUNT
        )
    };
    let status = accounts
        .create_token_request(
            names::BOOTSTRAP_SERVICE_ACCOUNT,
            &PostParams::default(),
            &request,
        )
        .await
        .with_context(context)?
        .status
        .with_context(context)?;
    let token = status
        .token
        .filter(|t| !t.is_empty())
        .with_context(|| format!("{}: the hub returned no token", context()))?;
    Ok((token, status.expiration_timestamp.map(|t| t.0)))
}

/// Writes a file only its owner can read: it holds a credential.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn print_next_steps(args: &JoinArgs, expires: Option<Timestamp>) {
    let name = &args.name;
    let file = args
        .file
        .as_ref()
        .map_or_else(|| "<the output>".to_owned(), |p| p.display().to_string());
    match args.output {
        JoinOutput::Manifest => {
            eprintln!("apply this on member {name}: kubectl --context <member> apply -f {file}")
        }
        JoinOutput::Kubeconfig => eprintln!(
            "run the agent with it: roster-agent --member-name {name} --bootstrap-kubeconfig \
             {file} --state-dir <dir>"
        ),
    }
    if let Some(expires) = expires {
        eprintln!(
            "the bootstrap credential expires at {expires}; run 'kubectl roster join {name}' \
             again for a fresh one"
        );
    }
    eprintln!("then watch it join: kubectl roster status");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn join_args(flags: &[&str]) -> JoinArgs {
        let argv = ["kubectl-roster", "join", "m1"]
            .into_iter()
            .chain(flags.iter().copied());
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Join(args) => *args,
            other => panic!("not join: {other:?}"),
        }
    }

    #[test]
    fn the_member_carries_every_flag() {
        let member = desired_member(&join_args(&[
            "--display-name",
            "Member one",
            "--label",
            "env=prod",
            "--property",
            "topology.kubernetes.io/region=eu-west-1",
            "--api-server-url",
            "https://m1.example:6443",
        ]))
        .expect("valid flags");
        assert_eq!(member.metadata.name.as_deref(), Some("m1"));
        let labels = member.metadata.labels.expect("labels");
        assert_eq!(labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(member.spec.display_name.as_deref(), Some("Member one"));
        assert_eq!(member.spec.properties[0].value, "eu-west-1");
        assert_eq!(
            member.spec.api_server.map(|a| a.server).as_deref(),
            Some("https://m1.example:6443")
        );
        let json =
            serde_json::to_value(MemberCluster::new("m1", Default::default())).expect("serializes");
        assert_eq!(
            json["kind"], "MemberCluster",
            "apply needs apiVersion and kind"
        );
    }

    #[test]
    fn no_flags_means_no_labels_and_duplicates_are_refused() {
        assert_eq!(
            desired_member(&join_args(&[])).expect("ok").metadata.labels,
            None
        );
        let err = desired_member(&join_args(&["--label", "a=1", "--label", "a=2"]))
            .expect_err("duplicate");
        assert!(err.to_string().contains("more than once"), "{err}");
    }
}
