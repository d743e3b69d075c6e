//! When a grant's token must be minted again: never delivered, minted for an older spec or
//! another service account, or past the refresh point of the life the API server granted.

use k8s_openapi::jiff::Timestamp;
use roster_api::RemoteAccountGrant;

/// Default point of a token's granted life at which it is refreshed.
pub const DEFAULT_FRACTION: f64 = 0.8;

/// What the agent last delivered, as the grant's status and Secret say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// When the delivered token was minted.
    pub minted: Timestamp,
    /// When it expires.
    pub expires: Timestamp,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Mint and deliver a token now.
    Now,
    /// The delivered token is good until this refresh point.
    At(Timestamp),
}

/// Whether `grant`'s token needs minting now, for the service account with UID `sa_uid`;
/// `secret_expiry` is the expiry the delivery Secret holds (None when it holds no token).
pub fn decide(
    grant: &RemoteAccountGrant,
    sa_uid: &str,
    secret_expiry: Option<Timestamp>,
    now: Timestamp,
    fraction: f64,
) -> Refresh {
    let Some(status) = grant.status.as_ref() else {
        return Refresh::Now;
    };
    let current = status.ready
        && status.observed_generation == grant.metadata.generation
        && status.service_account_uid == sa_uid;
    let delivered = match (&status.last_refresh, &status.token_expiry) {
        (Some(minted), Some(expires)) if secret_expiry == Some(expires.0) => Delivered {
            minted: minted.0,
            expires: expires.0,
        },
        _ => return Refresh::Now,
    };
    if !current {
        return Refresh::Now;
    }
    let at = refresh_point(delivered, fraction);
    if now >= at {
        Refresh::Now
    } else {
        Refresh::At(at)
    }
}

/// `fraction` of the way through the delivered token's life.
pub fn refresh_point(d: Delivered, fraction: f64) -> Timestamp {
    let life = d.expires.duration_since(d.minted);
    (d.minted + life.mul_f64(fraction.clamp(0.0, 1.0))).max(d.minted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use roster_api::{RemoteAccountGrantSpec, RemoteAccountGrantStatus};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn grant(status: Option<RemoteAccountGrantStatus>) -> RemoteAccountGrant {
        let mut g = RemoteAccountGrant::new("ns.x", RemoteAccountGrantSpec::default());
        g.metadata.generation = Some(1);
        g.status = status;
        g
    }

    fn delivered() -> RemoteAccountGrantStatus {
        RemoteAccountGrantStatus {
            ready: true,
            observed_generation: Some(1),
            service_account_uid: "sa".into(),
            last_refresh: Some(Time(at(1000))),
            token_expiry: Some(Time(at(1600))),
            ..Default::default()
        }
    }

    #[test]
    fn refresh_at_the_fraction_of_the_granted_life() {
        let g = grant(Some(delivered()));
        let secret = Some(at(1600));
        assert_eq!(
            decide(&g, "sa", secret, at(1100), 0.8),
            Refresh::At(at(1480))
        );
        assert_eq!(decide(&g, "sa", secret, at(1480), 0.8), Refresh::Now);
        // Injectable fraction: tests need not wait 80% of ten minutes.
        assert_eq!(
            decide(&g, "sa", secret, at(1001), 0.02),
            Refresh::At(at(1012))
        );
    }

    #[test]
    fn anything_out_of_step_mints_now() {
        let now = at(1100);
        assert_eq!(decide(&grant(None), "sa", None, now, 0.8), Refresh::Now);
        let g = grant(Some(delivered()));
        // The Secret lost the token (or holds another one).
        assert_eq!(decide(&g, "sa", None, now, 0.8), Refresh::Now);
        assert_eq!(decide(&g, "sa", Some(at(9999)), now, 0.8), Refresh::Now);
        // The service account was re-created: the old token is dead.
        assert_eq!(decide(&g, "other", Some(at(1600)), now, 0.8), Refresh::Now);
        // The spec moved on.
        let mut newer = g.clone();
        newer.metadata.generation = Some(2);
        assert_eq!(decide(&newer, "sa", Some(at(1600)), now, 0.8), Refresh::Now);
        // Last attempt failed.
        let mut failed = g;
        failed.status.as_mut().unwrap().ready = false;
        assert_eq!(
            decide(&failed, "sa", Some(at(1600)), now, 0.8),
            Refresh::Now
        );
    }
}
