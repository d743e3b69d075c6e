//! Retry delays for the hub's watches: `roster_runtime::backoff`'s watch delays (from about
//! 250 ms, doubling, never above 5 s, with jitter), in the shape kube's watcher takes.
//!
//! kube's default (0.8 s doubling to 30 s, reset after 2 minutes) grows so long during an API
//! server outage that the watches come back a minute after the server does, and health
//! follows them. Watches are cheap to retry; a short cap keeps the hub current.

use std::time::Duration;

use roster_runtime::backoff::Backoff;

/// The watch backoff.
#[derive(Debug)]
pub struct WatchBackoff(Backoff);

impl Default for WatchBackoff {
    fn default() -> Self {
        Self(Backoff::watch())
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.0.next_delay())
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.0.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff as _;
    use roster_runtime::backoff::{WATCH_CAP, WATCH_FIRST};

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = WatchBackoff::default();
        let delays: Vec<_> = b.by_ref().take(20).collect();
        assert!(delays[0] <= WATCH_FIRST);
        assert!(delays.iter().all(|d| *d <= WATCH_CAP));
        assert!(delays[19] >= WATCH_CAP / 2);
        b.reset();
        assert!(b.next().is_some_and(|d| d <= WATCH_FIRST));
    }
}
