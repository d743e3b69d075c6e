//! Time, injectable so decisions can be tested at any instant.

use std::fmt::Debug;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock stopped at one instant, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// `t` truncated to whole seconds: the precision the API server stores a `metav1.Time` at, so a
/// time computed here compares equal to the one read back.
pub fn whole_seconds(t: Timestamp) -> Time {
    Time(roster_api::conditions::whole_seconds(t))
}
