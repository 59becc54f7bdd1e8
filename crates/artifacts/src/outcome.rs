//! Outcome contracts: `work/missions/<name>/OUTCOME-CONTRACT.md` — what a mission must achieve in
//! production, how it is measured and when (Step 5 of the Ship loop).

use crate::document::Document;
use crate::error::ParseError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How a metric's actual value is compared with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>=`: the actual must reach the target.
    #[serde(rename = ">=")]
    AtLeast,
    /// `<=`: the actual must stay at or below the target.
    #[serde(rename = "<=")]
    AtMost,
    /// `within`: the actual must lie between `target` and `target_max`.
    #[serde(rename = "within")]
    Within,
}

/// One outcome metric: what is measured, where, and the target it must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// The metric's name, unique within the contract (it names the report's chart).
    pub name: String,
    /// Where the query runs: `builtin` (ship's proxy) or `prometheus`.
    pub source: String,
    /// The query the source runs for the metric's value.
    pub query: String,
    /// How the actual value is compared with the target.
    pub comparison: Comparison,
    /// The target for `>=` / `<=`; the lower bound for `within`.
    pub target: f64,
    /// The upper bound for `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_max: Option<f64>,
    /// A reference value the outcome report compares the actual with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// The unit of the value, for people reading the contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Metric {
    /// Whether an actual value meets the target. NaN never does.
    pub fn met_by(&self, actual: f64) -> bool {
        if actual.is_nan() {
            return false;
        }
        match self.comparison {
            Comparison::AtLeast => actual >= self.target,
            Comparison::AtMost => actual <= self.target,
            Comparison::Within => {
                actual >= self.target && self.target_max.is_some_and(|max| actual <= max)
            }
        }
    }
}

/// A named date on which the mission's outcome metrics are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The checkpoint's name (e.g. `week-1`), unique within the contract.
    pub name: String,
    /// The day the measurement is due.
    pub date: NaiveDate,
}

/// An outcome contract's frontmatter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeMeta {
    /// The mission the contract belongs to.
    pub mission: String,
    /// What the mission must achieve in production.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// When the metrics are measured.
    #[serde(default)]
    pub measurement_schedule: Vec<Checkpoint>,
    /// The mission's release contracts, added as each is compiled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
}

/// An outcome contract: its frontmatter and the body people write.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeContract {
    /// The frontmatter: mission, metrics and measurement schedule.
    pub meta: OutcomeMeta,
    /// The markdown after the frontmatter, kept as written.
    pub body: String,
}

impl OutcomeContract {
    /// Parses an outcome contract; a `within` metric without `target_max`, or names that would
    /// share a file, are errors at their line.
    pub fn parse(text: &str) -> Result<OutcomeContract, ParseError> {
        let doc = Document::split(text)?;
        let meta: OutcomeMeta = doc.parse_meta()?;
        // The line of `name: <name>` in the frontmatter, for errors about one entry.
        let line_of = |name: &str| {
            doc.yaml
                .lines()
                .position(|l| {
                    let l = l.trim_start().trim_start_matches("- ").trim();
                    l.strip_prefix("name:")
                        .is_some_and(|v| v.trim().trim_matches(['\'', '"']) == name)
                })
                .map(|i| doc.yaml_line + i)
                .unwrap_or(doc.yaml_line)
        };
        for m in &meta.metrics {
            if m.comparison == Comparison::Within && m.target_max.is_none() {
                return Err(ParseError::new(
                    line_of(&m.name),
                    1,
                    format!("metric `{}` uses `within` but has no `target_max`", m.name),
                ));
            }
        }
        // Names become file names (reports, charts) through their slug: two that share one
        // would overwrite each other.
        let names = meta.metrics.iter().map(|m| ("metric", &m.name)).chain(
            meta.measurement_schedule
                .iter()
                .map(|c| ("checkpoint", &c.name)),
        );
        let mut seen: Vec<(&str, String, &String)> = vec![];
        for (what, name) in names {
            let slug = crate::signal::slug(name);
            if slug.is_empty() {
                return Err(ParseError::new(
                    line_of(name),
                    1,
                    format!("{what} name `{name}` needs letters or digits"),
                ));
            }
            if let Some((_, _, other)) = seen.iter().find(|(w, s, _)| *w == what && *s == slug) {
                return Err(ParseError::new(
                    line_of(name),
                    1,
                    format!("{what} `{name}` has the same name as `{other}` (names must differ in letters or digits)"),
                ));
            }
            seen.push((what, slug, name));
        }
        Ok(OutcomeContract {
            meta,
            body: doc.body,
        })
    }

    /// The contract as file text.
    pub fn render(&self) -> String {
        Document::render_file(&self.meta, &self.body)
    }

    /// The checkpoints on or before `today`, in date order.
    pub fn due(&self, today: NaiveDate) -> Vec<&Checkpoint> {
        let mut due: Vec<&Checkpoint> = self
            .meta
            .measurement_schedule
            .iter()
            .filter(|c| c.date <= today)
            .collect();
        due.sort_by_key(|c| c.date);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "---\nmission: checkout\nmetrics:\n- name: conversion\n  source: prometheus\n  query: sum(rate(orders_total[1d]))\n  comparison: '>='\n  target: 0.031\n  baseline: 0.028\n- name: p99\n  source: builtin\n  query: p99\n  comparison: within\n  target: 0\n  target_max: 0.3\nmeasurement_schedule:\n- name: week-1\n  date: 2026-12-04\n- name: day-30\n  date: 2026-12-27\n---\n# Outcome contract\n";

    #[test]
    fn parses_metrics_and_schedule() {
        let o = OutcomeContract::parse(TEXT).unwrap();
        assert_eq!(o.meta.metrics.len(), 2);
        assert!(o.meta.metrics[0].met_by(0.04));
        assert!(!o.meta.metrics[0].met_by(0.02));
        assert!(o.meta.metrics[1].met_by(0.2));
        assert!(!o.meta.metrics[1].met_by(0.5));
        assert!(!o.meta.metrics[1].met_by(f64::NAN));
        let today = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
        assert_eq!(o.due(today).len(), 1);
        assert_eq!(OutcomeContract::parse(&o.render()).unwrap(), o);
    }

    #[test]
    fn names_that_would_share_a_file_are_refused_at_their_line() {
        let dup = TEXT.replace("- name: day-30", "- name: Week-1");
        let e = OutcomeContract::parse(&dup).unwrap_err();
        assert!(e.message.contains("same name as `week-1`"), "{e:?}");
        assert_eq!(e.line, 19);
        let dup = TEXT.replace("- name: p99", "- name: conversion");
        assert!(OutcomeContract::parse(&dup)
            .unwrap_err()
            .message
            .contains("metric"));
    }

    #[test]
    fn within_needs_an_upper_bound() {
        let bad = TEXT.replace("  target_max: 0.3\n", "");
        let e = OutcomeContract::parse(&bad).unwrap_err();
        assert!(e.message.contains("target_max"));
        assert_eq!(e.line, 10, "the line of `- name: p99`");
    }
}
