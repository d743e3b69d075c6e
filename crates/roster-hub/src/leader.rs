//! Leader election on a Lease: several replicas, one writer. The holder renews the Lease every
//! third of its duration; another replica takes over when it has seen no renewal for a whole
//! duration (timed by its own clock, so clock skew between replicas does not matter). A leader
//! that cannot renew within the duration stops leading before anyone else can start, and a
//! leader that shuts down releases the Lease so the next one starts at once.

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::sync::watch;
use tracing::{info, warn};

/// Where and as whom to elect.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a Lease is valid without renewal.
    pub duration: Duration,
}

impl Settings {
    /// Time between renewals (and between attempts to acquire).
    pub fn period(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(500))
    }
}

/// What this replica last saw of the Lease, timed by its own clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The holder at the time.
    pub holder: Option<String>,
    /// The holder's renewTime, as written (compared for change only, never with our clock).
    pub renew_time: Option<Timestamp>,
    /// The holder's lease duration.
    pub duration: Duration,
    /// When this replica first saw this (holder, renewTime).
    pub seen_at: Instant,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write the Lease with this replica as holder (acquiring or renewing).
    Take,
    /// Another replica holds a live Lease: look again later.
    Follow,
}

/// The decision for `me`, given what was observed and the current instant.
pub fn decide(observed: Option<&Observed>, me: &str, now: Instant) -> Decision {
    let Some(o) = observed else {
        return Decision::Take;
    };
    match o.holder.as_deref() {
        None | Some("") => Decision::Take,
        Some(holder) if holder == me => Decision::Take,
        Some(_) if now.duration_since(o.seen_at) >= o.duration => Decision::Take,
        Some(_) => Decision::Follow,
    }
}

/// `previous`, or a fresh observation when the Lease changed since.
pub fn observe(previous: Option<Observed>, spec: Option<&LeaseSpec>, now: Instant) -> Observed {
    let holder = spec.and_then(|s| s.holder_identity.clone());
    let renew_time = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
    let duration = spec
        .and_then(|s| s.lease_duration_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(15));
    match previous {
        Some(p) if p.holder == holder && p.renew_time == renew_time => Observed { duration, ..p },
        _ => Observed {
            holder,
            renew_time,
            duration,
            seen_at: now,
        },
    }
}

/// The Lease spec naming `me` holder, renewed now.
fn held_by(me: &str, current: Option<&LeaseSpec>, duration: Duration) -> LeaseSpec {
    let now = MicroTime(Timestamp::now());
    let ours = current.and_then(|s| s.holder_identity.as_deref()) == Some(me);
    let transitions = current.and_then(|s| s.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: if ours {
            current.and_then(|s| s.acquire_time.clone())
        } else {
            Some(now.clone())
        },
        renew_time: Some(now),
        lease_transitions: Some(if ours { transitions } else { transitions + 1 }),
        ..LeaseSpec::default()
    }
}

/// Runs the election until `shutdown` resolves, publishing whether this replica leads on
/// `leading`; releases the Lease on shutdown if it holds it.
pub async fn run(
    client: Client,
    settings: Settings,
    leading: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let mut observed: Option<Observed> = None;
    let mut renewed_at: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        match round(&api, &settings, &mut observed, now).await {
            Ok(true) => renewed_at = Some(now),
            Ok(false) => renewed_at = None,
            Err(e) => warn!(error = %e, "leader election: cannot read or write the Lease"),
        }
        // A leader that has not renewed for a whole duration must assume another replica took
        // over; it stops before that one can start (which waits a full duration after seeing
        // our last renewal).
        let leads = renewed_at.is_some_and(|t| t.elapsed() < settings.duration - settings.period());
        leading.send_if_modified(|l| {
            if *l != leads {
                *l = leads;
                info!(identity = %settings.identity, leading = leads, "leadership changed");
                true
            } else {
                false
            }
        });
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(settings.period()) => {}
        }
    }
    if *leading.borrow() {
        leading.send_replace(false);
        release(&api, &settings).await;
    }
}

/// One look at the Lease; true when this replica holds it afterwards.
async fn round(
    api: &Api<Lease>,
    settings: &Settings,
    observed: &mut Option<Observed>,
    now: Instant,
) -> Result<bool, kube::Error> {
    let Some(lease) = api.get_opt(&settings.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(held_by(&settings.identity, None, settings.duration)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
            Err(e) => Err(e),
        };
    };
    let seen = observe(observed.take(), lease.spec.as_ref(), now);
    let decision = decide(Some(&seen), &settings.identity, now);
    *observed = Some(seen);
    if decision == Decision::Follow {
        return Ok(false);
    }
    let mut next = lease.clone();
    next.spec = Some(held_by(
        &settings.identity,
        lease.spec.as_ref(),
        settings.duration,
    ));
    // `replace` carries the resourceVersion read above: if another replica wrote in between,
    // the API server answers 409 and this round is lost.
    match api
        .replace(&settings.name, &PostParams::default(), &next)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up so another replica can lead at once.
async fn release(api: &Api<Lease>, settings: &Settings) {
    let Ok(Some(mut lease)) = api.get_opt(&settings.name).await else {
        return;
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    match api
        .replace(&settings.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => info!("released the leader Lease"),
        Err(e) => warn!(error = %e, "could not release the leader Lease"),
    }
}

/// Runs `work` while this replica leads: started (afresh, so everything is re-reconciled) each
/// time leadership is gained, and dropped, which stops all its writes, when it is lost.
pub async fn while_leading<F, Fut>(mut leading: watch::Receiver<bool>, work: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        if leading.wait_for(|l| *l).await.is_err() {
            return;
        }
        info!("leading: starting the controllers");
        let task = tokio::spawn(work());
        let lost = leading.wait_for(|l| !*l).await.is_err();
        task.abort();
        let _ = task.await;
        if lost {
            return;
        }
        info!("no longer leading: controllers stopped");
    }
}

/// This replica's identity: its pod's name, else the host name and process id.
pub fn default_identity(pod_name: Option<&str>) -> String {
    if let Some(pod) = pod_name.filter(|p| !p.is_empty()) {
        return pod.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "roster-hub".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renew: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            renew_time: Some(MicroTime(Timestamp::from_second(renew).unwrap())),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_or_own_leases_are_taken() {
        let now = Instant::now();
        assert_eq!(decide(None, "a", now), Decision::Take);
        let free = observe(None, Some(&spec(None, 1)), now);
        assert_eq!(decide(Some(&free), "a", now), Decision::Take);
        let mine = observe(None, Some(&spec(Some("a"), 1)), now);
        assert_eq!(decide(Some(&mine), "a", now), Decision::Take);
    }

    #[test]
    fn another_holder_is_followed_until_silent_for_a_whole_duration() {
        let t0 = Instant::now();
        let seen = observe(None, Some(&spec(Some("b"), 100)), t0);
        assert_eq!(
            decide(Some(&seen), "a", t0 + Duration::from_secs(14)),
            Decision::Follow
        );
        // b renews (renewTime changes): the silence starts again, whatever b's clock says.
        let later = t0 + Duration::from_secs(14);
        let renewed = observe(Some(seen.clone()), Some(&spec(Some("b"), 50)), later);
        assert_eq!(renewed.seen_at, later);
        assert_eq!(
            decide(Some(&renewed), "a", later + Duration::from_secs(14)),
            Decision::Follow
        );
        // Unchanged for 15 s: take over.
        let same = observe(
            Some(renewed),
            Some(&spec(Some("b"), 50)),
            later + Duration::from_secs(15),
        );
        assert_eq!(same.seen_at, later);
        assert_eq!(
            decide(Some(&same), "a", later + Duration::from_secs(15)),
            Decision::Take
        );
    }

    #[test]
    fn taking_over_counts_a_transition_renewing_does_not() {
        let theirs = spec(Some("b"), 1);
        let taken = held_by("a", Some(&theirs), Duration::from_secs(15));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        let renewed = held_by("a", Some(&taken), Duration::from_secs(15));
        assert_eq!(renewed.lease_transitions, Some(1));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
    }

    #[tokio::test]
    async fn work_runs_only_while_leading_and_restarts_afresh() {
        struct Stopped(tokio::sync::mpsc::UnboundedSender<&'static str>);
        impl Drop for Stopped {
            fn drop(&mut self) {
                let _ = self.0.send("stopped");
            }
        }
        let (tx, rx) = watch::channel(false);
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let runner = tokio::spawn(while_leading(rx, move || {
            let events_tx = events_tx.clone();
            async move {
                let _guard = Stopped(events_tx.clone());
                let _ = events_tx.send("started");
                std::future::pending::<()>().await;
            }
        }));
        tx.send_replace(true);
        assert_eq!(events.recv().await, Some("started"));
        tx.send_replace(false);
        assert_eq!(events.recv().await, Some("stopped"));
        tx.send_replace(true);
        assert_eq!(events.recv().await, Some("started"));
        drop(tx);
        runner.await.unwrap();
        assert_eq!(events.recv().await, Some("stopped"));
    }
}
