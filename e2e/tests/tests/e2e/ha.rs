//! Two roster-hub replicas on a private fleet: exactly one writes (the Lease holder), the other
//! takes over when the leader stops, and a replica that loses the Lease stops writing. Write
//! counts come from each replica's own `/metrics`.

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::{api::coordination::v1::Lease, apimachinery::pkg::apis::meta::v1::MicroTime};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use roster_api::{MemberCluster, MemberClusterSpec};
use roster_testenv::{Fleet, admin, crds, metrics, ports, process::Process, roster, wait};
use serde_json::json;

use super::support::INVENTORY;

const MEMBER: &str = "ha-1";
const LEASE_SECONDS: u64 = 4;
const TIMEOUT: Duration = Duration::from_secs(60);
const LEASE_NAMESPACE: &str = "roster-system";
const LEASE: &str = "roster-hub";

struct Replica {
    name: &'static str,
    admin: SocketAddr,
    process: Process,
}

fn replica(fleet: &Fleet, dir: &std::path::Path, name: &'static str) -> anyhow::Result<Replica> {
    let admin = ports::free_address()?;
    let process = roster::spawn_hub(
        fleet,
        admin,
        &[
            format!("--identity={name}"),
            format!("--lease-duration={LEASE_SECONDS}"),
        ],
        &dir.join(format!("roster-hub-{name}.log")),
    )?;
    Ok(Replica {
        name,
        admin,
        process,
    })
}

/// The sum of every sample of `metric` (all label sets) in a replica's `/metrics`.
async fn metric(replica: &Replica, metric: &str) -> anyhow::Result<f64> {
    let body = admin::get(replica.admin, "/metrics", Duration::from_secs(10))
        .await?
        .filter(|a| a.status == 200)
        .ok_or_else(|| anyhow::anyhow!("{} serves no /metrics", replica.name))?
        .body;
    Ok(metrics::sum(&body, metric, &[]))
}

/// Profile and MemberCluster status writes a replica has made.
async fn writes(replica: &Replica) -> anyhow::Result<f64> {
    Ok(metric(replica, "roster_profile_writes_total").await?
        + metric(replica, "roster_member_status_writes_total").await?)
}

async fn holder(hub: &Client) -> anyhow::Result<Option<String>> {
    Ok(Api::<Lease>::namespaced(hub.clone(), LEASE_NAMESPACE)
        .get_opt(LEASE)
        .await?
        .and_then(|l| l.spec?.holder_identity)
        .filter(|h| !h.is_empty()))
}

async fn set_display_name(hub: &Client, name: &str) -> anyhow::Result<()> {
    Api::<MemberCluster>::all(hub.clone())
        .patch(
            MEMBER,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"displayName": name}})),
        )
        .await?;
    Ok(())
}

async fn wait_display_name(hub: &Client, name: &str) -> anyhow::Result<()> {
    let profiles: Api<ClusterProfile> = Api::namespaced(hub.clone(), INVENTORY);
    wait::until(&format!("the profile to say {name:?}"), TIMEOUT, || async {
        let p = profiles.get_opt(MEMBER).await?;
        Ok(p.filter(|p| p.spec.display_name.as_deref() == Some(name))
            .map(|_| ()))
    })
    .await
}

#[tokio::test]
async fn two_replicas_one_writer_and_failover() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::temp_dir().join(format!("roster-ha-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fleet = Fleet::start(&dir, &[]).await?;
    let hub = fleet.hub.client().await?;
    crds::install(&hub, &roster_api::crd::all()).await?;
    let mut replicas = vec![
        replica(&fleet, &dir, "hub-a")?,
        replica(&fleet, &dir, "hub-b")?,
    ];

    let leader = wait::until("a leader", TIMEOUT, || async { holder(&hub).await }).await?;
    let spec = MemberClusterSpec {
        display_name: Some("first".into()),
        ..Default::default()
    };
    Api::<MemberCluster>::all(hub.clone())
        .create(&PostParams::default(), &MemberCluster::new(MEMBER, spec))
        .await?;
    wait_display_name(&hub, "first").await?;
    set_display_name(&hub, "second").await?;
    wait_display_name(&hub, "second").await?;

    // One writer: the Lease holder wrote, the other replica wrote nothing.
    let (lead, follow) = if replicas[0].name == leader {
        (0, 1)
    } else {
        (1, 0)
    };
    assert!(
        writes(&replicas[lead]).await? > 0.0,
        "the leader wrote nothing"
    );
    assert_eq!(writes(&replicas[follow]).await?, 0.0, "the follower wrote");

    // Stop the leader: the other takes over and the profile keeps following the MemberCluster.
    replicas[lead].process.stop();
    let stopped = Instant::now();
    let follower_name = replicas[follow].name.to_owned();
    wait::until("the follower to take the Lease", TIMEOUT, || async {
        Ok((holder(&hub).await?.as_deref() == Some(follower_name.as_str())).then_some(()))
    })
    .await?;
    eprintln!(
        "measured: new leader {:?} after the old one stopped (lease {LEASE_SECONDS} s)",
        stopped.elapsed()
    );
    set_display_name(&hub, "third").await?;
    wait_display_name(&hub, "third").await?;
    assert!(
        writes(&replicas[follow]).await? > 0.0,
        "the new leader wrote nothing"
    );

    // Take the Lease away (another holder renewing it): the replica stops writing at once.
    let leases: Api<Lease> = Api::namespaced(hub.clone(), LEASE_NAMESPACE);
    let intruder = tokio::spawn({
        let leases = leases.clone();
        async move {
            loop {
                let patch = json!({"spec": {
                    "holderIdentity": "intruder",
                    "leaseDurationSeconds": LEASE_SECONDS,
                    "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now()),
                }});
                let _ = leases
                    .patch(LEASE, &PatchParams::default(), &Patch::Merge(patch))
                    .await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let demoted = &replicas[follow];
    let log = dir.join(format!("roster-hub-{}.log", demoted.name));
    wait::until("the replica to step down", TIMEOUT, || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Ok(text.contains("no longer leading").then_some(()))
    })
    .await?;
    let before = writes(demoted).await?;
    set_display_name(&hub, "nobody writes this").await?;
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS)).await;
    assert_eq!(
        writes(demoted).await?,
        before,
        "a replica without the Lease wrote"
    );
    let profile = Api::<ClusterProfile>::namespaced(hub.clone(), INVENTORY)
        .get(MEMBER)
        .await?;
    assert_eq!(profile.spec.display_name.as_deref(), Some("third"));

    // The intruder leaves: the replica leads again and catches up by re-reconciling everything.
    intruder.abort();
    wait_display_name(&hub, "nobody writes this").await?;
    assert!(writes(demoted).await? > before);

    // Graceful shutdown: SIGTERM makes the leader stop its loops, release the Lease and exit 0.
    let pid = replicas[follow].process.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()?;
    assert!(killed.success());
    let terminated = Instant::now();
    let status = loop {
        if let Some(status) = replicas[follow].process.exit_status() {
            break status;
        }
        assert!(terminated.elapsed() < TIMEOUT, "roster-hub ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "measured: roster-hub exited {:?} after SIGTERM",
        terminated.elapsed()
    );
    assert!(
        status.success(),
        "roster-hub exited with {status} on SIGTERM"
    );
    assert_eq!(holder(&hub).await?, None, "the Lease was not released");
    drop(replicas);
    drop(fleet);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
