//! Time helpers shared by the loops: whole-second timestamps. Retry delays and jitter are
//! `roster_runtime::backoff`.

use std::time::Duration;

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
}
