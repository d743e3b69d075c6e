//! `kubectl roster unjoin NAME`: deletes the MemberCluster; the hub's garbage collection
//! removes the member's namespace and identities, which revokes the agent's tokens.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, api::DeleteParams};
use roster_api::{MemberCluster, names};

use crate::{
    cli::{HubOptions, UnjoinArgs},
    hub, poll,
};

/// Deletes the MemberCluster and, with `--wait`, waits until it and its namespace are gone.
pub async fn run(hub: &HubOptions, args: UnjoinArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let client = hub::client(hub::config(hub).await?)?;
    let members: Api<MemberCluster> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client);
    let namespace = names::member_namespace(name);

    match members.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => {
            anyhow::bail!("member cluster {name} is not on this hub; nothing to remove")
        }
        Err(e) => return Err(e).with_context(|| format!("deleting MemberCluster {name}")),
    }
    println!("MemberCluster {name} deleted");
    if !args.wait {
        eprintln!(
            "the hub removes namespace {namespace} and the agent's identities in the background"
        );
        print_member_cleanup(name);
        return Ok(());
    }

    let gone = poll::until(Duration::from_secs(args.timeout), || {
        let (members, namespaces, namespace) = (members.clone(), namespaces.clone(), &namespace);
        async move {
            let member = members.get_opt(name).await?;
            let ns = namespaces.get_opt(namespace).await?;
            Ok((member.is_none() && ns.is_none()).then_some(()))
        }
    })
    .await
    .with_context(|| format!("waiting for MemberCluster {name} and namespace {namespace} to go"))?;
    if gone.is_none() {
        anyhow::bail!(
            "MemberCluster {name} or namespace {namespace} is still on the hub after {} s; check \
             that roster-hub is running and the garbage collector is working",
            args.timeout
        );
    }
    println!(
        "namespace {namespace} removed, with the agent's identities: its tokens no longer work"
    );
    print_member_cleanup(name);
    Ok(())
}

/// Tells the admin how to remove the agent from the member itself, which the hub cannot reach.
fn print_member_cleanup(name: &str) {
    eprintln!(
        "to remove the agent from member {name}: kubectl --context <member> delete namespace {} \
         && kubectl --context <member> delete clusterrole,clusterrolebinding {}",
        names::AGENT_NAMESPACE,
        crate::manifest::AGENT
    );
}
