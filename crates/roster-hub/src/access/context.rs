//! What every remote-access reconcile shares: the client, the caches (read through
//! [`plan::View`]), the metrics and the Event recorder.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{
    Client,
    runtime::reflector::{ObjectRef, Store},
};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccountStatus,
};

use super::plan;
use crate::{clock::Clock, metrics::Metrics, write_cache::WriteCache};

/// What the remote access controller watches besides RemoteServiceAccounts.
#[derive(Debug, Clone)]
pub struct Stores {
    /// MemberClusters: the hub's shared cache (see [`crate::shared_cache`]).
    pub members: Store<MemberCluster>,
    /// Grants in every member namespace.
    pub grants: Store<RemoteAccountGrant>,
    /// Roster's Secrets: grant deliveries and consumer token Secrets.
    pub secrets: Store<Secret>,
    /// RemoteAccessPolicies (see [`super::policy`]).
    pub policies: Store<RemoteAccessPolicy>,
    /// Hub namespaces, for the labels policies select consumers by.
    pub namespaces: Store<Namespace>,
    /// Roster's ConfigMaps: the consumers' federated-access kubeconfigs.
    pub config_maps: Store<ConfigMap>,
}

/// Shared state of the remote access controller.
pub struct Context {
    /// Client of the hub cluster.
    pub client: Client,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The hub's metrics.
    pub metrics: Arc<Metrics>,
    /// Watched objects.
    pub stores: Stores,
    /// Publishes Events on condition transitions.
    pub recorder: crate::events::Recorder,
    /// RemoteServiceAccount statuses written that the watch has not shown yet, by
    /// `namespace/name`.
    pub status_writes: WriteCache<RemoteServiceAccountStatus>,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("access::Context").finish_non_exhaustive()
    }
}

impl Context {
    /// Roster's ConfigMap `namespace/name`.
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.stores
            .config_maps
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// A context over `stores`, whose members are ready when `members_ready` resolves; one
    /// task waits for the other stores' first lists (see
    /// `crate::member::Context::caches_ready` for why only one). The shared member store has
    /// other readers, so it is never waited on with `Store::wait_until_ready`.
    pub fn new(
        client: Client,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        stores: Stores,
        members_ready: impl Future<Output = bool> + Send + 'static,
        instance: Option<&str>,
    ) -> Self {
        let (tx, ready) = tokio::sync::watch::channel(false);
        let waiting = stores.clone();
        tokio::spawn(async move {
            let _ = members_ready.await;
            let _ = waiting.grants.wait_until_ready().await;
            let _ = waiting.secrets.wait_until_ready().await;
            let _ = waiting.policies.wait_until_ready().await;
            let _ = waiting.namespaces.wait_until_ready().await;
            let _ = waiting.config_maps.wait_until_ready().await;
            let _ = tx.send(true);
        });
        Self {
            recorder: crate::events::recorder(&client, instance),
            client,
            clock,
            metrics,
            stores,
            status_writes: WriteCache::default(),
            ready,
        }
    }

    /// Waits until every cache has its first list.
    pub async fn caches_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }
}

impl plan::View for Context {
    fn members(&self) -> Vec<Arc<MemberCluster>> {
        self.stores.members.state()
    }

    fn grant(&self, namespace: &str, name: &str) -> Option<Arc<RemoteAccountGrant>> {
        self.stores
            .grants
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn grants_of(&self, namespace: &str, name: &str) -> Vec<Arc<RemoteAccountGrant>> {
        self.stores
            .grants
            .state()
            .into_iter()
            .filter(|g| {
                let owner = &g.spec.remote_service_account;
                owner.namespace == namespace && owner.name == name
            })
            .collect()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.stores
            .secrets
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>> {
        self.stores.policies.state()
    }

    fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        super::policy::namespace_labels(&self.stores.namespaces, namespace)
    }

    fn consumer_secrets(&self, namespace: &str, name: &str) -> Vec<Arc<Secret>> {
        self.stores
            .secrets
            .state()
            .into_iter()
            .filter(|s| plan::is_consumer_object_of(s.as_ref(), namespace, name))
            .collect()
    }

    fn consumer_config_maps(&self, namespace: &str, name: &str) -> Vec<Arc<ConfigMap>> {
        self.stores
            .config_maps
            .state()
            .into_iter()
            .filter(|c| plan::is_consumer_object_of(c.as_ref(), namespace, name))
            .collect()
    }
}

impl crate::controller::Shared for Context {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
