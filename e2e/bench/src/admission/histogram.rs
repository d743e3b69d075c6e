//! Prometheus histograms read from a `/metrics` text page (parsed by
//! [`roster_testenv::metrics`]): the series of one histogram that match some labels, summed;
//! the difference of two scrapes; quantiles interpolated within buckets the way PromQL's
//! `histogram_quantile` does.

use std::collections::BTreeMap;

use roster_testenv::metrics;

/// A cumulative histogram: `(upper bound, observations ≤ bound)` by increasing bound, the last
/// bound `+Inf`; plus the sum of the observations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Cumulative counts by upper bound (seconds), increasing, ending with `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of the observations (seconds).
    pub sum: f64,
}

impl Histogram {
    /// The histogram `name` in the page `text`, summing every series whose labels include all
    /// of `labels`. Empty when no series matches.
    pub fn parse(text: &str, name: &str, labels: &[(&str, &str)]) -> Self {
        let bucket_name = format!("{name}_bucket");
        let sum_name = format!("{name}_sum");
        let mut by_bound: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        let mut sum = 0.0;
        for sample in metrics::parse(text).filter(|s| s.has(labels)) {
            if sample.name == bucket_name {
                let Some(le) = sample.label("le").and_then(|v| v.parse::<f64>().ok()) else {
                    continue;
                };
                // Bounds are positive: their bit patterns sort like the numbers.
                let entry = by_bound.entry(le.to_bits()).or_insert((le, 0.0));
                entry.1 += sample.value;
            } else if sample.name == sum_name {
                sum += sample.value;
            }
        }
        Self {
            buckets: by_bound.into_values().collect(),
            sum,
        }
    }

    /// Observations in total.
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |(_, c)| *c)
    }

    /// Mean of the observations, seconds (exact: sum over count).
    pub fn mean(&self) -> f64 {
        self.sum / self.count()
    }

    /// `self - before`: the observations made between two scrapes of the same process.
    pub fn since(&self, before: &Self) -> Self {
        let earlier = |le: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c)
        };
        Self {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| (le, c - earlier(le)))
                .collect(),
            sum: self.sum - before.sum,
        }
    }

    /// Share (0–1) of the observations at most `bound`, when `bound` is a bucket bound.
    pub fn share_at_most(&self, bound: f64) -> Option<f64> {
        let (_, c) = self.buckets.iter().find(|(le, _)| *le == bound)?;
        Some(c / self.count())
    }

    /// The `q` quantile (0–1), interpolated linearly within its bucket, the lower bound of the
    /// first bucket being 0; the highest finite bound when it falls in the `+Inf` bucket (as
    /// PromQL's `histogram_quantile`). NaN without observations.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total <= 0.0 || self.buckets.is_empty() {
            return f64::NAN;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(le, cumulative) in &self.buckets {
            if cumulative >= rank {
                if le.is_infinite() {
                    return lower.0;
                }
                let in_bucket = cumulative - lower.1;
                if in_bucket <= 0.0 {
                    return le;
                }
                return lower.0 + (le - lower.0) * (rank - lower.1) / in_bucket;
            }
            lower = (le, cumulative);
        }
        lower.0
    }

    /// The bucket `[lower, upper]` (seconds) the `q` quantile falls in.
    pub fn quantile_bucket(&self, q: f64) -> Option<(f64, f64)> {
        let rank = q * self.count();
        let mut lower = 0.0;
        for &(le, cumulative) in &self.buckets {
            if cumulative >= rank {
                return Some((lower, le));
            }
            lower = le;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PAGE: &str = r#"
# HELP apiserver_admission_webhook_admission_duration_seconds [STABLE] Admission webhook latency
# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="false",type="admit",le="0.005"} 90
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="false",type="admit",le="0.025"} 99
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="false",type="admit",le="+Inf"} 100
apiserver_admission_webhook_admission_duration_seconds_sum{name="pods.roster.dev",operation="CREATE",rejected="false",type="admit"} 0.5
apiserver_admission_webhook_admission_duration_seconds_count{name="pods.roster.dev",operation="CREATE",rejected="false",type="admit"} 100
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="true",type="admit",le="0.005"} 1
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="true",type="admit",le="0.025"} 1
apiserver_admission_webhook_admission_duration_seconds_bucket{name="pods.roster.dev",operation="CREATE",rejected="true",type="admit",le="+Inf"} 1
apiserver_admission_webhook_admission_duration_seconds_sum{name="pods.roster.dev",operation="CREATE",rejected="true",type="admit"} 0.001
apiserver_admission_webhook_admission_duration_seconds_bucket{name="other",operation="CREATE",rejected="false",type="admit",le="0.005"} 7
apiserver_admission_webhook_admission_duration_seconds_bucket{name="other",operation="CREATE",rejected="false",type="admit",le="+Inf"} 7
roster_webhook_duration_seconds_bucket{le="0.0005"} 3 1700000000000
"#;

    const NAME: &str = "apiserver_admission_webhook_admission_duration_seconds";

    #[test]
    fn sums_the_matching_series() {
        let h = Histogram::parse(
            PAGE,
            NAME,
            &[("name", "pods.roster.dev"), ("type", "admit")],
        );
        assert_eq!(
            h.buckets,
            vec![(0.005, 91.0), (0.025, 100.0), (f64::INFINITY, 101.0)]
        );
        assert_eq!(h.count(), 101.0);
        assert!((h.sum - 0.501).abs() < 1e-12);
        let other = Histogram::parse(PAGE, NAME, &[("name", "other")]);
        assert_eq!(other.count(), 7.0);
        assert_eq!(
            Histogram::parse(PAGE, NAME, &[("name", "missing")]),
            Histogram::default()
        );
        let timestamped = Histogram::parse(PAGE, "roster_webhook_duration_seconds", &[]);
        assert_eq!(timestamped.buckets, vec![(0.0005, 3.0)]);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let h = Histogram {
            buckets: vec![(0.005, 90.0), (0.025, 99.0), (f64::INFINITY, 100.0)],
            sum: 0.5,
        };
        // Rank 50 of 90 in [0, 5 ms].
        assert!((h.quantile(0.5) - 0.005 * 50.0 / 90.0).abs() < 1e-12);
        // Rank 95: 5 of the 9 in [5, 25 ms].
        assert!((h.quantile(0.95) - (0.005 + 0.020 * 5.0 / 9.0)).abs() < 1e-12);
        // Rank 99 is exactly the 25 ms bound; beyond it, the +Inf bucket gives the last bound.
        assert!((h.quantile(0.99) - 0.025).abs() < 1e-12);
        assert_eq!(h.quantile(0.999), 0.025);
        assert_eq!(h.quantile_bucket(0.95), Some((0.005, 0.025)));
        assert_eq!(h.share_at_most(0.005), Some(0.9));
        assert_eq!(h.share_at_most(0.006), None);
        assert!((h.mean() - 0.005).abs() < 1e-12);
        assert!(Histogram::default().quantile(0.5).is_nan());
    }

    #[test]
    fn difference_of_two_scrapes() {
        let before = Histogram {
            buckets: vec![(0.005, 10.0), (f64::INFINITY, 12.0)],
            sum: 0.1,
        };
        let after = Histogram {
            buckets: vec![(0.005, 30.0), (f64::INFINITY, 32.0)],
            sum: 0.2,
        };
        let delta = after.since(&before);
        assert_eq!(delta.buckets, vec![(0.005, 20.0), (f64::INFINITY, 20.0)]);
        assert!((delta.sum - 0.1).abs() < 1e-12);
        // A series that appeared between the scrapes counts from zero.
        assert_eq!(after.since(&Histogram::default()), after);
    }
}
