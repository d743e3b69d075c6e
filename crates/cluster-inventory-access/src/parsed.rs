//! The parts of a build that cost more than assembling the config, kept per profile: the
//! server parsed as a URL and the CA's PEM decoded into DER certificates (decoding a CA is most
//! of a build's work; a consumer rebuilds for the same profile on every reconcile).
//!
//! An entry is keyed by the profile's namespace and name and reused only while the profile
//! still holds byte-for-byte the same server and CA, so a changed CA (a rotation, another
//! provider chosen) is parsed again and never served stale. Failures are not kept. Entries no
//! build has used for a whole [`SWEEP_INTERVAL`] are dropped, so a profile that went away costs
//! nothing for long.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How often entries that no build used since the previous sweep are dropped.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// What a profile's server and CA parse into.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parsed {
    /// The server, as kube's `cluster_url`.
    pub url: http::Uri,
    /// The CA's certificates (DER), as kube's `root_cert`; `None` without CA data.
    pub root_cert: Option<Vec<Vec<u8>>>,
}

/// The profile fields a [`Parsed`] is derived from, and the profile they came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub server: &'a str,
    /// The CA's PEM (empty when the profile has none).
    pub ca_pem: &'a [u8],
}

/// The cache, shared by a builder and its clones.
pub(crate) struct ParsedClusters {
    state: Mutex<State>,
}

struct State {
    /// Name → the entries of the profiles of that name, one per namespace (one hash of the
    /// borrowed name per lookup; a name is rarely in more than a few namespaces).
    by_name: HashMap<String, Vec<Entry>>,
    swept: Instant,
}

struct Entry {
    namespace: Box<str>,
    server: Box<str>,
    ca_pem: Box<[u8]>,
    parsed: Parsed,
    /// Used since the last sweep.
    used: bool,
}

impl ParsedClusters {
    /// An empty cache; `now` starts the first sweep interval.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                by_name: HashMap::new(),
                swept: now,
            }),
        }
    }

    /// The parse of `source`: the kept one when the profile's server and CA are unchanged,
    /// else `parse()`'s result, kept when it succeeds.
    pub(crate) fn get_or_parse<E>(
        &self,
        source: Source<'_>,
        now: Instant,
        parse: impl FnOnce() -> Result<Parsed, E>,
    ) -> Result<Parsed, E> {
        if let Some(parsed) = self.lookup(source, now) {
            return Ok(parsed);
        }
        // Parsed outside the lock: two builds missing at once both parse, and the last keeps.
        let parsed = parse()?;
        self.keep(source, parsed.clone());
        Ok(parsed)
    }

    fn lookup(&self, source: Source<'_>, now: Instant) -> Option<Parsed> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(state.swept) >= SWEEP_INTERVAL {
            state.sweep(now);
        }
        let entry = state
            .by_name
            .get_mut(source.name)?
            .iter_mut()
            .find(|entry| *entry.namespace == *source.namespace)?;
        if *entry.server != *source.server || *entry.ca_pem != *source.ca_pem {
            return None;
        }
        entry.used = true;
        Some(entry.parsed.clone())
    }

    fn keep(&self, source: Source<'_>, parsed: Parsed) {
        let entry = Entry {
            namespace: source.namespace.into(),
            server: source.server.into(),
            ca_pem: source.ca_pem.into(),
            parsed,
            used: true,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = state.by_name.entry(source.name.to_owned()).or_default();
        match entries
            .iter_mut()
            .find(|kept| kept.namespace == entry.namespace)
        {
            Some(kept) => *kept = entry,
            None => entries.push(entry),
        }
    }

    /// The number of profiles kept.
    pub(crate) fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.by_name.values().map(Vec::len).sum()
    }
}

impl std::fmt::Debug for ParsedClusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedClusters")
            .field("profiles", &self.len())
            .finish()
    }
}

impl State {
    /// Drops the entries unused since the last sweep and starts a new interval.
    fn sweep(&mut self, now: Instant) {
        for entries in self.by_name.values_mut() {
            entries.retain_mut(|entry| std::mem::take(&mut entry.used));
        }
        self.by_name.retain(|_, entries| !entries.is_empty());
        self.swept = now;
    }
}
