//! Reading `roster-hub`'s admin server: `/readyz` and the counters of `/metrics`.

use std::{net::SocketAddr, time::Duration};

use roster_testenv::{admin, metrics};

/// `GET path` on `roster-hub`'s admin port: status and body, or `None` while nothing listens.
pub async fn get(address: SocketAddr, path: &str) -> anyhow::Result<Option<(u16, String)>> {
    Ok(admin::get(address, path, Duration::from_secs(30))
        .await?
        .map(|a| (a.status, a.body)))
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Scrape(String);

impl Scrape {
    /// Scrapes `address`.
    pub async fn take(address: SocketAddr) -> anyhow::Result<Self> {
        match get(address, "/metrics").await? {
            Some((200, body)) => Ok(Self(body)),
            Some((status, _)) => anyhow::bail!("roster-hub /metrics answered {status}"),
            None => anyhow::bail!("roster-hub's admin server ({address}) does not answer"),
        }
    }

    /// Scrapes the API server behind `client` (its `/metrics`, which is large at scale).
    pub async fn apiserver(client: &kube::Client) -> anyhow::Result<Self> {
        let request = http::Request::get("/metrics").body(Vec::new())?;
        Ok(Self(client.request_text(request).await?))
    }

    /// Requests the API server refused for load (429) so far.
    pub fn too_many_requests(&self) -> f64 {
        self.sum("apiserver_request_total", &[("code", "429")])
    }

    /// Events created so far (by anyone; the hub records one per condition transition).
    pub fn events_created(&self) -> f64 {
        self.sum(
            "apiserver_request_total",
            &[("resource", "events"), ("verb", "POST")],
        )
    }

    /// The sum of every sample of `metric` whose labels include each of `labels`.
    pub fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        metrics::sum(&self.0, metric, labels)
    }

    /// The counters the fleet suite follows.
    pub fn counters(&self) -> Counters {
        Counters {
            profile_writes: self.sum("roster_profile_writes_total", &[]),
            status_writes: self.sum("roster_member_status_writes_total", &[]),
            reconciles: self.sum("roster_reconcile_total", &[("controller", "member")]),
            reconcile_errors: self
                .sum("roster_reconcile_errors_total", &[("controller", "member")]),
        }
    }
}

/// The hub's write and reconcile counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// `roster_profile_writes_total`.
    pub profile_writes: f64,
    /// `roster_member_status_writes_total`.
    pub status_writes: f64,
    /// `roster_reconcile_total{controller="member"}`.
    pub reconciles: f64,
    /// `roster_reconcile_errors_total{controller="member"}`.
    pub reconcile_errors: f64,
}

impl Counters {
    /// The increase from `earlier` to `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            profile_writes: self.profile_writes - earlier.profile_writes,
            status_writes: self.status_writes - earlier.status_writes,
            reconciles: self.reconciles - earlier.reconciles,
            reconcile_errors: self.reconcile_errors - earlier.reconcile_errors,
        }
    }

    /// Profile and MemberCluster status writes together.
    pub fn writes(&self) -> f64 {
        self.profile_writes + self.status_writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP roster_profile_writes_total ClusterProfile writes.
# TYPE roster_profile_writes_total counter
roster_profile_writes_total 12
roster_member_status_writes_total 30
roster_reconcile_total{controller=\"member\",result=\"ok\"} 100
roster_reconcile_total{controller=\"member\",result=\"error\"} 4
roster_reconcile_total{controller=\"remote-access\",result=\"ok\"} 7
roster_reconcile_errors_total{category=\"kube\",controller=\"member\"} 4
roster_reconcile_total_other 1
";

    #[test]
    fn counters_sum_matching_series() {
        let s = Scrape(TEXT.to_owned());
        let c = s.counters();
        assert_eq!(
            c,
            Counters {
                profile_writes: 12.0,
                status_writes: 30.0,
                reconciles: 104.0,
                reconcile_errors: 4.0
            }
        );
        assert_eq!(s.sum("roster_reconcile_total", &[]), 111.0);
        assert_eq!(s.sum("missing", &[]), 0.0);
        let api = Scrape(
            "apiserver_request_total{code=\"429\",verb=\"PATCH\"} 3\n\
             apiserver_request_total{code=\"200\",verb=\"PATCH\"} 9\n\
             apiserver_request_total{code=\"429\",verb=\"POST\"} 2\n"
                .to_owned(),
        );
        assert_eq!(api.too_many_requests(), 5.0);
        assert_eq!(api.events_created(), 0.0);
        let earlier = Counters {
            profile_writes: 2.0,
            ..Counters::default()
        };
        assert_eq!(c.since(&earlier).profile_writes, 10.0);
        assert_eq!(c.writes(), 42.0);
    }
}
