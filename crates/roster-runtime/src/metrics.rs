//! Metric helpers the daemons share.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use prometheus::{
    GaugeVec, Opts,
    core::{Collector, Desc},
    proto::MetricFamily,
};

/// Which way a [`TimeGauge`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Seconds from now until the instant (negative once it passed): time to an expiry.
    Until,
    /// Seconds from the instant until now: an age.
    Since,
}

/// A gauge family of seconds to (or since) an instant per label set, computed when scraped so
/// the value is current however long ago the instant was recorded.
#[derive(Clone)]
pub struct TimeGauge {
    inner: Arc<Inner>,
}

struct Inner {
    gauge: GaugeVec,
    direction: Direction,
    instants: Mutex<BTreeMap<Vec<String>, SystemTime>>,
    now: Box<dyn Fn() -> SystemTime + Send + Sync>,
}

impl std::fmt::Debug for TimeGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeGauge")
            .field("direction", &self.inner.direction)
            .finish_non_exhaustive()
    }
}

impl TimeGauge {
    /// A gauge family with `labels`, measured against the system clock. Register it (a clone)
    /// in a registry to export it.
    pub fn new(opts: Opts, labels: &[&str], direction: Direction) -> prometheus::Result<Self> {
        Self::with_clock(opts, labels, direction, SystemTime::now)
    }

    /// Like [`TimeGauge::new`], measured against `now`.
    pub fn with_clock(
        opts: Opts,
        labels: &[&str],
        direction: Direction,
        now: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> prometheus::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                gauge: GaugeVec::new(opts, labels)?,
                direction,
                instants: Mutex::new(BTreeMap::new()),
                now: Box::new(now),
            }),
        })
    }

    /// Records `instant` for the series `labels` (one value per label of the family).
    pub fn set(&self, labels: &[&str], instant: SystemTime) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        self.lock().insert(key, instant);
    }

    /// Removes the series `labels`.
    pub fn remove(&self, labels: &[&str]) {
        self.lock()
            .retain(|key, _| !key.iter().map(String::as_str).eq(labels.iter().copied()));
    }

    /// Keeps only the series whose label values `keep` accepts.
    pub fn retain(&self, mut keep: impl FnMut(&[String]) -> bool) {
        self.lock().retain(|key, _| keep(key));
    }

    /// The label values of every series.
    pub fn series(&self) -> Vec<Vec<String>> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<String>, SystemTime>> {
        self.inner
            .instants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Seconds from `from` to `to`, negative when `to` is earlier.
fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

impl Collector for TimeGauge {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Held across the refill so concurrent scrapes see whole families.
        let instants = self.lock();
        let now = (self.inner.now)();
        self.inner.gauge.reset();
        for (labels, instant) in instants.iter() {
            let seconds = match self.inner.direction {
                Direction::Until => seconds_between(now, *instant),
                Direction::Since => seconds_between(*instant, now),
            };
            self.inner.gauge.with_label_values(labels).set(seconds);
        }
        self.inner.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    };

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    fn values(g: &TimeGauge) -> Vec<(Vec<String>, f64)> {
        g.collect()
            .iter()
            .flat_map(|f| f.get_metric().to_vec())
            .map(|m| {
                let labels = m.get_label().iter().map(|l| l.value().to_owned()).collect();
                (labels, m.get_gauge().get_value())
            })
            .collect()
    }

    #[test]
    fn values_follow_the_clock_and_series_can_be_removed() {
        let now = Arc::new(AtomicU64::new(100));
        let clock = now.clone();
        let g = TimeGauge::with_clock(
            Opts::new("t_seconds", "test"),
            &["a", "b"],
            Direction::Until,
            move || at(clock.load(Ordering::Relaxed)),
        )
        .unwrap();
        g.set(&["x", "1"], at(160));
        g.set(&["y", "2"], at(130));
        assert_eq!(
            values(&g),
            [
                (vec!["x".into(), "1".into()], 60.0),
                (vec!["y".into(), "2".into()], 30.0)
            ]
        );
        now.store(140, Ordering::Relaxed);
        assert_eq!(values(&g)[1].1, -10.0, "negative once passed");

        g.remove(&["x", "1"]);
        assert_eq!(g.series(), [vec!["y".to_owned(), "2".to_owned()]]);
        g.retain(|labels| labels[0] != "y");
        assert!(values(&g).is_empty());
    }

    #[test]
    fn ages_grow() {
        let g = TimeGauge::with_clock(
            Opts::new("age_seconds", "test"),
            &["m"],
            Direction::Since,
            || at(50),
        )
        .unwrap();
        g.set(&["m1"], at(45));
        assert_eq!(values(&g), [(vec!["m1".to_owned()], 5.0)]);
    }

    #[test]
    fn exported_through_a_registry() {
        let registry = prometheus::Registry::new();
        let g = TimeGauge::new(Opts::new("exp_seconds", "test"), &["k"], Direction::Until).unwrap();
        registry.register(Box::new(g.clone())).unwrap();
        g.set(&["v"], SystemTime::now() + Duration::from_secs(3600));
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains("exp_seconds{k=\"v\"} 3599"), "{text}");
    }
}
