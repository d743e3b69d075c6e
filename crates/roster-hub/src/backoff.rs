//! Retry delays for the hub's watches: exponential from 250 ms, capped at 5 s.
//!
//! kube's default (0.8 s doubling to 30 s, reset after 2 minutes) grows so long during an API
//! server outage that the watches come back a minute after the server does, and health
//! follows them. Watches are cheap to retry; a short cap keeps the hub current.

use std::time::Duration;

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(5);

/// The watch backoff.
#[derive(Debug, Default, Clone)]
pub struct WatchBackoff {
    failures: u32,
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = FIRST.saturating_mul(1 << self.failures.min(16)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        Some(delay)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = WatchBackoff::default();
        let delays: Vec<_> = b.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(FIRST));
    }
}
