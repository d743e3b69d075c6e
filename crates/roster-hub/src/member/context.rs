//! What every member reconcile shares: the client, settings, caches, clock and what the hub
//! remembers per member (last writes, write budgets, preparations, heartbeats, failures).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use k8s_openapi::jiff::Timestamp;
use kube::{Client, runtime::reflector::Store};
use roster_api::{Inventory, MemberClusterStatus, MemberReport};

use super::{
    budget::WriteBudget, failures::Failures, heartbeats::Heartbeats, observed_profiles,
    prepared::Prepared,
};
use crate::{clock::Clock, metrics::Metrics, write_cache::WriteCache};

/// Most hub-side object applies in flight at once, across all members being prepared.
pub const PREPARE_REQUESTS: usize = 64;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespace the ClusterProfiles are published in.
    pub inventory_namespace: String,
    /// The `reportingInstance` of this replica's Events: its pod's name, when known.
    pub instance: Option<String>,
}

/// The stores the member controller reads besides MemberClusters.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Agent reports.
    pub reports: Store<MemberReport>,
    /// Inventories.
    pub inventories: Store<Inventory>,
}

impl Stores {
    /// A channel that turns true once every store has its first list; one spawned task is the
    /// only waiter on the stores.
    pub fn watch_ready(&self) -> tokio::sync::watch::Receiver<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stores = self.clone();
        tokio::spawn(async move {
            let _ = stores.reports.wait_until_ready().await;
            let _ = stores.inventories.wait_until_ready().await;
            let _ = tx.send(true);
        });
        rx
    }
}

/// Shared state of the hub's controllers.
pub struct Context {
    /// Client of the hub cluster.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The hub's metrics.
    pub metrics: Arc<Metrics>,
    /// Publishes Events on condition transitions.
    pub recorder: crate::events::Recorder,
    /// Watched objects.
    pub stores: Stores,
    /// Last MemberCluster status written, per member.
    pub member_writes: WriteCache<MemberClusterStatus>,
    /// Digests of the last ClusterProfile content written, per profile (`namespace/member`).
    pub profile_writes: WriteCache<observed_profiles::Content>,
    /// What the hub saw of the published ClusterProfiles.
    pub profiles: Arc<observed_profiles::Profiles>,
    /// Permits for hub-side object applies (see [`PREPARE_REQUESTS`]).
    pub prepare_requests: tokio::sync::Semaphore,
    /// Members whose hub-side objects are in place.
    pub prepared: Arc<Prepared>,
    /// The agents' heartbeats, fed by the Lease watch.
    pub heartbeats: Arc<Heartbeats>,
    /// Failed writes last reported per member.
    pub failures: Failures,
    budgets: Mutex<HashMap<String, WriteBudget>>,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context over `stores`.
    pub fn new(
        client: Client,
        settings: Settings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        stores: Stores,
        heartbeats: Arc<Heartbeats>,
        profiles: Arc<observed_profiles::Profiles>,
    ) -> Self {
        Self {
            recorder: crate::events::recorder(&client, settings.instance.as_deref()),
            client,
            settings,
            clock,
            metrics,
            stores: stores.clone(),
            member_writes: WriteCache::default(),
            profile_writes: WriteCache::default(),
            prepare_requests: tokio::sync::Semaphore::new(PREPARE_REQUESTS),
            prepared: Arc::default(),
            heartbeats,
            failures: Default::default(),
            profiles,
            budgets: Mutex::new(HashMap::new()),
            ready: stores.watch_ready(),
        }
    }

    /// Waits until every store has its first list, so no decision is made on an empty cache.
    ///
    /// Only one task waits on the stores themselves (see [`Stores::watch_ready`]): kube's
    /// `Store::wait_until_ready` can lose the wake-up of concurrent waiters, which left a
    /// reconcile that started with the hub waiting forever. Reconciles wait on a watch channel.
    pub async fn caches_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
        self.heartbeats.wait_listed().await;
        self.profiles.wait_listed().await;
    }

    /// Forgets what the hub remembers (last writes, budgets, heartbeat sightings) about
    /// members not in `live`, so memory follows the fleet as members leave.
    pub fn forget_except(&self, live: &std::collections::HashSet<String>) {
        let keep = |name: &str| live.contains(name);
        let keep_profile = |key: &str| keep(member_of_key(key));
        self.member_writes.retain(keep);
        self.profile_writes.retain(keep_profile);
        self.prepared.retain(keep);
        self.failures.retain(keep);
        self.budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| keep_profile(k));
        self.heartbeats.retain(keep);
    }

    /// Takes one write from the budget of the profile `namespace/member`, or says how long to
    /// wait.
    pub fn take_write(&self, profile: &str, now: Timestamp) -> Result<(), std::time::Duration> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets
            .entry(profile.to_owned())
            .or_insert_with(|| WriteBudget::new(now))
            .try_take(now)
    }
}

/// The member a profile key (`namespace/member`) belongs to.
pub fn member_of_key(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(_, member)| member)
}
