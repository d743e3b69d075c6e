//! The remote access controller: one reconcile per RemoteServiceAccount hands the work to the
//! target members' agents (a RemoteAccountGrant in each member's namespace), copies the tokens
//! they deliver into `<rsa>-<cluster>` Secrets in the consumer's namespace, reports per-cluster
//! status, and revokes (deletes the grants, whose agents delete the service accounts) when a
//! cluster leaves the selection or the RemoteServiceAccount is deleted.

pub mod desired;
pub mod policy;
pub mod status;
pub mod targets;
pub mod writes;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::core::v1::{Namespace, Secret},
    jiff::Timestamp,
};
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        finalizer::{self, Event},
        reflector::{ObjectRef, Store},
    },
};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccount,
    names::{self, token_secret},
};
use tracing::{info, instrument, warn};

use crate::{
    backoff::WatchBackoff,
    clock::Clock,
    error::Error,
    metrics::{Metrics, REMOTE_ACCESS_CONTROLLER},
    shared::SharedCache,
    watch,
};
use roster_runtime::admin::Condition;

/// Without events, each RemoteServiceAccount is looked at again this often.
const RESYNC: Duration = Duration::from_secs(300);

/// What the remote access controller watches besides RemoteServiceAccounts.
#[derive(Debug, Clone)]
pub struct Stores {
    /// MemberClusters: the hub's shared cache (see [`crate::shared`]).
    pub members: Store<MemberCluster>,
    /// Grants in every member namespace.
    pub grants: Store<RemoteAccountGrant>,
    /// Roster's Secrets: grant deliveries and consumer token Secrets.
    pub secrets: Store<Secret>,
    /// RemoteAccessPolicies (see [`policy`]).
    pub policies: Store<RemoteAccessPolicy>,
    /// Hub namespaces, for the labels policies select consumers by.
    pub namespaces: Store<Namespace>,
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
    ready: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("access::Context").finish_non_exhaustive()
    }
}

impl Context {
    /// A context over `stores`, whose members are ready when `members_ready` resolves; one
    /// task waits for the other stores' first lists (see
    /// `crate::context::Context::caches_ready` for why only one). The shared member store has
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
            let _ = tx.send(true);
        });
        Self {
            recorder: crate::events::recorder(&client, instance),
            client,
            clock,
            metrics,
            stores,
            ready,
        }
    }

    async fn caches_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.stores
            .secrets
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The grants serving the RemoteServiceAccount `namespace/name`.
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
}

/// Reconciles one RemoteServiceAccount.
#[instrument(skip_all, fields(namespace = rsa.namespace().unwrap_or_default(), name = %rsa.name_any()))]
pub async fn reconcile(rsa: Arc<RemoteServiceAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let api: Api<RemoteServiceAccount> =
        Api::namespaced(ctx.client.clone(), &rsa.namespace().unwrap_or_default());
    finalizer::finalizer(
        &api,
        names::REMOTE_SERVICE_ACCOUNT_FINALIZER,
        rsa,
        |event| async {
            match event {
                Event::Apply(rsa) => provision(&rsa, &ctx).await,
                Event::Cleanup(rsa) => revoke(&rsa, &ctx).await,
            }
        },
    )
    .await
    .map_err(Error::from_finalizer)
}

async fn provision(rsa: &RemoteServiceAccount, ctx: &Context) -> Result<Action, Error> {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    let now = ctx.clock.now();
    let members = ctx.stores.members.state();
    let (targets, selection_error) = match targets::select(&rsa.spec.clusters, &members) {
        Ok(t) => (t, None),
        Err(e) => (Vec::new(), Some(e)),
    };

    let mut clusters = Vec::with_capacity(targets.len());
    let mut requeue = RESYNC;
    let mut served = Vec::new();
    let policies = ctx.stores.policies.state();
    let namespace_labels = policy::namespace_labels(&ctx.stores.namespaces, &namespace);
    for target in &targets {
        let problem = match target.member {
            None => Some(format!("MemberCluster {} does not exist", target.name)),
            Some(member) => names::member_namespace_problem(&target.name)
                .or_else(|| policy::refusal(rsa, &namespace_labels, member, &policies)),
        };
        let (grant, delivered) = match problem {
            Some(_) => (None, None),
            None => {
                served.push(target.name.clone());
                let grant = writes::grant(ctx, rsa, &target.name).await?;
                let delivered = ctx
                    .secret(&names::member_namespace(&target.name), &grant.name_any())
                    .and_then(|s| desired::delivered(&s));
                (Some(grant), delivered)
            }
        };
        let endpoint = target.member.and_then(endpoint);
        let observed = status::Observed {
            name: &target.name,
            member_problem: problem.as_deref(),
            has_endpoint: endpoint.is_some(),
            grant: grant.as_deref(),
            delivered: delivered.as_ref(),
        };
        if let (Some(token), Some(endpoint)) = (status::usable(&observed, now), &endpoint) {
            let secret = desired::consumer_secret(rsa, &target.name, endpoint, token);
            writes::consumer_secret(ctx, secret).await?;
            ctx.metrics
                .token_expiry(&namespace, &name, &target.name, Some(token.expiry));
            requeue = requeue.min(until(now, token.expiry));
        }
        clusters.push(status::cluster(&observed, now));
    }

    // Revocation of clusters that left the selection or the hub: their grants (the agents then
    // delete the service accounts) and the consumer's Secrets for them.
    for grant in ctx.grants_of(&namespace, &name) {
        let member = grant.labels().get(names::LABEL_MEMBER).cloned();
        if member.as_ref().is_none_or(|m| !served.contains(m)) {
            info!(
                member = member.as_deref().unwrap_or("?"),
                "revoking: cluster left the selection or is not allowed by policy"
            );
            writes::delete_grant(ctx, &grant).await?;
        }
    }
    for secret in consumer_secrets(ctx, &namespace, &name) {
        let member = secret.labels().get(names::LABEL_MEMBER).cloned();
        if member.as_ref().is_none_or(|m| !served.contains(m)) {
            writes::delete_secret(ctx, &namespace, &secret.name_any()).await?;
        }
    }
    ctx.metrics.forget_tokens(&namespace, &name, &served);

    let condition = status::ready_condition(&clusters, selection_error.as_deref());
    writes::status(ctx, rsa, clusters, condition, now).await?;
    Ok(Action::requeue(requeue))
}

/// Revokes everything a deleted RemoteServiceAccount had: grants (so agents delete the service
/// accounts, invalidating their tokens) and the consumer's Secrets.
async fn revoke(rsa: &RemoteServiceAccount, ctx: &Context) -> Result<Action, Error> {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    for grant in ctx.grants_of(&namespace, &name) {
        writes::delete_grant(ctx, &grant).await?;
    }
    for secret in consumer_secrets(ctx, &namespace, &name) {
        writes::delete_secret(ctx, &namespace, &secret.name_any()).await?;
    }
    ctx.metrics.forget_tokens(&namespace, &name, &[]);
    info!("revoked: RemoteServiceAccount deleted");
    Ok(Action::await_change())
}

fn consumer_secrets(ctx: &Context, namespace: &str, name: &str) -> Vec<Arc<Secret>> {
    ctx.stores
        .secrets
        .state()
        .into_iter()
        .filter(|s| {
            s.namespace().as_deref() == Some(namespace)
                && s.labels()
                    .get(token_secret::LABEL_REMOTE_SERVICE_ACCOUNT)
                    .map(String::as_str)
                    == Some(name)
        })
        .collect()
}

/// The member's API server as the consumer reaches it: the MemberCluster's reported (or
/// overridden) endpoint, with its CA.
fn endpoint(member: &MemberCluster) -> Option<desired::Endpoint> {
    let api = member.status.as_ref()?.api_server.as_ref()?;
    Some(desired::Endpoint {
        server: api.server.clone(),
        ca: api
            .ca_data
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_default(),
    })
}

fn until(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or(Duration::ZERO) + Duration::from_secs(1)
}

/// Requeue policy for failed reconciles.
pub fn error_policy(rsa: Arc<RemoteServiceAccount>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(name = %rsa.name_any(), namespace = rsa.namespace().unwrap_or_default(),
        category = error.category(), %error, "reconcile failed");
    if error.is_transient() {
        Action::requeue(Duration::from_secs(5))
    } else {
        Action::requeue(Duration::from_secs(60))
    }
}

/// The RemoteServiceAccount a grant or a Secret of Roster's belongs to.
fn owner_of_labels(
    labels: &std::collections::BTreeMap<String, String>,
    fallback_namespace: Option<String>,
) -> Option<ObjectRef<RemoteServiceAccount>> {
    let name = labels.get(token_secret::LABEL_REMOTE_SERVICE_ACCOUNT)?;
    let namespace = labels
        .get(names::LABEL_CONSUMER_NAMESPACE)
        .cloned()
        .or(fallback_namespace)?;
    Some(ObjectRef::new(name).within(&namespace))
}

/// Runs the remote access controller until shutdown over the hub's shared MemberCluster cache;
/// `ready` is met once its caches are.
pub async fn run(
    client: Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    members: SharedCache<MemberCluster>,
    ready: Condition,
    instance: Option<String>,
) {
    let managed = format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGED_BY);
    let (grants, grant_events) = watch::cached(
        Api::<RemoteAccountGrant>::all(client.clone()),
        watch::config(),
    );
    let (secrets, secret_events) = watch::cached(
        Api::<Secret>::all(client.clone()),
        watch::config().labels(&managed),
    );
    let (policies, policy_events) = watch::cached(
        Api::<RemoteAccessPolicy>::all(client.clone()),
        watch::config(),
    );
    let (namespaces, namespace_events) =
        watch::cached(Api::<Namespace>::all(client.clone()), watch::config());

    let ctx = Arc::new(Context::new(
        client.clone(),
        clock,
        metrics,
        Stores {
            members: members.store(),
            grants,
            secrets,
            policies,
            namespaces,
        },
        members.ready(),
        instance.as_deref(),
    ));
    tokio::spawn({
        let ctx = ctx.clone();
        async move {
            ctx.caches_ready().await;
            ready.set(true);
        }
    });
    let (rsas, rsa_events) =
        watch::cached(Api::<RemoteServiceAccount>::all(client), watch::config());
    let (all, for_policies, for_namespaces) = (rsas.clone(), rsas.clone(), rsas.clone());
    Controller::for_stream(rsa_events.applied_objects(), rsas)
        // A policy change can allow or refuse any RemoteServiceAccount anywhere; a namespace's
        // labels, those in it.
        .watches_stream(
            policy_events.touched_objects(),
            move |_: RemoteAccessPolicy| {
                for_policies
                    .state()
                    .iter()
                    .map(|r| ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(namespace_events.touched_objects(), move |n: Namespace| {
            policy::in_namespace(&for_namespaces, &n.name_any())
        })
        // A member's labels or endpoint can change any RemoteServiceAccount's targets or Secrets.
        .watches_stream(members.touched(), move |_: MemberCluster| {
            all.state()
                .iter()
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(grant_events.touched_objects(), |g: RemoteAccountGrant| {
            let owner = &g.spec.remote_service_account;
            Some(ObjectRef::new(&owner.name).within(&owner.namespace))
        })
        .watches_stream(secret_events.touched_objects(), |s: Secret| {
            owner_of_labels(s.labels(), s.namespace())
        })
        .trigger_backoff(WatchBackoff::default())
        .shutdown_on_signal()
        .run(
            |rsa, ctx: Arc<Context>| {
                let metrics = ctx.metrics.clone();
                async move {
                    metrics
                        .observe_reconcile(REMOTE_ACCESS_CONTROLLER, reconcile(rsa, ctx))
                        .await
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
