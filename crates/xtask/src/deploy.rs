//! `deploy/agent/`, generated from the manifest `kubectl roster join` writes
//! (`kubectl_roster::manifest`), so the agent's RBAC, Deployment and security settings have one
//! source: the kustomize base is that manifest minus what differs per member.

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

/// The files of `deploy/agent/` as (file name, text).
pub fn agent_files() -> anyhow::Result<Vec<(String, String)>> {
    let image = default_agent_image()?;
    let install = AgentInstall {
        member: "",
        image: &image,
        bootstrap_kubeconfig: "",
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
