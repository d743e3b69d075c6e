//! Retry delays, with jitter, for every loop of Roster: one implementation (`backon`'s
//! exponential backoff), set up here.
//!
//! Each delay is drawn between half and all of the plain doubling sequence's delay (first,
//! 2×first, … up to the cap), so the cap still bounds the wait while replicas and agents that
//! failed together spread out instead of retrying in step.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The first delay of a watch that failed.
pub const WATCH_FIRST: Duration = Duration::from_millis(250);
/// The longest delay of a watch: kube's default (0.8 s doubling to 30 s) grows so long during
/// an API server outage that watches come back a minute after the server does.
pub const WATCH_CAP: Duration = Duration::from_secs(5);

/// Delays growing from about `first` to at most `cap`, restarted by [`Backoff::reset`].
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: backon::ExponentialBackoff,
    cap: Duration,
}

impl Backoff {
    /// Delays between `first / 2` and `first`, doubling up to between `cap / 2` and `cap`.
    pub fn new(first: Duration, cap: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(first / 2)
            .with_max_delay(cap / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            delays: builder.build(),
            cap,
        }
    }

    /// The delays of a watch: [`WATCH_FIRST`] doubling to [`WATCH_CAP`].
    pub fn watch() -> Self {
        Self::new(WATCH_FIRST, WATCH_CAP)
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        // backon adds up to one delay again as jitter; never beyond the cap.
        self.delays.next().unwrap_or(self.cap).min(self.cap)
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

/// `period` moved by a random amount of up to `±fraction` of itself, so that loops started
/// together drift apart.
pub fn jittered(period: Duration, fraction: f64) -> Duration {
    spread(period, fraction, fastrand::f64())
}

/// `period` moved by `fraction · (2·unit − 1)` of itself; `unit` is in `[0, 1)`.
fn spread(period: Duration, fraction: f64, unit: f64) -> Duration {
    period.mul_f64((1.0 + fraction * (2.0 * unit - 1.0)).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn each_delay_is_between_half_and_all_of_the_doubling_one() {
        for _ in 0..200 {
            let mut b = Backoff::watch();
            for plain in [250, 500, 1000, 2000, 4000, 5000, 5000, 5000] {
                let d = ms(b.next_delay());
                assert!(plain / 2 <= d && d <= plain, "{d} ms for {plain} ms");
            }
        }
    }

    #[test]
    fn the_cap_holds_forever_and_reset_starts_again() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(b.by_ref().take(1000).all(|d| d <= Duration::from_secs(60)));
        assert!(b.next_delay() >= Duration::from_secs(30));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn delays_spread() {
        let delays: Vec<_> = (0..50).map(|_| Backoff::watch().next_delay()).collect();
        assert!(delays.iter().any(|d| *d != delays[0]), "{delays:?}");
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_spreads() {
        let period = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..1000).map(|_| jittered(period, 0.1)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= Duration::from_secs(9) && *d <= Duration::from_secs(11))
        );
        assert!(samples.iter().any(|d| *d < Duration::from_millis(9500)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(10500)));
        assert_eq!(spread(period, 0.1, 0.5), period);
        assert_eq!(spread(period, 0.1, 0.0), Duration::from_secs(9));
    }
}
