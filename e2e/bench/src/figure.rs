//! A measured figure, with its target and note, and the percentiles figures are made of.

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Suite: `fleet`, `credentials`, `admission`, `pods`.
    pub suite: String,
    /// What was measured, for example `hub memory per member (N=1000)`.
    pub name: String,
    /// The value, in `unit`.
    pub value: f64,
    /// Unit: `KiB`, `µs`, `ms`, `s`, `ratio`, `writes/member/h`…
    pub unit: String,
    /// The target, as text (for example `< 20 KiB`), when the issue sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the figure meets its target, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meets_target: Option<bool>,
    /// How it was measured, or why a run stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// A figure without a target.
    pub fn new(suite: &str, name: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            suite: suite.to_owned(),
            name: name.into(),
            value,
            unit: unit.to_owned(),
            target: None,
            meets_target: None,
            note: None,
        }
    }

    /// Adds a target `text` that the figure meets when `meets` holds.
    pub fn target(mut self, text: &str, meets: bool) -> Self {
        self.target = Some(text.to_owned());
        self.meets_target = Some(meets);
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Percentile `p` (0–100) of `samples` (sorted in place), nearest-rank.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut s, 50.0), 50.0);
        assert_eq!(percentile(&mut s, 99.0), 99.0);
        assert_eq!(percentile(&mut s, 100.0), 100.0);
        assert_eq!(percentile(&mut [3.0], 99.0), 3.0);
        assert!(percentile(&mut [], 50.0).is_nan());
    }
}
