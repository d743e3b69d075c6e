//! Which members' hub-side objects are known to be in place, so a reconcile applies them only
//! when needed: after a member's first reconcile in this leadership, after its spec changed, and
//! after one of its objects drifted (see `drift`).
//!
//! A drift noticed while a reconcile is applying must not be lost when that reconcile then
//! records the member as prepared: each invalidation bumps an epoch, and a preparation counts
//! only if no invalidation happened since it began.

use std::{collections::HashMap, sync::Mutex};

/// What a preparation is for: the MemberCluster's uid and generation.
pub type Version = (String, i64);

#[derive(Debug, Default)]
struct Entry {
    prepared: Option<Version>,
    epoch: u64,
}

/// The members whose hub-side objects are in place, and for which version of them.
#[derive(Debug, Default)]
pub struct Prepared {
    entries: Mutex<HashMap<String, Entry>>,
}

/// A preparation under way, from [`Prepared::begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl Prepared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `member`'s objects are in place for `version`.
    pub fn is_current(&self, member: &str, version: &Version) -> bool {
        self.lock()
            .get(member)
            .is_some_and(|e| e.prepared.as_ref() == Some(version))
    }

    /// A preparation of `member` begins.
    pub fn begin(&self, member: &str) -> Ticket {
        Ticket(self.lock().get(member).map_or(0, |e| e.epoch))
    }

    /// The preparation `ticket` of `member` for `version` succeeded; recorded unless the
    /// member was invalidated since it began. Returns whether it was recorded.
    pub fn finish(&self, member: &str, version: Version, ticket: Ticket) -> bool {
        let mut entries = self.lock();
        let entry = entries.entry(member.to_owned()).or_default();
        if entry.epoch != ticket.0 {
            return false;
        }
        entry.prepared = Some(version);
        true
    }

    /// One of `member`'s objects drifted: the next reconcile prepares it again.
    pub fn invalidate(&self, member: &str) {
        let mut entries = self.lock();
        let entry = entries.entry(member.to_owned()).or_default();
        entry.prepared = None;
        entry.epoch += 1;
    }

    /// Forgets every member `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(generation: i64) -> Version {
        ("uid".into(), generation)
    }

    #[test]
    fn a_preparation_counts_for_its_version_only() {
        let p = Prepared::default();
        assert!(!p.is_current("m", &v(1)));
        let t = p.begin("m");
        assert!(p.finish("m", v(1), t));
        assert!(p.is_current("m", &v(1)));
        assert!(!p.is_current("m", &v(2)), "the spec changed");
        p.invalidate("m");
        assert!(!p.is_current("m", &v(1)), "an object drifted");
    }

    #[test]
    fn a_drift_during_a_preparation_is_not_lost() {
        let p = Prepared::default();
        let t = p.begin("m");
        p.invalidate("m");
        assert!(!p.finish("m", v(1), t));
        assert!(!p.is_current("m", &v(1)));
        let t = p.begin("m");
        assert!(p.finish("m", v(1), t));
        assert!(p.is_current("m", &v(1)));
        p.retain(|_| false);
        assert!(!p.is_current("m", &v(1)));
    }
}
