//! Where an outcome metric's actual and series come from: Prometheus (instant and range
//! queries) or ship's proxy (its live window, and the samples ship recorded while rolling out).

use crate::build;
use chrono::{DateTime, TimeZone, Utc};
use shiploop_artifacts::outcome::Metric;
use shiploop_artifacts::report::MetricResult;
use shiploop_providers::{MetricContext, MetricSource};
use shiploop_rollout::measure::Measurement;
use shiploop_store::Store;
use shiploop_workspace::Workspace;

pub(crate) async fn measure_metric(
    ws: &Workspace,
    releases: &[String],
    m: &Metric,
    mission: &str,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
) -> MetricResult {
    let (actual, series) = match m.source.as_str() {
        "prometheus" => prometheus(ws, mission, m, start, at).await,
        "builtin" => builtin(ws, releases, m, start, at).await,
        other => (
            Err(format!(
                "unknown source `{other}` (sources: builtin, prometheus)"
            )),
            vec![],
        ),
    };
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

type Sampled = (
    std::result::Result<Option<f64>, String>,
    Vec<(DateTime<Utc>, f64)>,
);

async fn prometheus(
    ws: &Workspace,
    mission: &str,
    m: &Metric,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Sampled {
    let source = match build::prometheus_source(ws) {
        Ok(s) => s,
        Err(e) => return (Err(e.to_string()), vec![]),
    };
    if source.base.trim().is_empty() {
        return (
            Err("metrics.prometheus.url is not set in ship.toml".into()),
            vec![],
        );
    }
    let query = shiploop_providers::prometheus::fill(
        &m.query,
        &[
            ("service", ws.config.service.name.as_str()),
            ("mission", mission),
        ],
    );
    let at = now.timestamp_millis() as f64 / 1000.0;
    let from = start.timestamp_millis() as f64 / 1000.0;
    let actual = source
        .instant_at(&query, at)
        .await
        .map_err(|e| format!("{e} (query: {query})"));
    let points = ws.config.outcome.chart_points.max(2) as f64;
    let step = ((at - from) / points).ceil().max(1.0) as u64;
    // A chart that cannot be drawn does not stop the measurement: the actual is what counts.
    let series = source
        .range_series(&query, from, at, step)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(t, v)| {
            let t = Utc.timestamp_millis_opt((t * 1000.0) as i64).single()?;
            v.is_finite().then_some((t, v))
        })
        .collect();
    (actual, series)
}

/// The proxy only knows its live window: the actual is the window up to now, whatever the
/// checkpoint's date (docs/OPERATE.md).
async fn builtin(
    ws: &Workspace,
    releases: &[String],
    m: &Metric,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Sampled {
    let series = Store::open(&ws.state_db())
        .and_then(|s| s.sample_values(releases, &m.query, start, now))
        .unwrap_or_default();
    let admin =
        match build::admin_client(ws, &format!("outcome metric {} (source: builtin)", m.name)) {
            Ok(a) => a,
            Err(e) => return (Err(e.to_string()), series),
        };
    let source = shiploop_providers::builtin::BuiltinSource { admin };
    let ctx = MetricContext {
        service: ws.config.service.name.clone(),
        release: releases.last().cloned().unwrap_or_default(),
        stage: "outcome".into(),
        weight: 100,
        window_secs: (now - start).num_seconds().max(1) as u64,
        since_secs: (now - start).num_seconds().max(1) as u64,
        slow_secs: None,
        target_secs: None,
    };
    let obs = source.measure(std::slice::from_ref(&m.query), &ctx).await;
    let actual = match obs.get(&m.query) {
        Some(Measurement::Value { value, .. }) => Ok(Some(*value)),
        Some(Measurement::NoData) | None => Ok(None),
        Some(Measurement::Error { message }) => Err(message.clone()),
    };
    (actual, series)
}
