//! The generated parts of `deploy/`: `deploy/agent/`, from the manifest `kubectl roster join`
//! writes (`kubectl_roster::manifest`), so the agent's RBAC, Deployment and security settings
//! have one source: the kustomize base is that manifest minus what differs per member; and
//! `deploy/hub/webhook.yaml`, the MutatingWebhookConfiguration roster-hub itself applies and
//! keeps (`roster_api::webhook`), so a re-apply of the base and the hub agree.

use anyhow::Context;
use clap::CommandFactory;
use kubectl_roster::manifest::{AgentInstall, BOOTSTRAP_SECRET};
use roster_api::names;
use serde_json::{Value, json};

/// Header of every generated file in `deploy/agent/`.
const HEADER: &str =
    "# Generated from crates/kubectl-roster/src/manifest.rs by `make crds`; do not edit.\n";

/// Key of the bootstrap Secret holding the member's name (beside the kubeconfig).
pub const MEMBER_NAME_KEY: &str = "member-name";

/// The kustomization of the agent base, with how to use it.
const KUSTOMIZATION: &str = "\
# roster-agent for one member cluster: what `kubectl roster join` writes, without the bootstrap
# Secret and the member's name. An overlay per member adds them in one Secret (see README.md,
# \"Installing on a real cluster\"):
#
#   apiVersion: kustomize.config.k8s.io/v1beta1
#   kind: Kustomization
#   resources:
#   - ../../deploy/agent            # or a remote URL with ?ref=<tag>
#   labels:
#   - pairs: {roster.dev/member: member-1}
#   secretGenerator:
#   - name: roster-bootstrap
#     namespace: roster-system
#     files:                        # kubectl roster join member-1 --output kubeconfig --file ...
#     - kubeconfig=member-1-bootstrap.kubeconfig
#     literals:
#     - member-name=member-1
#   images:
#   - {name: ghcr.io/roster-dev/roster-agent, newName: registry.example.com/roster-agent, newTag: v1}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- agent.yaml
";

/// Header of `deploy/hub/webhook.yaml`: why the configuration is what it is.
const WEBHOOK_HEADER: &str = "\
# Generated from crates/roster-api/src/webhook.rs by `make crds`; do not edit.
#
# The pod automount webhook (product flow 5). Decisions:
# - Only pods carrying the annotation roster.dev/remote-service-accounts are sent to the hub
#   (matchConditions), so no other pod's creation depends on the hub being up.
# - failurePolicy Fail: a pod that asks for remote credentials and starts without them would
#   run with none (or fall back to another identity); refusing it with a clear error is better.
#   Two replicas, a PodDisruptionBudget and maxUnavailable 0 keep the webhook served.
# - kube-system and roster-system are never sent (the hub's own pods must start without it).
# - reinvocationPolicy IfNeeded: containers another webhook adds after this one get the
#   mounts too (\"every container, init containers included\").
# - No caBundle: the hub generates its CA and fills it in; leaving the field out, rather than
#   empty, means a re-apply of this base does not reset it.
# - roster-hub applies this same object itself (--webhook-configuration, --webhook-service) and
#   puts it back within seconds when it is deleted or changed; foreign labels and annotations
#   stay.
";

/// The generated part of `deploy/hub/` as (file name, text): the webhook configuration.
pub fn hub_files() -> anyhow::Result<Vec<(String, String)>> {
    let endpoint = roster_api::webhook::Endpoint::Service {
        namespace: names::AGENT_NAMESPACE.to_owned(),
        name: roster_api::webhook::CONFIGURATION.to_owned(),
        port: roster_api::webhook::DEFAULT_SERVICE_PORT,
    };
    let configuration = roster_api::webhook::configuration(
        roster_api::webhook::CONFIGURATION,
        &endpoint,
        names::AGENT_NAMESPACE,
        None,
    );
    let yaml =
        serde_saphyr::to_string(&configuration).context("serializing the webhook configuration")?;
    Ok(vec![(
        "webhook.yaml".to_owned(),
        format!("{WEBHOOK_HEADER}{yaml}"),
    )])
}

/// The files of `deploy/agent/` as (file name, text).
pub fn agent_files() -> anyhow::Result<Vec<(String, String)>> {
    let image = default_agent_image()?;
    let install = AgentInstall {
        member: "",
        image: &image,
        bootstrap_kubeconfig: "",
        api_server_url: None,
        grantable_cluster_roles: roster_api::ceiling::DEFAULT_GRANTABLE_CLUSTER_ROLES,
        allow_rules: false,
    };
    let mut docs = Vec::new();
    for object in install.objects() {
        let mut doc = serde_json::to_value(&object).context("serializing the agent manifest")?;
        // The bootstrap Secret is per member: the overlay generates it.
        if doc["kind"] == "Secret" {
            continue;
        }
        drop_member_label(&mut doc["metadata"]);
        if doc["kind"] == "Deployment" {
            member_name_from_secret(&mut doc)?;
        }
        docs.push(doc);
    }
    let yaml = serde_saphyr::to_string_multiple(&docs).context("serializing the agent base")?;
    Ok(vec![
        ("agent.yaml".to_owned(), format!("{HEADER}{yaml}")),
        (
            crate::KUSTOMIZATION.to_owned(),
            format!("{HEADER}{KUSTOMIZATION}"),
        ),
    ])
}

/// The image `kubectl roster join` writes unless told otherwise (its `--agent-image` default,
/// read from the command line's definition so the environment cannot change it).
fn default_agent_image() -> anyhow::Result<String> {
    let command = kubectl_roster::cli::Cli::command();
    let join = command
        .find_subcommand("join")
        .context("kubectl roster has no join subcommand")?;
    let arg = join
        .get_arguments()
        .find(|a| a.get_id() == "agent_image")
        .context("kubectl roster join has no --agent-image")?;
    let default = arg
        .get_default_values()
        .first()
        .and_then(|v| v.to_str())
        .context("--agent-image has no default")?;
    Ok(default.to_owned())
}

fn drop_member_label(metadata: &mut Value) {
    if let Some(labels) = metadata["labels"].as_object_mut() {
        labels.remove(names::LABEL_MEMBER);
    }
}

/// The Deployment takes the member's name from the bootstrap Secret instead of its arguments.
fn member_name_from_secret(deployment: &mut Value) -> anyhow::Result<()> {
    let template = &mut deployment["spec"]["template"];
    drop_member_label(&mut template["metadata"]);
    let container = template["spec"]["containers"]
        .get_mut(0)
        .context("the agent Deployment has no container")?;
    let args = container["args"]
        .as_array_mut()
        .context("the agent container has no args")?;
    let at = args
        .iter()
        .position(|a| a == "--member-name")
        .context("the agent container has no --member-name")?;
    args.drain(at..=at + 1);
    let env = json!({
        "name": "ROSTER_MEMBER_NAME",
        "valueFrom": {"secretKeyRef": {"name": BOOTSTRAP_SECRET, "key": MEMBER_NAME_KEY}},
    });
    match container["env"].as_array_mut() {
        Some(list) => list.push(env),
        None => container["env"] = json!([env]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn agent() -> Vec<Value> {
        let files = agent_files().unwrap();
        serde_saphyr::from_multiple(&files[0].1).unwrap()
    }

    #[test]
    fn the_hub_webhook_is_the_configuration_roster_hub_applies_by_default() {
        let files = hub_files().unwrap();
        let text = &files[0].1;
        assert!(text.starts_with("# Generated from crates/roster-api/src/webhook.rs"));
        let doc: Value = serde_saphyr::from_str(text).unwrap();
        let cli = roster_hub_defaults();
        let expected = roster_api::webhook::configuration(
            roster_api::webhook::CONFIGURATION,
            &cli,
            names::AGENT_NAMESPACE,
            None,
        );
        assert_eq!(doc, serde_json::to_value(&expected).unwrap());
        assert!(doc["webhooks"][0]["clientConfig"].get("caBundle").is_none());
    }

    /// The Service deploy/hub runs roster-hub behind (its `--webhook-service` default).
    fn roster_hub_defaults() -> roster_api::webhook::Endpoint {
        "roster-system/roster-hub:443".parse().unwrap()
    }

    #[test]
    fn the_base_is_the_join_manifest_without_the_per_member_parts() {
        let docs = agent();
        let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment"
            ]
        );
        let text = agent_files().unwrap()[0].1.clone();
        assert!(!text.contains(names::LABEL_MEMBER), "{text}");
        assert!(!text.contains("--member-name"), "{text}");
        let container = &docs[4]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["env"][0]["valueFrom"]["secretKeyRef"],
            json!({"name": "roster-bootstrap", "key": "member-name"})
        );
        assert!(
            container["image"]
                .as_str()
                .unwrap()
                .starts_with("ghcr.io/roster-dev/roster-agent:")
        );
    }
}
