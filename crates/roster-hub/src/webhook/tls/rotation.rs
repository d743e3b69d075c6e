//! When self-generated certificates are made, replaced and trusted: plain functions of the time,
//! so every rule is tested at any instant.
//!
//! Three CA slots live in one Secret that every replica reads: `current` signs serving
//! certificates, `next` is published in the caBundle before anything is signed with it, and
//! `previous` stays trusted until it expires (every serving certificate it signed expires no
//! later than it does). A new CA is prepared at two thirds of the current one's life and takes
//! over a grace period later, so the API servers have long picked up a caBundle holding both
//! before any replica presents a certificate signed by the new one. Serving certificates are
//! per replica, in memory, and replaced at two thirds of their life or as soon as the signing
//! CA changes.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start.
    pub not_before: Timestamp,
    /// End.
    pub not_after: Timestamp,
}

impl Validity {
    /// Whether the certificate has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.not_after
    }
}

/// `from` plus two thirds of the way to `to`.
pub fn two_thirds(from: Timestamp, to: Timestamp) -> Timestamp {
    let span = to.duration_since(from).as_millis();
    from.checked_add(SignedDuration::from_millis_i128(span * 2 / 3))
        .unwrap_or(to)
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn minus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// The lifetimes everything is derived from, given `--webhook-cert-validity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A serving certificate's life.
    pub serving: Duration,
    /// A CA's life: ten serving lives.
    pub ca: Duration,
    /// How long a new CA is published before it signs: a third of a serving life.
    pub grace: Duration,
    /// How far certificates start in the past, for clocks that lag ours: a tenth of a serving
    /// life, at most a minute.
    pub backdate: Duration,
}

impl Lifetimes {
    /// Lifetimes for serving certificates valid `serving`.
    pub fn new(serving: Duration) -> Self {
        Self {
            serving,
            ca: serving * 10,
            grace: serving / 3,
            backdate: (serving / 10).min(Duration::from_secs(60)),
        }
    }

    /// How often the rotation loop looks: a tenth of a serving life, between 1 and 30 s.
    pub fn tick(&self) -> Duration {
        (self.serving / 10).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// Validity of a CA made at `now`.
    pub fn ca_validity(&self, now: Timestamp) -> Validity {
        Validity {
            not_before: minus(now, self.backdate),
            not_after: plus(now, self.ca),
        }
    }

    /// Validity of a serving certificate made at `now` and signed by a CA valid `ca`: never
    /// beyond the CA, which is trusted only until then.
    pub fn serving_validity(&self, now: Timestamp, ca: Validity) -> Validity {
        Validity {
            not_before: minus(now, self.backdate),
            not_after: plus(now, self.serving).min(ca.not_after),
        }
    }
}

/// The CA slots of the shared Secret, as validities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slots {
    /// The signing CA.
    pub current: Option<Validity>,
    /// The CA about to sign, already trusted.
    pub next: Option<Validity>,
    /// The CA that signed before, trusted until it expires.
    pub previous: Option<Validity>,
}

/// One change to the CA slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaStep {
    /// Make a signing CA: there is none, or it expired.
    Create,
    /// Make the next CA: the current one is two thirds through its life.
    Prepare,
    /// The next CA signs from now on; the current one becomes the previous.
    Promote,
    /// Forget the previous CA: it expired.
    Retire,
}

/// The change the slots need at `now`, if any; apply it and ask again until `None`.
pub fn ca_step(slots: &Slots, now: Timestamp, lifetimes: &Lifetimes) -> Option<CaStep> {
    let current_usable = slots.current.is_some_and(|c| !c.expired(now));
    if let Some(next) = slots.next.filter(|n| !n.expired(now)) {
        // Published (made) at not_before + backdate; trusted everywhere a grace period later.
        let published = plus(next.not_before, lifetimes.backdate);
        if !current_usable || now >= plus(published, lifetimes.grace) {
            return Some(CaStep::Promote);
        }
    }
    match slots.current {
        None => return Some(CaStep::Create),
        Some(_) if !current_usable => return Some(CaStep::Create),
        Some(_) => {}
    }
    if slots.previous.is_some_and(|p| p.expired(now)) {
        return Some(CaStep::Retire);
    }
    let current = slots.current?;
    if slots.next.is_none() && now >= two_thirds(current.not_before, current.not_after) {
        return Some(CaStep::Prepare);
    }
    None
}

/// Which slots belong in the caBundle at `now`: every CA not yet expired, current first.
pub fn bundle(slots: &Slots, now: Timestamp) -> [bool; 3] {
    let live = |v: Option<Validity>| v.is_some_and(|v| !v.expired(now));
    [live(slots.current), live(slots.next), live(slots.previous)]
}

/// A serving certificate this replica holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued<Id> {
    /// When it was made.
    pub at: Timestamp,
    /// When it expires.
    pub not_after: Timestamp,
    /// Which CA signed it.
    pub signer: Id,
}

/// Whether a new serving certificate is needed at `now` when `signer` is the signing CA: there
/// is none, another CA signed it, or it is two thirds through its life.
pub fn serving_due<Id: PartialEq>(
    issued: Option<&Issued<Id>>,
    signer: &Id,
    now: Timestamp,
) -> bool {
    match issued {
        None => true,
        Some(i) => i.signer != *signer || now >= two_thirds(i.at, i.not_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: u64 = 300; // serving life in the tests, seconds

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn life() -> Lifetimes {
        Lifetimes::new(Duration::from_secs(V))
    }

    fn made(s: i64) -> Validity {
        life().ca_validity(at(s))
    }

    /// Applies steps the way the rotation loop does, making CAs at `now`.
    fn settle(slots: &mut Slots, now: Timestamp) -> Vec<CaStep> {
        let mut steps = Vec::new();
        while let Some(step) = ca_step(slots, now, &life()) {
            steps.push(step);
            match step {
                CaStep::Create => slots.current = Some(life().ca_validity(now)),
                CaStep::Prepare => slots.next = Some(life().ca_validity(now)),
                CaStep::Promote => {
                    slots.previous = slots.current;
                    slots.current = slots.next.take();
                }
                CaStep::Retire => slots.previous = None,
            }
            assert!(steps.len() < 5, "steps do not settle: {steps:?}");
        }
        steps
    }

    #[test]
    fn lifetimes_follow_the_serving_validity() {
        let l = life();
        assert_eq!(l.ca, Duration::from_secs(3000));
        assert_eq!(l.grace, Duration::from_secs(100));
        assert_eq!(l.backdate, Duration::from_secs(30));
        assert_eq!(l.tick(), Duration::from_secs(30));
        let short = Lifetimes::new(Duration::from_secs(10));
        assert_eq!(short.tick(), Duration::from_secs(1));
        assert_eq!(short.backdate, Duration::from_secs(1));
        let week = Lifetimes::new(Duration::from_secs(7 * 24 * 3600));
        assert_eq!(week.backdate, Duration::from_secs(60));
        assert_eq!(week.tick(), Duration::from_secs(30));
    }

    #[test]
    fn an_empty_secret_gets_a_ca_and_nothing_more() {
        let mut slots = Slots::default();
        assert_eq!(settle(&mut slots, at(0)), [CaStep::Create]);
        assert_eq!(slots.current, Some(made(0)));
        assert_eq!(settle(&mut slots, at(1)), []);
    }

    #[test]
    fn a_ca_is_prepared_at_two_thirds_and_promoted_after_the_grace_period() {
        let mut slots = Slots {
            current: Some(made(0)),
            ..Slots::default()
        };
        // made(0) runs from -30 to 3000: two thirds is at 1990.
        assert_eq!(settle(&mut slots, at(1989)), []);
        assert_eq!(settle(&mut slots, at(1990)), [CaStep::Prepare]);
        assert_eq!(slots.next, Some(made(1990)));
        assert_eq!(
            bundle(&slots, at(1990)),
            [true, true, false],
            "published before use"
        );
        assert_eq!(settle(&mut slots, at(2089)), []);
        assert_eq!(settle(&mut slots, at(2090)), [CaStep::Promote]);
        assert_eq!(slots.current, Some(made(1990)));
        assert_eq!(slots.previous, Some(made(0)));
        assert_eq!(slots.next, None);
        // The old CA stays trusted until it expires, then leaves the bundle and the Secret.
        assert_eq!(bundle(&slots, at(2999)), [true, false, true]);
        assert_eq!(bundle(&slots, at(3000)), [true, false, false]);
        assert_eq!(settle(&mut slots, at(3000)), [CaStep::Retire]);
        assert_eq!(slots.previous, None);
    }

    #[test]
    fn an_expired_ca_is_replaced_at_once_and_a_waiting_next_one_takes_over() {
        let mut slots = Slots {
            current: Some(made(0)),
            ..Slots::default()
        };
        assert_eq!(settle(&mut slots, at(5000)), [CaStep::Create]);
        assert_eq!(slots.current, Some(made(5000)));

        let mut slots = Slots {
            current: Some(made(0)),
            next: Some(made(2950)),
            previous: None,
        };
        // Not yet through the grace period, but the current CA is gone: the next one signs.
        assert_eq!(
            settle(&mut slots, at(3000)),
            [CaStep::Promote, CaStep::Retire]
        );
        assert_eq!(slots.current, Some(made(2950)));
        assert_eq!(slots.previous, None, "the expired CA is retired too");
    }

    #[test]
    fn serving_certificates_never_outlive_their_ca_and_renew_at_two_thirds() {
        let l = life();
        let ca = made(0);
        let v = l.serving_validity(at(100), ca);
        assert_eq!(v.not_before, at(70));
        assert_eq!(v.not_after, at(400));
        assert_eq!(l.serving_validity(at(2900), ca).not_after, ca.not_after);

        let issued = Issued {
            at: at(100),
            not_after: v.not_after,
            signer: "ca-1",
        };
        assert!(serving_due(None, &"ca-1", at(0)));
        assert!(!serving_due(Some(&issued), &"ca-1", at(299)));
        assert!(serving_due(Some(&issued), &"ca-1", at(300)));
        assert!(
            serving_due(Some(&issued), &"ca-2", at(101)),
            "a new CA signs"
        );
    }

    #[test]
    fn over_many_lives_the_bundle_always_trusts_what_is_served() {
        // Every 10 s for 40 CA lives: the serving certificate is always signed by a CA that was
        // in the bundle for at least the grace period, and not expired.
        let l = life();
        let mut slots = Slots::default();
        let mut served: Option<(Issued<Validity>, Validity)> = None;
        let mut in_bundle_since: Vec<(Validity, Timestamp)> = Vec::new();
        for tick in 0..(40 * 3000 / 10) {
            let now = at(tick * 10);
            settle(&mut slots, now);
            let live = bundle(&slots, now);
            for (slot, live) in [slots.current, slots.next, slots.previous].iter().zip(live) {
                if let (Some(v), true) = (slot, live)
                    && !in_bundle_since.iter().any(|(c, _)| c == v)
                {
                    in_bundle_since.push((*v, now));
                }
            }
            let signer = slots.current.unwrap();
            if serving_due(served.as_ref().map(|(i, _)| i), &signer, now) {
                let v = l.serving_validity(now, signer);
                let issued = Issued {
                    at: now,
                    not_after: v.not_after,
                    signer,
                };
                served = Some((issued, v));
            }
            let (issued, v) = served.as_ref().unwrap();
            assert!(now < v.not_after, "serving an expired certificate at {now}");
            let ca = issued.signer;
            assert!(
                live_in(&slots, ca, now),
                "signer {ca:?} not trusted at {now}"
            );
            let since = in_bundle_since.iter().find(|(c, _)| *c == ca).unwrap().1;
            let first_ca = in_bundle_since[0].0 == ca;
            assert!(
                first_ca || now.duration_since(since) >= SignedDuration::from_secs(90),
                "CA used {}s after publication at {now}",
                now.duration_since(since).as_secs()
            );
        }
    }

    fn live_in(slots: &Slots, ca: Validity, now: Timestamp) -> bool {
        [slots.current, slots.next, slots.previous]
            .iter()
            .zip(bundle(slots, now))
            .any(|(s, live)| live && *s == Some(ca))
    }
}
