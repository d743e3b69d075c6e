//! The test-facing entry point: one shared fleet per test binary and a fresh namespace per test.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client, api::PostParams};
use tokio::sync::OnceCell;

use crate::{binary::workspace_root, fleet::Fleet};

/// Members of the shared fleet.
pub const MEMBERS: [&str; 2] = ["member-1", "member-2"];

/// The fleet every test in this binary shares: a hub (with Roster's CRDs installed) and
/// [`MEMBERS`], started on first use.
/// Its processes die with the test binary.
///
/// Panics, loudly and for every test, when the control planes cannot start: a test that needs
/// them never skips.
pub async fn shared_fleet() -> &'static Fleet {
    static SHARED: OnceCell<Result<Fleet, String>> = OnceCell::const_new();
    let fleet = SHARED
        .get_or_init(|| async {
            let dir = run_dir();
            let start = async {
                let fleet = Fleet::start(&dir, &MEMBERS).await?;
                let hub = fleet.hub.client().await?;
                crate::crds::install(&hub, &roster_api::crd::all()).await?;
                anyhow::Ok(fleet)
            };
            start.await.map_err(|e| format!("{e:#}"))
        })
        .await;
    match fleet {
        Ok(fleet) => fleet,
        Err(e) => panic!(
            "the real control planes could not start, so this test cannot run: {e}\n\
             (tests that need them fail rather than skip; see docs/testing.md)"
        ),
    }
}

/// A folder for this test process's fleet under `target/testenv/`, removing folders left by
/// earlier runs whose process is gone.
fn run_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("testenv");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = name
                .strip_prefix("run-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists());
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    base.join(format!("run-{}", std::process::id()))
}

/// One test's view of the shared fleet: admin clients and a namespace of its own on the hub.
#[derive(Clone)]
pub struct TestEnv {
    /// The shared fleet.
    pub fleet: &'static Fleet,
    /// Admin client of the hub.
    pub hub: Client,
    /// A namespace created for this test on the hub.
    pub namespace: String,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl TestEnv {
    /// Joins the shared fleet (starting it on first use) and creates a fresh hub namespace.
    pub async fn start() -> anyhow::Result<Self> {
        let fleet = shared_fleet().await;
        let hub = fleet.hub.client().await?;
        let namespace = create_namespace(&hub).await?;
        Ok(Self {
            fleet,
            hub,
            namespace,
        })
    }

    /// A new admin client of the member `name`.
    pub async fn member(&self, name: &str) -> anyhow::Result<Client> {
        self.fleet
            .member(name)
            .ok_or_else(|| anyhow::anyhow!("no member {name} in the fleet"))?
            .client()
            .await
    }
}

/// Creates a namespace with a generated `test-` name and returns the name.
pub async fn create_namespace(client: &Client) -> anyhow::Result<String> {
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            generate_name: Some("test-".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    created
        .metadata
        .name
        .ok_or_else(|| anyhow::anyhow!("created namespace has no name"))
}
