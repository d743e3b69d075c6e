//! The agent's hub identity outlives its process: it keeps its token in a Secret on its member
//! and removes the bootstrap credential from the bootstrap Secret once it has. A replacement
//! agent that starts with an empty state folder and the (now token-less) bootstrap kubeconfig —
//! what a new pod mounts after a rolling upgrade, drain or eviction — rejoins with no human
//! step. A private fleet (one member, its own roster-hub): an agent sweeps its member of every
//! grant it does not know, so it must not share a member cluster with the shared agents.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, Secret},
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use roster_api::{MemberCluster, names};
use roster_testenv::{
    Fleet, kubeconfig, ports::free_address, process::Process, roster, secret, wait,
};
use serde_json::json;

const MEMBER: &str = "kept";
/// The member-side namespace of the agent's Secrets in this test.
const AGENT_NS: &str = "roster-agent-test";
const TIMEOUT: Duration = Duration::from_secs(90);

fn agent(fleet: &Fleet, dir: &Path, name: &str, bootstrap: &Path) -> anyhow::Result<Process> {
    roster::spawn_agent(
        &fleet.members[0],
        bootstrap,
        // Each agent its own, empty state folder: a new pod's emptyDir.
        &dir.join(format!("{name}-state")),
        free_address()?,
        &[
            format!("--credential-secret={AGENT_NS}/hub-credential"),
            format!("--bootstrap-secret={AGENT_NS}/bootstrap"),
            "--report-interval=2".into(),
        ],
        &dir.join(format!("{name}.log")),
    )
}

/// The agent's Lease renewed after `since` (hub clock-free: compared with the renewTime the
/// agent wrote, from the same machine).
async fn renewed_after(
    leases: &Api<Lease>,
    since: k8s_openapi::jiff::Timestamp,
) -> anyhow::Result<()> {
    wait::until("the agent renews its Lease", TIMEOUT, || async {
        let lease = leases.get(names::AGENT_LEASE).await?;
        let renew = lease.spec.and_then(|s| s.renew_time).map(|t| t.0);
        Ok(renew.filter(|r| *r > since).map(|_| ()))
    })
    .await
}

#[tokio::test]
async fn a_replacement_agent_rejoins_from_the_identity_kept_on_its_member() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("roster-kept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let fleet = Fleet::start(&dir, &[MEMBER]).await?;
    let (hub, _roster_hub) =
        super::support::roster_on_hub(&fleet, &dir, &["--leader-elect=false".into()]).await?;

    // Join as an admin does, and put the bootstrap kubeconfig in a Secret on the member, as
    // the join manifest does.
    let bootstrap_file = dir.join("bootstrap.kubeconfig");
    super::support::join_kubeconfig(&fleet, MEMBER, &bootstrap_file).await?;
    let bootstrap = std::fs::read_to_string(&bootstrap_file)?;
    let bootstrap_token = kubeconfig::bearer_token(&bootstrap).expect("the join's bootstrap token");
    let member = fleet.members[0].client().await?;
    let mut ns = Namespace::default();
    ns.metadata.name = Some(AGENT_NS.into());
    Api::<Namespace>::all(member.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(member.clone(), AGENT_NS);
    secrets
        .patch(
            "bootstrap",
            &PatchParams::apply("roster-e2e"),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap"},
                "stringData": {"kubeconfig": bootstrap},
            })),
        )
        .await?;

    // The first agent joins, keeps its token on the member and discards the bootstrap one.
    let mut first = agent(&fleet, &dir, "first", &bootstrap_file)?;
    let members: Api<MemberCluster> = Api::all(hub.clone());
    let joined = || async {
        wait::until(&format!("{MEMBER} Joined and healthy"), TIMEOUT, || async {
            let m = members.get(MEMBER).await?;
            Ok(m.joined_and_healthy().then_some(()))
        })
        .await
    };
    joined().await?;
    let cleared = wait::until("the bootstrap credential removed", TIMEOUT, || async {
        let kept = secrets.get_opt("hub-credential").await?;
        let boot = secrets.get("bootstrap").await?;
        let kubeconfig = secret::text(&boot, "kubeconfig");
        let kept_token = kept.map(|s| secret::text(&s, "token")).unwrap_or_default();
        Ok(
            (!kept_token.is_empty() && kubeconfig::bearer_token(&kubeconfig).is_none())
                .then_some((kubeconfig, kept_token)),
        )
    })
    .await?;
    let (cleared_kubeconfig, kept_token) = cleared;
    assert!(
        !cleared_kubeconfig.contains(&bootstrap_token),
        "the bootstrap token is gone"
    );
    assert_ne!(
        kept_token, bootstrap_token,
        "what is kept is the agent's own token"
    );
    first.stop();

    // The replacement mounts what the Secret holds now: no credential in it, an empty state
    // folder. It finds its identity on the member and carries on.
    let replacement_bootstrap = dir.join("replacement-bootstrap.kubeconfig");
    std::fs::write(&replacement_bootstrap, &cleared_kubeconfig)?;
    let since = k8s_openapi::jiff::Timestamp::now();
    let started = Instant::now();
    let _second = agent(&fleet, &dir, "second", &replacement_bootstrap)?;
    let leases: Api<Lease> = Api::namespaced(hub.clone(), &names::member_namespace(MEMBER));
    renewed_after(&leases, since).await.map_err(|e| {
        e.context(roster_testenv::process::log_tail(
            &dir.join("second.log"),
            20,
        ))
    })?;
    joined().await?;
    eprintln!(
        "measured: replacement agent renewed its Lease {:?} after start, from the token kept on the member",
        started.elapsed()
    );
    let log = std::fs::read_to_string(dir.join("second.log"))?;
    assert!(log.contains("kept agent token"), "{log}");
    Ok(())
}
