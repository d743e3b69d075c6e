//! `kubectl apply -k deploy/hub` on a real node: two roster-hub pods Running and Ready, one
//! leader, the pod webhook answering through its Service; then pods reach the other cluster's
//! API server across the fabric.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use roster_testenv::binary;

use super::{probe, support, webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_hub_runs_as_pods_on_a_real_node() -> anyhow::Result<()> {
    let dir = support::run_dir()?;
    let fleet = support::start_fleet(&dir).await?;
    let hub = fleet.cluster(support::HUB).expect("hub");
    let member = fleet.cluster(support::MEMBER).expect("member");

    let applied = Instant::now();
    let base = binary::workspace_root().join("deploy/hub");
    support::kubectl(hub, &["apply", "-k", &base.display().to_string()])?;
    let pods = support::wait_pods_ready(
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

    fleet.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
