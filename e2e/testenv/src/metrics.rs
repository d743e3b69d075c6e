//! Prometheus text pages (`/metrics` of Roster's daemons and of the API server) read back: the
//! samples of a page by metric name and labels. The e2e tests and the bench read every page
//! through this one parser.

use std::borrow::Cow;

/// One sample line of a page: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Metric name (for a histogram: `<name>_bucket`, `<name>_sum`, `<name>_count`).
    pub name: &'a str,
    /// Label names and (unescaped) values, in the page's order.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value (`+Inf`, `-Inf` and `NaN` included); a timestamp after it is ignored.
    pub value: f64,
}

impl Sample<'_> {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Whether the sample carries every one of `labels` (it may carry more).
    pub fn has(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// Every sample of the page `text`; comments, blank and unreadable lines are passed over.
pub fn parse(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(parse_line)
}

/// The value of the first sample of `name` carrying every one of `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse(text)
        .find(|s| s.name == name && s.has(labels))
        .map(|s| s.value)
}

/// The sum of every sample of `name` carrying every one of `labels`; 0 when none does.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    parse(text)
        .filter(|s| s.name == name && s.has(labels))
        .map(|s| s.value)
        .sum()
}

/// One scraped page, to ask several questions of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page(pub String);

impl Page {
    /// The value of the first sample of `name` carrying every one of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        value(&self.0, name, labels)
    }

    /// The sum of every sample of `name` carrying every one of `labels`; 0 when none does.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sum(&self.0, name, labels)
    }

    /// The page as scraped.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// One line of the text format; `None` for comments, blank and unreadable lines.
fn parse_line(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = inside;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once('=')?;
            let (value, after) = quoted(after.strip_prefix('"')?)?;
            labels.push((key.trim(), value));
            rest = after;
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A label value up to its closing quote (`\\`, `\"` and `\n` unescaped), and what follows it.
fn quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut chars = text.char_indices();
    let mut escaped = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                escaped = true;
                chars.next()?;
            }
            '"' => {
                let raw = &text[..i];
                let value = if escaped {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                };
                return Some((value, &text[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
