//! What the hub last wrote, so a reconcile that runs before the watch shows the write neither
//! writes the same thing again nor decides from the status the write replaced.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use kube::{Resource, ResourceExt, core::object::HasStatus};

/// Per object: the resourceVersion the API server returned for our last write, and what we wrote.
#[derive(Debug)]
pub struct WriteCache<T> {
    entries: Mutex<HashMap<String, (u64, T)>>,
}

impl<T> Default for WriteCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

fn version(rv: Option<&str>) -> u64 {
    // etcd-backed API servers hand out increasing revision numbers.
    rv.and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl<T: PartialEq + Clone> WriteCache<T> {
    /// The content to compare against: ours if the observed object is older than our last
    /// write, else the observed one. Once the watch shows our write (or a later one) the entry
    /// is dropped: the cache only holds writes in flight, not a copy of every object.
    pub fn current(&self, key: &str, observed_rv: Option<&str>, observed: Option<T>) -> Option<T> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((written, ours)) if version(observed_rv) < *written => Some(ours.clone()),
            Some(_) => {
                entries.remove(key);
                observed
            }
            None => observed,
        }
    }

    /// `object` with the status the hub last wrote (under `key`) when the watch has not shown
    /// that write yet. A decision made from the older status takes the hub's own transitions
    /// for new ones: a condition's `lastTransitionTime` moved again, its Event recorded twice.
    pub fn latest<K>(&self, key: &str, object: Arc<K>) -> Arc<K>
    where
        K: Resource + HasStatus<Status = T> + Clone,
    {
        let observed = object.status().cloned();
        let status = self.current(key, object.resource_version().as_deref(), observed);
        if status.as_ref() == object.status() {
            return object;
        }
        let mut newer = (*object).clone();
        *newer.status_mut() = status;
        Arc::new(newer)
    }

    /// Forgets every key `keep` refuses (objects that no longer exist).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|k, _| keep(k));
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a write that the API server answered with `rv`.
    pub fn record(&self, key: &str, rv: Option<&str>, written: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key.to_owned(), (version(rv), written));
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use roster_api::{
        MemberCluster, MemberClusterSpec, MemberClusterStatus, conditions::CONDITION_JOINED,
    };

    use super::*;

    #[test]
    fn stale_observations_are_replaced_by_our_write() {
        let cache = WriteCache::default();
        assert_eq!(cache.current("a", Some("5"), Some(1)), Some(1));
        cache.record("a", Some("10"), 2);
        assert_eq!(
            cache.current("a", Some("5"), Some(1)),
            Some(2),
            "the watch has not caught up"
        );
        assert_eq!(cache.current("a", Some("10"), Some(2)), Some(2));
        assert!(cache.is_empty(), "caught up: nothing left to remember");
        cache.record("a", Some("10"), 2);
        assert_eq!(
            cache.current("a", Some("11"), Some(3)),
            Some(3),
            "someone wrote after us"
        );
        cache.record("b", Some("12"), 4);
        cache.retain(|k| k == "b");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.current("a", Some("1"), Some(9)),
            Some(9),
            "a was forgotten"
        );
    }

    fn status(joined: &str, at: i64) -> Option<MemberClusterStatus> {
        Some(MemberClusterStatus {
            conditions: vec![Condition {
                type_: CONDITION_JOINED.into(),
                status: joined.into(),
                reason: "Test".into(),
                message: String::new(),
                last_transition_time: Time(
                    k8s_openapi::jiff::Timestamp::from_second(at).expect("a time"),
                ),
                observed_generation: None,
            }],
            ..MemberClusterStatus::default()
        })
    }

    fn member(rv: &str, status: Option<MemberClusterStatus>) -> Arc<MemberCluster> {
        let mut m = MemberCluster::new("member-1", MemberClusterSpec::default());
        m.metadata.resource_version = Some(rv.into());
        m.status = status;
        Arc::new(m)
    }

    #[test]
    fn decisions_start_from_the_hubs_own_write_until_the_cache_shows_it() {
        let writes = WriteCache::default();
        // The hub saw the member awaiting its agent (version 5) and wrote Joined=True at 200.
        writes.record(
            "member-1",
            Some("10"),
            status("True", 200).expect("a status"),
        );
        let lagging = writes.latest("member-1", member("5", status("Unknown", 100)));
        assert_eq!(
            lagging.status,
            status("True", 200),
            "the cache still shows version 5: decide from the write, whose transition is kept"
        );
        let caught_up = member("10", status("True", 200));
        assert!(
            Arc::ptr_eq(&writes.latest("member-1", caught_up.clone()), &caught_up),
            "the cache shows the write: the cached object is used as it is"
        );
        assert!(writes.is_empty(), "nothing left in flight");
    }
}
