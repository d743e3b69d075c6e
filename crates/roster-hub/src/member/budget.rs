//! The KEP's write budget for each ClusterProfile: bursts of up to 10 writes, one per 30 s on
//! average. A token bucket, with time passed in.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

/// Writes allowed in a burst.
pub const BURST: f64 = 10.0;

/// Seconds to earn one write.
pub const REFILL_SECONDS: f64 = 30.0;

/// One profile's bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBudget {
    tokens: f64,
    updated: Timestamp,
}

impl WriteBudget {
    /// A full bucket.
    pub fn new(now: Timestamp) -> Self {
        Self {
            tokens: BURST,
            updated: now,
        }
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.duration_since(self.updated).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed / REFILL_SECONDS).min(BURST);
        self.updated = now;
    }

    /// Takes one write if the budget allows; otherwise says how long until it will.
    pub fn try_take(&mut self, now: Timestamp) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) * REFILL_SECONDS,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn bursts_ten_then_one_per_thirty_seconds() {
        let mut b = WriteBudget::new(t(0));
        for _ in 0..10 {
            assert!(b.try_take(t(0)).is_ok());
        }
        let wait = b.try_take(t(0)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        assert_eq!(b.try_take(t(15)).unwrap_err(), Duration::from_secs(15));
        assert!(b.try_take(t(30)).is_ok());
        assert!(b.try_take(t(30)).is_err());
        // A long quiet period refills to the burst, not beyond.
        let mut writes = 0;
        while b.try_take(t(100_000)).is_ok() {
            writes += 1;
        }
        assert_eq!(writes, 10);
    }
}
