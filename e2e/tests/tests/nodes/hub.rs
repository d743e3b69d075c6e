//! `kubectl apply -k deploy/hub` on a real node: two roster-hub pods Running and Ready, one
//! leader, the pod webhook answering through its Service; then pods reach the other cluster's
//! API server across the fabric. On the same node clusters, the journeys only pods show: a
//! member joined from the join manifest with the agent as a pod, the agent pod replaced, leader
//! failover, a consumer pod using roster-credential, and the uninstall order.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use roster_testenv::{binary, node::pods};

use super::{agent, consumer, failover, federated, probe, support, uninstall, webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_hub_runs_as_pods_on_a_real_node() -> anyhow::Result<()> {
    let test_started = Instant::now();
    let dir = support::run_dir()?;
    let fleet = support::start_fleet(&dir).await?;
    let hub = fleet.cluster(support::HUB).expect("hub");
    let member = fleet.cluster(support::MEMBER).expect("member");

    let applied = Instant::now();
    let base = binary::workspace_root().join("deploy/hub");
    support::kubectl(hub, &["apply", "-k", &base.display().to_string()])?;
    let pods = pods::wait_ready(
        hub,
        "roster-system",
        "app.kubernetes.io/name=roster-hub",
        2,
        Duration::from_secs(240),
    )
    .await?;
    eprintln!(
        "kubectl apply -k deploy/hub -> 2 pods Ready in {:?}",
        applied.elapsed()
    );

    let names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let leases: Api<Lease> = Api::namespaced(hub.client().await?, "roster-system");
    let leader =
        roster_testenv::wait::until("a roster-hub leader", Duration::from_secs(60), || {
            let leases = leases.clone();
            async move {
                let lease = leases.get_opt("roster-hub").await?;
                Ok(lease
                    .and_then(|l| l.spec?.holder_identity)
                    .filter(|h| !h.is_empty()))
            }
        })
        .await?;
    assert!(
        names.contains(&leader),
        "the leader {leader} is one of the pods {names:?}"
    );
    support::print_memory(&fleet);
    webhook::refuses_an_invalid_annotation(hub).await?;

    // Across clusters: a pod on the member reaches the hub's API server, and one on the hub
    // reaches the member's.
    probe::reaches(member, hub).await?;
    probe::reaches(hub, member).await?;

    // The journeys only pods show, on the same node clusters.
    let joined = agent::joins_from_the_manifest(hub, member, &dir).await?;
    agent::survives_replacement(hub, member, &dir).await?;
    failover::the_other_replica_takes_over(hub, member.name()).await?;
    consumer::reaches_the_member(hub, member.name(), &dir).await?;
    federated::a_pod_reaches_the_member_as_its_hub_identity(hub, member.name(), &dir).await?;
    eprintln!(
        "roster-hub pods' memory (cgroup): {}; roster-agent pod's: {}",
        support::pods_memory(hub, "roster-system", "app.kubernetes.io/name=roster-hub")
            .await?
            .join(", "),
        support::pods_memory(member, "roster-system", agent::AGENT_SELECTOR)
            .await?
            .join(", ")
    );
    support::print_memory(&fleet);
    uninstall::leaves_nothing_behind(hub, member, &joined, &dir).await?;

    fleet.stop()?;
    eprintln!("the real-node test took {:?}", test_started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
