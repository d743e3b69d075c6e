//! Time helpers shared by the loops: whole-second timestamps, jitter and backoff.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff::Timestamp;

/// Now, in whole seconds: the API server stores times to the second, so what the agent
/// writes compares equal to what it reads back.
pub fn now() -> Timestamp {
    whole_seconds(Timestamp::now())
}

pub use roster_api::conditions::whole_seconds;

/// How long from `now` until `t`; zero when `t` has passed.
pub fn until(t: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// Sleeps until `t` (wall clock).
pub async fn sleep_until(t: Timestamp) {
    tokio::time::sleep(until(t, Timestamp::now())).await;
}

/// A tiny xorshift generator: jitter needs spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock and the process id.
    pub fn from_time() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        // xorshift's state must never be zero.
        Self(seed | 1)
    }

    /// The next value, uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `period` moved by up to `±fraction` of itself; `unit` is uniform in `[0, 1)`.
pub fn jittered(period: Duration, fraction: f64, unit: f64) -> Duration {
    period.mul_f64((1.0 + fraction * (2.0 * unit - 1.0)).max(0.0))
}

/// Exponential backoff between retries of a failing call.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial` and doubles up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_truncates() {
        let t = Timestamp::new(1_700_000_000, 999_999_999).unwrap();
        assert_eq!(
            whole_seconds(t),
            Timestamp::from_second(1_700_000_000).unwrap()
        );
        assert_eq!(now().subsec_nanosecond(), 0);
    }

    #[test]
    fn until_is_never_negative() {
        let t = Timestamp::from_second(100).unwrap();
        let later = Timestamp::from_second(130).unwrap();
        assert_eq!(until(later, t), Duration::from_secs(30));
        assert_eq!(until(t, later), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_spreads() {
        let mut rng = Rng::new(42);
        let period = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..1000)
            .map(|_| jittered(period, 0.1, rng.unit()))
            .collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= Duration::from_secs(9) && *d <= Duration::from_secs(11))
        );
        assert!(samples.iter().any(|d| *d < Duration::from_millis(9500)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(10500)));
        assert_eq!(jittered(period, 0.1, 0.5), period);
    }

    #[test]
    fn a_zero_seed_still_produces_values() {
        let mut rng = Rng::new(0);
        let a = rng.unit();
        let b = rng.unit();
        assert!((0.0..1.0).contains(&a) && a != b);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}
