//! Self-generated certificates (no `--webhook-cert-dir`): a CA shared by every replica through
//! the Secret `roster-hub-webhook-ca` in the hub's namespace, a serving certificate per replica
//! signed by it, and the MutatingWebhookConfiguration kept as `roster_api::webhook` builds it,
//! with the caBundle in step: created when missing, put back when deleted or changed
//! (`super::super::configuration` decides what counts as a change).
//!
//! Any replica may write the Secret (created if absent, else patched on condition of the
//! resourceVersion it read, so two replicas racing cannot both win) and the configuration
//! (every replica computes the same one from the same Secret and flags, and applies it with
//! server-side apply under one field manager). The rules of when to rotate are `rotation`'s;
//! this is the I/O around them, once per tick and whenever the webhook configuration changes.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    ByteString,
    api::{
        admissionregistration::v1::MutatingWebhookConfiguration,
        core::v1::{Namespace, Secret},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use roster_api::{names, webhook::Endpoint};
use roster_runtime::errors::Category;
use serde_json::json;
use tracing::{debug, info, warn};

use super::{
    CurrentCert, TlsError, certified_key,
    issue::{self, Ca},
    rotation::{self, CaStep, Issued, Lifetimes, Slots, Validity},
};
use crate::{apply, backoff::WatchBackoff, clock::Clock, webhook::configuration};

/// Name of the Secret holding the webhook CA.
pub const CA_SECRET: &str = "roster-hub-webhook-ca";

/// Keys of the CA Secret.
pub mod keys {
    /// The signing CA's certificate.
    pub const CURRENT_CERT: &str = "tls.crt";
    /// The signing CA's key.
    pub const CURRENT_KEY: &str = "tls.key";
    /// The next CA's certificate (trusted, not signing yet).
    pub const NEXT_CERT: &str = "next.crt";
    /// The next CA's key.
    pub const NEXT_KEY: &str = "next.key";
    /// The previous CA's certificate (trusted until it expires).
    pub const PREVIOUS_CERT: &str = "previous.crt";
    /// Every trusted CA, PEM: the caBundle (for configurations managed by hand).
    pub const BUNDLE: &str = "ca.crt";
    /// Every key above.
    pub const ALL: [&str; 6] = [
        CURRENT_CERT,
        CURRENT_KEY,
        NEXT_CERT,
        NEXT_KEY,
        PREVIOUS_CERT,
        BUNDLE,
    ];
}

/// What the self-generated certificates need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespace of the CA Secret.
    pub namespace: String,
    /// The MutatingWebhookConfiguration kept (with its caBundle).
    pub configuration: String,
    /// Where the configuration sends the API server.
    pub endpoint: Endpoint,
    /// DNS names and IP addresses of serving certificates.
    pub names: Vec<String>,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
}

/// A CA that is trusted but signs nothing any more.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Retired {
    cert_pem: String,
    validity: Validity,
}

/// The CA slots, read from (and written to) the Secret.
#[derive(Debug, Clone, Default)]
struct CaSet {
    current: Option<Ca>,
    next: Option<Ca>,
    previous: Option<Retired>,
}

impl CaSet {
    fn read(secret: &Secret) -> Self {
        let empty = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&empty);
        let text = |key: &str| {
            data.get(key)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        let ca = |cert: &str, key: &str| {
            let (c, k) = (text(cert)?, text(key)?);
            issue::read_ca(&c, &k)
                .inspect_err(|e| warn!(key = cert, error = %e, "ignoring an unreadable CA"))
                .ok()
        };
        let previous = text(keys::PREVIOUS_CERT).and_then(|c| {
            issue::validity(c.as_bytes())
                .inspect_err(|e| warn!(error = %e, "ignoring an unreadable previous CA"))
                .ok()
                .map(|validity| Retired {
                    cert_pem: c,
                    validity,
                })
        });
        Self {
            current: ca(keys::CURRENT_CERT, keys::CURRENT_KEY),
            next: ca(keys::NEXT_CERT, keys::NEXT_KEY),
            previous,
        }
    }

    fn slots(&self) -> Slots {
        Slots {
            current: self.current.as_ref().map(|c| c.validity),
            next: self.next.as_ref().map(|c| c.validity),
            previous: self.previous.as_ref().map(|c| c.validity),
        }
    }

    /// Applies every step due at `now`; returns them.
    fn settle(&mut self, now: Timestamp, lifetimes: &Lifetimes) -> Result<Vec<CaStep>, TlsError> {
        let mut steps = Vec::new();
        while let Some(step) = rotation::ca_step(&self.slots(), now, lifetimes) {
            match step {
                CaStep::Create => self.current = Some(issue::new_ca(lifetimes.ca_validity(now))?),
                CaStep::Prepare => self.next = Some(issue::new_ca(lifetimes.ca_validity(now))?),
                CaStep::Promote => {
                    self.previous = self.current.take().map(|c| Retired {
                        cert_pem: c.cert_pem,
                        validity: c.validity,
                    });
                    self.current = self.next.take();
                }
                CaStep::Retire => self.previous = None,
            }
            steps.push(step);
            if steps.len() > 8 {
                return Err(TlsError::Unsettled(format!("{steps:?}")));
            }
        }
        Ok(steps)
    }

    /// Every CA trusted at `now`, PEM, signing one first.
    fn bundle(&self, now: Timestamp) -> String {
        let live = rotation::bundle(&self.slots(), now);
        let pems = [
            self.current.as_ref().map(|c| &c.cert_pem),
            self.next.as_ref().map(|c| &c.cert_pem),
            self.previous.as_ref().map(|c| &c.cert_pem),
        ];
        pems.iter()
            .zip(live)
            .filter_map(|(pem, live)| pem.filter(|_| live).map(String::as_str))
            .collect()
    }

    fn data(&self, now: Timestamp) -> BTreeMap<String, ByteString> {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        if let Some(c) = &self.current {
            put(keys::CURRENT_CERT, &c.cert_pem);
            put(keys::CURRENT_KEY, &c.key_pem);
        }
        if let Some(c) = &self.next {
            put(keys::NEXT_CERT, &c.cert_pem);
            put(keys::NEXT_KEY, &c.key_pem);
        }
        if let Some(c) = &self.previous {
            put(keys::PREVIOUS_CERT, &c.cert_pem);
        }
        put(keys::BUNDLE, &self.bundle(now));
        data
    }
}

/// The rotation loop of one replica.
struct Rotator {
    settings: Settings,
    secrets: Api<Secret>,
    configurations: Api<MutatingWebhookConfiguration>,
    namespaces: Api<Namespace>,
    current: Arc<CurrentCert>,
    clock: Arc<dyn Clock>,
    issued: Option<Issued<String>>,
    configuration: Observed,
}

/// The webhook configuration as the watch last saw it.
#[derive(Debug, Clone, Default)]
enum Observed {
    /// Not listed yet (or the watch fails): nothing is known, so nothing is written.
    #[default]
    Unknown,
    /// Listed and absent: deleted, or never created.
    Absent,
    /// What the API server holds.
    Present(Box<MutatingWebhookConfiguration>),
}

impl Observed {
    /// Follows one watch event; `listing` collects a relist until it is done.
    fn follow(
        &mut self,
        event: watcher::Event<MutatingWebhookConfiguration>,
        listing: &mut Option<Option<MutatingWebhookConfiguration>>,
    ) {
        match event {
            watcher::Event::Init => *listing = Some(None),
            watcher::Event::InitApply(c) => *listing = Some(Some(c)),
            watcher::Event::InitDone => {
                *self = match listing.take().flatten() {
                    Some(c) => Self::Present(Box::new(c)),
                    None => Self::Absent,
                };
            }
            watcher::Event::Apply(c) => *self = Self::Present(Box::new(c)),
            watcher::Event::Delete(_) => *self = Self::Absent,
        }
    }
}

/// What a round asks for next.
enum Next {
    Wait,
    /// Another replica wrote the Secret first: read it again now.
    Again,
}

/// Keeps the CA Secret, this replica's serving certificate and the caBundle current; runs until
/// dropped.
pub async fn run(
    client: Client,
    settings: Settings,
    current: Arc<CurrentCert>,
    clock: Arc<dyn Clock>,
) {
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", settings.configuration));
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    // Every event, deletions included (a deleted configuration is put back).
    let mut changes = watcher(configurations.clone(), config)
        .backoff(WatchBackoff::default())
        .boxed();
    let mut listing = None;
    let tick = settings.lifetimes.tick();
    let mut rotator = Rotator {
        secrets: Api::namespaced(client.clone(), &settings.namespace),
        namespaces: Api::all(client),
        configurations,
        settings,
        current,
        clock,
        issued: None,
        configuration: Observed::Unknown,
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch_failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            change = changes.next() => match change {
                Some(Ok(event)) => {
                    watch_failing = false;
                    rotator.configuration.follow(event, &mut listing);
                    // A relist in progress: act once it is complete.
                    if listing.is_some() {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    if !watch_failing {
                        warn!(error = %e, configuration = %rotator.settings.configuration,
                            "cannot watch the webhook configuration; it is not kept");
                    }
                    watch_failing = true;
                    continue;
                }
                // A watch stream does not end; if it did, ticks alone keep things going.
                None => changes = futures::stream::pending().boxed(),
            },
        }
        for _ in 0..3 {
            match rotator.round().await {
                Ok(Next::Wait) => break,
                Ok(Next::Again) => continue,
                Err(e) => {
                    warn!(error = %e, "webhook certificates: will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl Rotator {
    async fn round(&mut self) -> anyhow::Result<Next> {
        // Certificates state whole seconds; deciding on the same keeps reads and writes equal.
        let now = self.clock.now();
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        // Listed by name rather than read with `get`: the hub lists Secrets anyway (see
        // deploy/hub/rbac.yaml) and needs no further right for this one.
        let by_name = ListParams::default().fields(&format!("metadata.name={CA_SECRET}"));
        let stored = self.secrets.list(&by_name).await?.items.into_iter().next();
        let mut set = stored.as_ref().map(CaSet::read).unwrap_or_default();
        let steps = set.settle(now, &self.settings.lifetimes)?;
        if !steps.is_empty() {
            if !self.write(stored, &set, now).await? {
                return Ok(Next::Again);
            }
            info!(?steps, namespace = %self.settings.namespace, secret = CA_SECRET,
                "webhook CA updated");
        }
        let Some(signer) = set.current.as_ref() else {
            anyhow::bail!("no signing CA after rotation");
        };
        if rotation::serving_due(self.issued.as_ref(), &signer.cert_pem, now) {
            let lifetimes = &self.settings.lifetimes;
            let validity = lifetimes.serving_validity(now, signer.validity);
            let (cert, key) = issue::serving(signer, &self.settings.names, validity)?;
            self.current
                .set(certified_key(cert.as_bytes(), key.as_bytes())?);
            self.issued = Some(Issued {
                at: now,
                not_after: validity.not_after,
                signer: signer.cert_pem.clone(),
            });
            info!(not_after = %validity.not_after, names = ?self.settings.names,
                "webhook serving certificate issued");
        }
        self.sync_configuration(&set.bundle(now)).await?;
        Ok(Next::Wait)
    }

    /// Stores `set`; false when another replica changed the Secret first.
    async fn write(
        &self,
        stored: Option<Secret>,
        set: &CaSet,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let data = set.data(now);
        let result = match stored {
            Some(secret) => {
                // A merge patch conditional on the resourceVersion read: a replica that lost
                // the race gets a conflict and reads again. Keys no longer used are removed.
                let mut fields: serde_json::Map<String, serde_json::Value> = keys::ALL
                    .iter()
                    .map(|k| ((*k).to_owned(), serde_json::Value::Null))
                    .collect();
                for (k, v) in &data {
                    fields.insert(k.clone(), serde_json::to_value(v)?);
                }
                let patch = json!({
                    "metadata": {"resourceVersion": secret.metadata.resource_version},
                    "data": fields,
                });
                self.secrets
                    .patch(CA_SECRET, &PatchParams::default(), &Patch::Merge(patch))
                    .await
            }
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(CA_SECRET.to_owned()),
                        namespace: Some(self.settings.namespace.clone()),
                        labels: Some(BTreeMap::from([(
                            names::LABEL_MANAGED_BY.to_owned(),
                            names::MANAGED_BY.to_owned(),
                        )])),
                        ..ObjectMeta::default()
                    },
                    type_: Some("Opaque".to_owned()),
                    data: Some(data),
                    ..Secret::default()
                };
                let mut created = self.secrets.create(&PostParams::default(), &secret).await;
                if matches!(&created, Err(kube::Error::Api(s)) if s.is_not_found()) {
                    self.create_namespace().await?;
                    created = self.secrets.create(&PostParams::default(), &secret).await;
                }
                created
            }
        };
        match result {
            Ok(_) => Ok(true),
            // AlreadyExists from the create, Conflict from the replace.
            Err(e) if Category::of(&e) == Category::Conflict => {
                debug!("the webhook CA Secret changed under us; reading it again");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn create_namespace(&self) -> anyhow::Result<()> {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(self.settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match self.namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the whole configuration, trusting `bundle`, when it is missing or anything the
    /// hub sets differs (the caBundle included); nothing while the watch has not listed it.
    async fn sync_configuration(&mut self, bundle: &str) -> anyhow::Result<()> {
        let desired = roster_api::webhook::configuration(
            &self.settings.configuration,
            &self.settings.endpoint,
            &self.settings.namespace,
            Some(bundle.as_bytes()),
        );
        let drift = match &self.configuration {
            Observed::Unknown => return Ok(()),
            Observed::Absent => vec!["the whole configuration (missing)".to_owned()],
            Observed::Present(observed) => configuration::drift(&desired, observed),
        };
        if drift.is_empty() {
            return Ok(());
        }
        let object = apply::applied(&desired)?;
        let applied = match self.apply(&object).await {
            Ok(applied) if configuration::drift(&desired, &applied).is_empty() => applied,
            // Someone else's field the apply cannot remove: beside the hub's, the object is
            // invalid (a `url` and a `service`), or it stays and still differs.
            Ok(applied) => self.replace_webhooks(&desired, &object, &applied).await?,
            Err(kube::Error::Api(s)) if s.is_invalid() => match &self.configuration {
                Observed::Present(observed) => {
                    let observed = observed.clone();
                    self.replace_webhooks(&desired, &object, &observed).await?
                }
                _ => return Err(kube::Error::Api(s).into()),
            },
            Err(e) => return Err(e.into()),
        };
        let name = &self.settings.configuration;
        if configuration::only_ca_bundle(&drift) {
            info!(configuration = %name, "webhook caBundle updated");
        } else {
            info!(configuration = %name, endpoint = %self.settings.endpoint, ?drift,
                "webhook configuration put back");
        }
        // Not expected after a replacement; said rather than applied again on every tick in
        // silence.
        let left = configuration::drift(&desired, &applied);
        if !left.is_empty() {
            warn!(configuration = %name, drift = ?left,
                "the webhook configuration still differs after the hub applied it; delete it \
                 and the hub creates it anew");
        }
        self.configuration = Observed::Present(Box::new(applied));
        Ok(())
    }

    /// Applies `object` (the desired configuration, as [`apply::applied`] makes it) with
    /// server-side apply, which creates it when missing.
    async fn apply(
        &self,
        object: &serde_json::Value,
    ) -> kube::Result<MutatingWebhookConfiguration> {
        self.configurations
            .patch(
                &self.settings.configuration,
                &apply::params(),
                &Patch::Apply(object),
            )
            .await
    }

    /// Replaces the hub's webhooks in `current` whole with those of `desired` (dropping fields
    /// others own inside them), then applies `object` (`desired`) so the hub owns them again.
    async fn replace_webhooks(
        &self,
        desired: &MutatingWebhookConfiguration,
        object: &serde_json::Value,
        current: &MutatingWebhookConfiguration,
    ) -> anyhow::Result<MutatingWebhookConfiguration> {
        let patch = configuration::replacement(desired, current)?;
        self.configurations
            .patch(
                &self.settings.configuration,
                &apply::update_params(),
                &Patch::Json::<()>(patch),
            )
            .await?;
        info!(configuration = %self.settings.configuration,
            "webhook configuration: the hub's webhooks replaced whole (fields of others clashed)");
        Ok(self.apply(object).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn the_secret_round_trips_and_the_bundle_follows_rotation() {
        let lifetimes = Lifetimes::new(Duration::from_secs(300));
        let mut set = CaSet::default();
        assert_eq!(set.settle(at(0), &lifetimes).unwrap(), [CaStep::Create]);
        let first = set.current.clone().unwrap();
        let secret = |set: &CaSet, now| Secret {
            data: Some(set.data(now)),
            ..Secret::default()
        };
        let read = CaSet::read(&secret(&set, at(0)));
        assert_eq!(read.current, set.current);
        assert_eq!(set.bundle(at(0)), first.cert_pem);

        assert_eq!(set.settle(at(2000), &lifetimes).unwrap(), [CaStep::Prepare]);
        let next = set.next.clone().unwrap();
        assert_eq!(
            set.bundle(at(2000)),
            format!("{}{}", first.cert_pem, next.cert_pem)
        );
        assert_eq!(set.settle(at(2100), &lifetimes).unwrap(), [CaStep::Promote]);
        let stored = secret(&set, at(2100));
        let read = CaSet::read(&stored);
        assert_eq!(read.current.as_ref(), Some(&next));
        assert_eq!(
            read.previous.as_ref().map(|p| &p.cert_pem),
            Some(&first.cert_pem)
        );
        assert!(read.next.is_none());
        assert_eq!(
            String::from_utf8(stored.data.unwrap()[keys::BUNDLE].0.clone()).unwrap(),
            format!("{}{}", next.cert_pem, first.cert_pem)
        );
        // Validity is read back from the certificates themselves.
        assert_eq!(first.validity, lifetimes.ca_validity(at(0)));
    }

    #[test]
    fn an_unreadable_ca_is_replaced() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                (
                    keys::CURRENT_CERT.to_owned(),
                    ByteString(b"garbage".to_vec()),
                ),
                (
                    keys::CURRENT_KEY.to_owned(),
                    ByteString(b"garbage".to_vec()),
                ),
            ])),
            ..Secret::default()
        };
        let mut set = CaSet::read(&secret);
        assert!(set.current.is_none());
        let lifetimes = Lifetimes::new(Duration::from_secs(300));
        assert_eq!(set.settle(at(0), &lifetimes).unwrap(), [CaStep::Create]);
    }

    #[test]
    fn the_watch_tells_a_missing_configuration_from_one_not_listed_yet() {
        use watcher::Event;
        let named = |name: &str| MutatingWebhookConfiguration {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..MutatingWebhookConfiguration::default()
        };
        let (mut observed, mut listing) = (Observed::default(), None);
        assert!(matches!(observed, Observed::Unknown));
        observed.follow(Event::Init, &mut listing);
        assert!(
            matches!(observed, Observed::Unknown),
            "until the list is done"
        );
        observed.follow(Event::InitDone, &mut listing);
        assert!(matches!(observed, Observed::Absent));
        observed.follow(Event::Apply(named("a")), &mut listing);
        assert!(
            matches!(&observed, Observed::Present(c) if c.metadata.name.as_deref() == Some("a"))
        );
        observed.follow(Event::Delete(named("a")), &mut listing);
        assert!(matches!(observed, Observed::Absent));
        // A relist keeps the last state until it is complete.
        observed.follow(Event::Init, &mut listing);
        observed.follow(Event::InitApply(named("b")), &mut listing);
        assert!(matches!(observed, Observed::Absent));
        observed.follow(Event::InitDone, &mut listing);
        assert!(
            matches!(&observed, Observed::Present(c) if c.metadata.name.as_deref() == Some("b"))
        );
        assert!(listing.is_none());
    }
}
