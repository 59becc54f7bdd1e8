//! Where an outcome metric's actual and series come from: the metric source its `source`
//! names, as ship.toml configures it, through [`MetricSource::value_at`] and
//! [`MetricSource::series`]. A source without history of its own (ship's proxy) charts the
//! samples ship recorded while rolling out, handed to it here.

use crate::build;
use chrono::{DateTime, TimeZone, Utc};
use shiploop_artifacts::outcome::Metric;
use shiploop_artifacts::report::MetricResult;
use shiploop_providers::metrics::MetricsKind;
use shiploop_providers::{MetricSource, OutcomeQuery, Point};
use shiploop_workspace::Workspace;

pub(crate) async fn measure_metric(
    ws: &Workspace,
    releases: &[String],
    m: &Metric,
    mission: &str,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
) -> MetricResult {
    let (actual, series) = sampled(ws, releases, m, mission, start, at).await;
    let (actual, error) = match actual {
        Ok(Some(v)) if v.is_finite() => (Some(v), None),
        Ok(Some(v)) => (None, Some(format!("the query answered {v}"))),
        Ok(None) => (None, Some("no data: the query's result is empty".into())),
        Err(e) => (None, Some(e)),
    };
    MetricResult {
        metric: m.clone(),
        actual,
        error,
        series,
    }
}

/// The sources that can measure outcomes, for the message naming an unknown one.
fn outcome_sources(ws: &Workspace) -> String {
    ws.config
        .metrics
        .outcome_kinds()
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

type Sampled = (
    std::result::Result<Option<f64>, String>,
    Vec<(DateTime<Utc>, f64)>,
);

async fn sampled(
    ws: &Workspace,
    releases: &[String],
    m: &Metric,
    mission: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Sampled {
    let unknown = || {
        Err(format!(
            "unknown source `{}` (sources: {})",
            m.source,
            outcome_sources(ws)
        ))
    };
    let kind = MetricsKind::parse(&m.source);
    let Some(kind) = kind.filter(|k| ws.config.metrics.source(*k).outcomes()) else {
        return (unknown(), vec![]);
    };
    // What ship recorded for the query while rolling out: the chart of a source that keeps
    // no history of its own.
    // Only ship's proxy keeps no history of its own; other sources are not handed any.
    let recorded: Vec<Point> = if kind == MetricsKind::Builtin {
        crate::open_store(ws)
            .ok()
            .and_then(|s| s.sample_values(releases, &m.query, start, now).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(t, v)| (t.timestamp_millis() as f64 / 1000.0, v))
            .collect()
    } else {
        vec![]
    };
    let asker = format!("outcome metric {} (source: {})", m.name, m.source);
    let source: Box<dyn MetricSource> = match build::source_for(ws, kind, &asker) {
        Ok(s) => s,
        Err(e) => return (Err(e.to_string()), points(&recorded)),
    };
    let q = OutcomeQuery {
        query: &m.query,
        service: &ws.config.service.name,
        mission,
        release: releases.last().map(String::as_str).unwrap_or_default(),
        start: start.timestamp_millis() as f64 / 1000.0,
        end: now.timestamp_millis() as f64 / 1000.0,
        points: ws.config.outcome.chart_points,
    };
    let actual = source.value_at(&q).await.map_err(|e| e.to_string());
    // A chart that cannot be drawn does not stop the measurement: the actual is what counts.
    let series = source.series(&q, &recorded).await.unwrap_or_default();
    (actual, points(&series))
}

fn points(series: &[Point]) -> Vec<(DateTime<Utc>, f64)> {
    series
        .iter()
        .filter_map(|&(t, v)| {
            let t = Utc.timestamp_millis_opt((t * 1000.0) as i64).single()?;
            v.is_finite().then_some((t, v))
        })
        .collect()
}
