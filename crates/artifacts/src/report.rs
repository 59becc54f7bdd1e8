//! Outcome reports: `work/missions/<name>/reports/YYYY-MM-DD-<checkpoint>.md`, the Ship loop's
//! Step 5 — actuals against targets and baselines, what worked and what did not, the releases
//! included, and one SVG chart per metric over the measurement period. Pure rendering: the
//! measurements are passed in.

use crate::markdown::cell;
use crate::outcome::{Comparison, Metric};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// One metric at a checkpoint: its definition, the value measured now (or why there is none),
/// and its series over the measurement period for the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    /// The metric as the outcome contract defines it.
    pub metric: Metric,
    /// The value measured at the checkpoint; none when it could not be measured.
    pub actual: Option<f64>,
    /// Why there is no actual (the source failed, no data).
    pub error: Option<String>,
    /// The metric's values over the measurement period, for the chart.
    pub series: Vec<(DateTime<Utc>, f64)>,
}

impl MetricResult {
    /// Met, missed, or None when it could not be measured.
    pub fn met(&self) -> Option<bool> {
        self.actual.map(|a| self.metric.met_by(a))
    }

    /// The target as the report prints it (`>= 0.031`, `0 .. 0.3`).
    pub fn target_text(&self) -> String {
        let m = &self.metric;
        match m.comparison {
            Comparison::AtLeast => format!(">= {}", num(m.target)),
            Comparison::AtMost => format!("<= {}", num(m.target)),
            Comparison::Within => format!(
                "{} .. {}",
                num(m.target),
                m.target_max.map(num).unwrap_or_default()
            ),
        }
    }

    /// File name of the chart, next to the report.
    pub fn chart_file(&self, report_stem: &str) -> String {
        format!(
            "{report_stem}-{}.svg",
            crate::signal::slug(&self.metric.name)
        )
    }
}

/// A number as reports print it: four decimals at most, exponent only when tiny or huge.
pub fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.is_finite() && v.abs() >= 1e-4 && v.abs() < 1e7 {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:e}")
    }
}

/// The outcome report of one mission at one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    /// The mission measured.
    pub mission: String,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// The checkpoint's date in the outcome contract.
    pub checkpoint_date: NaiveDate,
    /// When the metrics were measured.
    pub measured_at: DateTime<Utc>,
    /// The start of the measurement period the charts cover.
    pub period_start: DateTime<Utc>,
    /// The mission's releases the report links to.
    pub releases: Vec<String>,
    /// Each metric's result.
    pub metrics: Vec<MetricResult>,
}

impl OutcomeReport {
    /// `YYYY-MM-DD-<checkpoint>` (the measurement day), without extension.
    pub fn stem(&self) -> String {
        format!(
            "{}-{}",
            self.measured_at.format("%Y-%m-%d"),
            crate::signal::slug(&self.checkpoint)
        )
    }

    /// The metrics measured and missing their target.
    pub fn missed(&self) -> Vec<&MetricResult> {
        self.metrics
            .iter()
            .filter(|m| m.met() == Some(false))
            .collect()
    }

    /// The metrics that could not be measured.
    pub fn unmeasured(&self) -> Vec<&MetricResult> {
        self.metrics.iter().filter(|m| m.met().is_none()).collect()
    }

    /// The markdown report; charts are referenced by [`MetricResult::chart_file`].
    pub fn render(&self) -> String {
        let stem = self.stem();
        let met = self
            .metrics
            .iter()
            .filter(|m| m.met() == Some(true))
            .count();
        let mut out = format!(
            "# Outcome report: {} — {}\n\nCheckpoint **{}** ({}), measured {} over the period from {}.\n\n**{met} of {} targets met.**\n\n| metric | target | actual | baseline | vs baseline | result |\n|---|---|---|---|---|---|\n",
            cell(&self.mission),
            cell(&self.checkpoint),
            cell(&self.checkpoint),
            self.checkpoint_date,
            self.measured_at.format("%Y-%m-%d %H:%M:%SZ"),
            self.period_start.format("%Y-%m-%d %H:%M:%SZ"),
            self.metrics.len(),
        );
        for r in &self.metrics {
            let actual = r.actual.map(num).unwrap_or_else(|| "—".into());
            let baseline = r.metric.baseline.map(num).unwrap_or_else(|| "—".into());
            let delta = match (r.actual, r.metric.baseline) {
                (Some(a), Some(b)) if b != 0.0 => format!("{:+.1} %", (a - b) / b.abs() * 100.0),
                (Some(a), Some(b)) => format!("{:+}", num(a - b)),
                _ => "—".into(),
            };
            let result = match r.met() {
                Some(true) => "met".to_string(),
                Some(false) => "**missed**".to_string(),
                None => format!(
                    "not measured: {}",
                    cell(r.error.as_deref().unwrap_or("no data"))
                ),
            };
            out.push_str(&format!(
                "| {} | {} | {actual} | {baseline} | {delta} | {result} |\n",
                cell(&r.metric.name),
                // Made of numbers and comparison signs, which need no escaping but the pipe.
                r.target_text().replace('|', "\\|")
            ));
        }
        out.push_str("\n## What worked\n\n");
        let worked: Vec<String> = self
            .metrics
            .iter()
            .filter(|m| m.met() == Some(true))
            .map(|m| describe(m, "met its target"))
            .collect();
        push_list(&mut out, &worked, "No target was met.");
        out.push_str("\n## What did not\n\n");
        let mut not: Vec<String> = self
            .missed()
            .iter()
            .map(|m| describe(m, "missed its target"))
            .collect();
        not.extend(self.unmeasured().iter().map(|m| {
            format!(
                "- `{}` could not be measured: {}",
                cell(&m.metric.name),
                cell(m.error.as_deref().unwrap_or("no data"))
            )
        }));
        push_list(&mut out, &not, "Nothing: every target was met.");
        out.push_str("\n## Releases included\n\n");
        let rel: Vec<String> = self
            .releases
            .iter()
            .map(|r| format!("- [{}](../../../releases/{}.md)", cell(r), cell(r)))
            .collect();
        push_list(&mut out, &rel, "None linked to this mission.");
        out.push_str("\n## Charts\n\n");
        for r in &self.metrics {
            out.push_str(&format!(
                "![{}]({})\n\n",
                cell(&r.metric.name),
                r.chart_file(&stem)
            ));
        }
        out
    }
}

impl OutcomeReport {
    /// The performance signal a checkpoint with missed targets owes the feedback loop; its
    /// event names the mission and checkpoint, so measuring the checkpoint again never writes a
    /// second one.
    pub fn missed_signal(&self) -> Option<crate::signal::Signal> {
        use crate::signal::{Severity, Signal, SignalMeta, SignalStatus, SignalType, Source};
        let missed = self.missed();
        if missed.is_empty() {
            return None;
        }
        let mut body = format!(
            "# {} missed {} of {} outcome targets at {}\n\n",
            self.mission,
            missed.len(),
            self.metrics.len(),
            self.checkpoint
        );
        for m in &missed {
            body.push_str(&describe(m, "missed its target"));
            body.push('\n');
        }
        body.push_str(&format!(
            "\nReport: [{}](../missions/{}/reports/{}.md).\n",
            self.stem(),
            self.mission,
            self.stem()
        ));
        Some(Signal {
            meta: SignalMeta {
                title: format!(
                    "Outcome targets missed: {} {}",
                    self.mission, self.checkpoint
                ),
                kind: SignalType::Performance,
                severity: Severity::Medium,
                source: Source {
                    release: self.releases.last().cloned(),
                    mission: Some(self.mission.clone()),
                },
                created: self.measured_at,
                status: SignalStatus::Open,
                event: Some(format!(
                    "outcome-missed:{}:{}",
                    self.mission, self.checkpoint
                )),
            },
            body,
        })
    }
}

fn describe(m: &MetricResult, what: &str) -> String {
    let actual = m.actual.map(num).unwrap_or_default();
    let base = match m.metric.baseline {
        Some(b) => format!(" (baseline {})", num(b)),
        None => String::new(),
    };
    format!(
        "- `{}` {what}: {actual} against {}{base}.",
        cell(&m.metric.name),
        m.target_text()
    )
}

fn push_list(out: &mut String, items: &[String], empty: &str) {
    if items.is_empty() {
        out.push_str(empty);
        out.push('\n');
    } else {
        for i in items {
            out.push_str(i);
            out.push('\n');
        }
    }
}

/// Text for the chart's SVG (an XML file of its own, not part of a page): markdown's cell
/// escaping (`&`, `<`, `>`, control characters as spaces, `|` as `\|`) and quotes.
///
/// Kept by hand rather than written with maud as the dashboard is: this crate is the domain
/// crate everything depends on, where a template engine's proc-macro would sit on every
/// build's critical path for one chart, and maud escapes for HTML, passing control characters
/// through, which an XML file may not contain.
fn esc(s: &str) -> String {
    cell(s).replace('"', "&quot;")
}

/// A line chart of the metric's series with its target (and baseline) as dashed lines; a
/// self-contained SVG that GitHub renders.
pub fn chart(r: &MetricResult) -> String {
    const W: f64 = 640.0;
    const H: f64 = 240.0;
    const L: f64 = 60.0; // left margin for labels
    const B: f64 = 30.0; // bottom margin
    let m = &r.metric;
    let mut values: Vec<f64> = r
        .series
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .collect();
    values.push(m.target);
    values.extend(m.target_max);
    values.extend(m.baseline);
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if (hi - lo).abs() < 1e-12 {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = (hi - lo) * 0.1;
        (lo - pad, hi + pad)
    };
    let y = |v: f64| 10.0 + (H - B - 10.0) * (1.0 - (v - lo) / (hi - lo));
    let (t0, t1) = match (r.series.first(), r.series.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        (Some(a), _) => (a.0, a.0 + chrono::Duration::seconds(1)),
        _ => (
            DateTime::<Utc>::UNIX_EPOCH,
            DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1),
        ),
    };
    let span = (t1 - t0).num_milliseconds().max(1) as f64;
    let x = |t: DateTime<Utc>| L + (W - L - 10.0) * ((t - t0).num_milliseconds() as f64 / span);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n<title>{}</title>\n<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\n<line x1=\"{L}\" y1=\"10\" x2=\"{L}\" y2=\"{}\" stroke=\"#888\"/>\n<text x=\"4\" y=\"{:.1}\">{}</text>\n<text x=\"4\" y=\"{:.1}\">{}</text>\n",
        esc(&m.name),
        H - B,
        W - 10.0,
        H - B,
        H - B,
        y(hi) + 4.0,
        esc(&num(hi)),
        y(lo),
        esc(&num(lo)),
    );
    let mut guide = |v: f64, color: &str, label: &str| {
        svg.push_str(&format!(
            "<line x1=\"{L}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"/>\n<text x=\"{2}\" y=\"{3:.1}\" fill=\"{color}\" text-anchor=\"end\">{4}</text>\n",
            y(v),
            W - 10.0,
            W - 12.0,
            y(v) - 3.0,
            esc(label)
        ));
    };
    guide(m.target, "#c0392b", &format!("target {}", num(m.target)));
    if let Some(max) = m.target_max {
        guide(max, "#c0392b", &format!("target max {}", num(max)));
    }
    if let Some(b) = m.baseline {
        guide(b, "#7f8c8d", &format!("baseline {}", num(b)));
    }
    let points: Vec<String> = r
        .series
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    if points.is_empty() {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data over the period</text>\n",
            (W + L) / 2.0,
            H / 2.0
        ));
    } else {
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#2c7be5\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{L}\" y=\"{:.1}\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n</svg>\n",
        H - 10.0,
        esc(&t0.format("%Y-%m-%d %H:%M").to_string()),
        W - 10.0,
        H - 10.0,
        esc(&t1.format("%Y-%m-%d %H:%M").to_string()),
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn metric(name: &str, comparison: Comparison, target: f64, baseline: Option<f64>) -> Metric {
        Metric {
            name: name.into(),
            source: "prometheus".into(),
            query: "q".into(),
            comparison,
            target,
            target_max: None,
            baseline,
            unit: None,
        }
    }

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn report() -> OutcomeReport {
        OutcomeReport {
            mission: "checkout".into(),
            checkpoint: "week-1".into(),
            checkpoint_date: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            measured_at: at(10),
            period_start: at(-168),
            releases: vec!["2026-11-27-checkout-v2".into()],
            metrics: vec![
                MetricResult {
                    metric: metric("conversion-rate", Comparison::AtLeast, 0.031, Some(0.028)),
                    actual: Some(0.033),
                    error: None,
                    series: vec![(at(0), 0.029), (at(5), 0.032), (at(10), 0.033)],
                },
                MetricResult {
                    metric: metric("p99-seconds", Comparison::AtMost, 0.3, Some(0.35)),
                    actual: Some(0.41),
                    error: None,
                    series: vec![(at(0), 0.3), (at(10), 0.41)],
                },
                MetricResult {
                    metric: metric("refunds", Comparison::AtMost, 5.0, None),
                    actual: None,
                    error: Some("prometheus: connection refused".into()),
                    series: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_report_has_the_table_what_worked_and_what_did_not() {
        let r = report();
        let text = r.render();
        assert!(text.contains("**1 of 3 targets met.**"), "{text}");
        assert!(
            text.contains("| conversion-rate | >= 0.031 | 0.033 | 0.028 | +17.9 % | met |"),
            "{text}"
        );
        assert!(
            text.contains("| p99-seconds | <= 0.3 | 0.41 | 0.35 | +17.1 % | **missed** |"),
            "{text}"
        );
        assert!(
            text.contains("not measured: prometheus: connection refused"),
            "{text}"
        );
        assert!(
            text.contains("## What worked\n\n- `conversion-rate` met its target"),
            "{text}"
        );
        assert!(
            text.contains(
                "- `p99-seconds` missed its target: 0.41 against <= 0.3 (baseline 0.35)."
            ),
            "{text}"
        );
        assert!(
            text.contains("[2026-11-27-checkout-v2](../../../releases/2026-11-27-checkout-v2.md)")
        );
        assert!(
            text.contains("![p99-seconds](2026-12-04-week-1-p99-seconds.svg)"),
            "{text}"
        );
        assert_eq!(r.stem(), "2026-12-04-week-1");
        assert_eq!(r.missed().len(), 1);
        assert_eq!(r.unmeasured().len(), 1);
        let sig = r.missed_signal().unwrap();
        assert_eq!(
            sig.meta.event.as_deref(),
            Some("outcome-missed:checkout:week-1")
        );
        assert!(sig.body.contains("p99-seconds"), "{}", sig.body);
        let mut all_met = r.clone();
        all_met.metrics.truncate(1);
        assert!(all_met.missed_signal().is_none());
    }

    #[test]
    fn charts_are_svg_with_the_series_and_the_target_line() {
        let r = report();
        let svg = chart(&r.metrics[0]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.matches(',').count() >= 3);
        assert!(svg.contains("target 0.031"), "{svg}");
        assert!(svg.contains("baseline 0.028"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        let empty = chart(&r.metrics[2]);
        assert!(empty.contains("no data over the period"), "{empty}");
        assert!(!empty.contains("<polyline"));
        // Names are escaped: a metric name cannot inject markup.
        let mut hostile = r.metrics[0].clone();
        hostile.metric.name = "<script>alert(1)</script>".into();
        assert!(!chart(&hostile).contains("<script>"));
    }
}
