//! What the hub last wrote, so a reconcile that runs before the watch shows the write does not
//! write the same thing again.

use std::{collections::HashMap, sync::Mutex};

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
}
