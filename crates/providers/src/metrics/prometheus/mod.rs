//! The Prometheus metric source: PromQL templates, instant (or range) queries over the HTTP
//! API, one measurement per key.
//!
//! A key `canary/error_rate` is the query named `error_rate` with `{{version}}` set to the
//! canary's label value. Every query may have a second `samples` query (how many requests stand
//! behind the value); without one the value counts as one sample. An empty result is *no data*,
//! never zero; several series where one was expected is an error (aggregate in the query).
//!
//! Every query of one measurement is evaluated at one instant, and "since the stage began"
//! (`{{since}}`) spans exactly from the stage's start to that instant ([`since_range`]): the
//! judge differences successive request and error counts, so both must cover the same span,
//! and a span whose start moves between ticks makes `increase()` report counts that do not
//! add up (see [`since_range`]).

mod config;
pub use config::{PromQueryCfg, PrometheusCfg};

use crate::http::Http;
use crate::metrics::{OutcomeQuery, Point};
use crate::{MetricContext, MetricSource, ProviderError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// One named query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The PromQL template.
    pub query: String,
    /// How many samples stand behind the value; None: one.
    pub samples: Option<String>,
    /// A range query over this much time before now, reduced to one value.
    pub range: Option<(Duration, Duration, Reduce)>,
}

/// How a range query's points become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    /// The last point.
    Last,
    /// The largest point.
    Max,
    /// The smallest point.
    Min,
    /// The mean of the points.
    Avg,
}

/// Queries for the Ship loop's checks over the conventional metric names (Prometheus client
/// libraries' `http_requests_total` with a `code` label, `http_request_duration_seconds`
/// histogram, `up`). `{{selector}}` is the configured label selector of one version,
/// `{{since}}` the time since the stage began, `{{slow_within}}` and `{{target_within}}` the
/// requests within the p99 trigger's limit and within the latency target ([`within`]).
pub fn presets() -> BTreeMap<String, Query> {
    let q = |query: &str, samples: &str| Query {
        query: query.into(),
        samples: Some(samples.into()),
        range: None,
    };
    let count = |query: &str| Query {
        query: query.into(),
        samples: None,
        range: None,
    };
    let requests = r#"sum(increase(http_requests_total{ {{selector}} }[{{window}}]))"#;
    let slower_than = |within: &str| {
        format!(
            r#"sum(increase(http_request_duration_seconds_count{{ {{{{selector}}}} }}[{{{{since}}}}])) - {{{{{within}}}}}"#
        )
    };
    BTreeMap::from([
        // The judge's counts since the stage began.
        (
            "requests".to_string(),
            count(r#"sum(increase(http_requests_total{ {{selector}} }[{{since}}]))"#),
        ),
        (
            // No 5xx series yet is zero errors (`or vector(0)`).
            "errors".to_string(),
            count(
                r#"sum(increase(http_requests_total{ {{selector}}, code=~"5.." }[{{since}}])) or vector(0)"#,
            ),
        ),
        ("slow".to_string(), count(&slower_than("slow_within"))),
        (
            "slow_target".to_string(),
            count(&slower_than("target_within")),
        ),
        (
            "error_rate".to_string(),
            q(
                // Client libraries create the 5xx series at the first error: until then the
                // numerator is empty, which is zero errors, not no data (`or vector(0)`). No
                // traffic leaves the denominator empty, and that stays no data.
                r#"(sum(rate(http_requests_total{ {{selector}}, code=~"5.." }[{{window}}])) or vector(0)) / sum(rate(http_requests_total{ {{selector}} }[{{window}}]))"#,
                requests,
            ),
        ),
        (
            "latency_p99".to_string(),
            q(
                r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{ {{selector}} }[{{window}}])))"#,
                r#"sum(increase(http_request_duration_seconds_count{ {{selector}} }[{{window}}]))"#,
            ),
        ),
        (
            "failed_instances".to_string(),
            q(
                r#"1 - avg(up{ {{selector}} })"#,
                r#"count(up{ {{selector}} })"#,
            ),
        ),
    ])
}

#[derive(Debug, Clone)]
/// Measures with PromQL over Prometheus' HTTP API.
pub struct PrometheusSource {
    /// The HTTP client, with the table's timeout and authentication.
    pub http: Http,
    /// The server's base URL.
    pub base: String,
    /// The label selector of one version, with `{{service}}`, `{{version}}`, `{{instance}}`.
    pub selector: String,
    /// `{{version}}` for each version key prefix (`stable`, `canary`).
    pub versions: BTreeMap<String, String>,
    /// `{{instance}}` (a regex) for each version; `.*` when not set.
    pub instances: BTreeMap<String, String>,
    /// Presets overlaid with the configured queries.
    pub queries: BTreeMap<String, Query>,
    /// The upper bounds of the services' `http_request_duration_seconds` buckets.
    pub buckets: Vec<f64>,
}

/// Fills `{{name}}` placeholders. Unknown placeholders are left as they are, so PromQL's own
/// braces are never touched.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// A Prometheus duration for a window in seconds.
pub fn prom_duration(secs: u64) -> String {
    format!("{}s", secs.max(1))
}

/// Seconds since the epoch, as the HTTP API's `time` takes them (0 on a clock before 1970).
fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `{{since}}` for a measurement evaluated at `at`: from the stage's start to `at`, to the
/// millisecond, when the stage's start is known (and not after `at`); else the context's
/// whole seconds.
///
/// Why not whole seconds: `increase(x[N s])` extrapolates each series to the ends of its range.
/// With the range's start at `at − floor(at − start)`, it moves back and forth within a second
/// of the stage's start from one tick to the next, so the request count (extrapolated to that
/// moving start) climbs in steps of whole seconds of traffic, while the new version's error
/// counter, at zero when the stage began, is never extrapolated past its zero and climbs
/// smoothly. At ticks shorter than the scrape interval, errors then rise in ticks in which
/// requests do not, and the judge — which counts no more errors than requests in an interval —
/// drops them: in the prometheus-nginx example a canary failing 5 % of its requests was judged
/// at 0.8 % to 1.9 % (or, when the request count went down and intervals were lost, at 6.8 %),
/// depending on the ticks' phase against the stage's start, and held instead of rolled back.
pub fn since_range(ctx: &MetricContext, at: SystemTime) -> String {
    match ctx.stage_started.and_then(|s| at.duration_since(s).ok()) {
        Some(d) => format!("{}ms", d.as_millis().max(1)),
        None => prom_duration(ctx.since_secs),
    }
}

/// A regex matching the `le` label of the histogram bucket at `secs`, however the client
/// library wrote it ("0.5", "0.50", "1", "1.0").
pub fn le_regex(secs: f64) -> String {
    let s = format!("{secs}");
    match s.split_once('.') {
        Some((int, frac)) => format!("{int}\\\\.{frac}0*"),
        None => format!("{s}(\\\\.0*)?"),
    }
}

/// A fraction in at most six decimals, without trailing zeros (0.19999999999999996 → 0.2).
fn short(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The buckets the Prometheus client libraries use by default, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// PromQL for the requests (of `http_request_duration_seconds`) that took at most `secs`,
/// since the stage began, given the histogram's bucket bounds: the bucket at `secs` when there
/// is one, else interpolated linearly between the two around it — exactly the assumption
/// `histogram_quantile` makes, so "more than 1 % slower than x" agrees with "p99 > x" as a
/// Prometheus dashboard computes it. Above the last finite bound nothing is interpolated: the
/// requests beyond it count as slower (the cautious side for a promotion).
pub fn within(secs: f64, buckets: &[f64]) -> String {
    let bucket = |le: f64| {
        format!(
            r#"sum(increase(http_request_duration_seconds_bucket{{ {{{{selector}}}}, le=~"{}" }}[{{{{since}}}}]))"#,
            le_regex(le)
        )
    };
    let upper = buckets.iter().position(|b| *b >= secs - 1e-12);
    match upper {
        Some(i) if (buckets[i] - secs).abs() < 1e-12 => bucket(buckets[i]),
        Some(0) => format!("({} * {})", bucket(buckets[0]), short(secs / buckets[0])),
        Some(i) => {
            let (lo, hi) = (buckets[i - 1], buckets[i]);
            let f = short((secs - lo) / (hi - lo));
            format!(
                "({lower} + {f} * ({upper} - {lower}))",
                lower = bucket(lo),
                upper = bucket(hi)
            )
        }
        None => match buckets.last() {
            Some(b) => bucket(*b),
            None => "vector(0)".into(),
        },
    }
}

/// One value out of an API answer's `data`; Ok(None) is an empty result.
fn single_value(data: &Value, reduce: Reduce) -> Result<Option<f64>, String> {
    let parse = |pair: &Value| -> Result<f64, String> {
        let s = pair
            .get(1)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("unexpected sample {pair}"))?;
        // Prometheus writes NaN, +Inf and -Inf as strings; f64 parses all three.
        s.parse::<f64>()
            .map_err(|_| format!("sample value {s:?} is not a number"))
    };
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => parse(result).map(Some),
        Some("vector") => {
            let series = result.as_array().ok_or("vector without result")?;
            match series.len() {
                0 => Ok(None),
                1 => parse(&series[0]["value"]).map(Some),
                n => Err(format!(
                    "the query returned {n} series; aggregate it to one (sum, max, avg …)"
                )),
            }
        }
        Some("matrix") => {
            let series = result.as_array().ok_or("matrix without result")?;
            match series.len() {
                0 => Ok(None),
                1 => {
                    let values: Vec<f64> = series[0]["values"]
                        .as_array()
                        .ok_or("matrix series without values")?
                        .iter()
                        .map(parse)
                        .collect::<Result<_, _>>()?;
                    let finite: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
                    if finite.is_empty() {
                        return Ok(values.last().copied());
                    }
                    Ok(Some(match reduce {
                        Reduce::Last => *finite.last().unwrap_or(&f64::NAN),
                        Reduce::Max => finite.iter().copied().fold(f64::MIN, f64::max),
                        Reduce::Min => finite.iter().copied().fold(f64::MAX, f64::min),
                        Reduce::Avg => finite.iter().sum::<f64>() / finite.len() as f64,
                    }))
                }
                n => Err(format!(
                    "the query returned {n} series; aggregate it to one (sum, max, avg …)"
                )),
            }
        }
        other => Err(format!("unexpected result type {other:?}")),
    }
}

/// The points of a range query's single series; an empty matrix is no points.
fn series_points(data: &Value) -> Result<Vec<Point>, String> {
    if data["resultType"].as_str() != Some("matrix") {
        return Err(format!(
            "expected a range result (matrix), got {:?}",
            data["resultType"].as_str()
        ));
    }
    let series = data["result"].as_array().ok_or("matrix without result")?;
    match series.len() {
        0 => Ok(vec![]),
        1 => series[0]["values"]
            .as_array()
            .ok_or("matrix series without values")?
            .iter()
            .map(|p| {
                let t = p
                    .get(0)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("unexpected point {p}"))?;
                let v = p
                    .get(1)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("unexpected point {p}"))?
                    .parse::<f64>()
                    .map_err(|_| format!("point value in {p} is not a number"))?;
                Ok((t, v))
            })
            .filter(|r| !matches!(r, Ok((_, v)) if v.is_nan()))
            .collect(),
        n => Err(format!(
            "the query returned {n} series; aggregate it to one (sum, max, avg …)"
        )),
    }
}

impl PrometheusSource {
    /// One value of `promql` at `at` (an instant query), or reduced from its range ending at
    /// `at`.
    async fn run(
        &self,
        promql: &str,
        range: Option<(Duration, Duration, Reduce)>,
        at: SystemTime,
    ) -> Result<Option<f64>, ProviderError> {
        // Before 1970 only on a broken clock: then a range ends at 0 and is empty.
        let now = epoch_secs(at);
        let (path, params, reduce) = match range {
            None => (
                "/api/v1/query",
                vec![("query", promql.to_string()), ("time", format!("{now:.3}"))],
                Reduce::Last,
            ),
            Some((over, step, reduce)) => (
                "/api/v1/query_range",
                vec![
                    ("query", promql.to_string()),
                    ("start", format!("{:.3}", now - over.as_secs_f64())),
                    ("end", format!("{now:.3}")),
                    ("step", format!("{}s", step.as_secs().max(1))),
                ],
                reduce,
            ),
        };
        let data = self.api(path, &params).await?;
        single_value(&data, reduce).map_err(ProviderError::bad_answer)
    }

    /// One value of `promql` evaluated at `at` (seconds since the epoch); Ok(None): empty.
    pub async fn instant_at(&self, promql: &str, at: f64) -> Result<Option<f64>, ProviderError> {
        let params = vec![("query", promql.to_string()), ("time", format!("{at:.3}"))];
        let data = self.api("/api/v1/query", &params).await?;
        single_value(&data, Reduce::Last).map_err(ProviderError::bad_answer)
    }

    /// The series of `promql` from `start` to `end` (seconds since the epoch) every `step`
    /// seconds, as (time, value) pairs; NaN points (no data at that step) are left out.
    pub async fn range_series(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: u64,
    ) -> Result<Vec<Point>, ProviderError> {
        let params = vec![
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{}s", step.max(1))),
        ];
        let data = self.api("/api/v1/query_range", &params).await?;
        series_points(&data).map_err(ProviderError::bad_answer)
    }

    /// The `data` of a successful API answer; Prometheus' own error otherwise.
    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ProviderError> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let body = self.http.get_json(&url, params).await?;
        if body["status"] != "success" {
            return Err(ProviderError::bad_answer(format!(
                "Prometheus: {} ({})",
                body["error"].as_str().unwrap_or("query failed"),
                body["errorType"].as_str().unwrap_or("error")
            )));
        }
        Ok(body["data"].clone())
    }

    /// An outcome metric's query with `{{service}}` and `{{mission}}` filled.
    fn outcome_query(q: &OutcomeQuery) -> String {
        fill(q.query, &[("service", q.service), ("mission", q.mission)])
    }

    async fn measure_key(&self, key: &str, ctx: &MetricContext, at: SystemTime) -> Measurement {
        let Some((version, metric)) = key.split_once('/') else {
            return Measurement::error(format!("{key}: not a version/metric key"));
        };
        let Some(label) = self.versions.get(version) else {
            return Measurement::error(format!(
                "{key}: the Prometheus source measures stable/… and canary/… keys"
            ));
        };
        let Some(q) = self.queries.get(metric) else {
            return Measurement::error(format!(
                "{key}: no [metrics.prometheus.queries.{metric}] in ship.toml"
            ));
        };
        let instance = self
            .instances
            .get(version)
            .map(String::as_str)
            .unwrap_or(".*");
        let window = prom_duration(ctx.window_secs);
        let since = since_range(ctx, at);
        let slow_within = ctx
            .slow_secs
            .map(|s| within(s, &self.buckets))
            .unwrap_or_default();
        let target_within = ctx
            .target_secs
            .map(|s| within(s, &self.buckets))
            .unwrap_or_default();
        // Filled first: their text has {{selector}} and {{since}} for the later passes.
        let base_vars = [
            ("slow_within", slow_within.as_str()),
            ("target_within", target_within.as_str()),
            ("service", ctx.service.as_str()),
            ("version", label.as_str()),
            ("instance", instance),
            ("window", window.as_str()),
            ("since", since.as_str()),
        ];
        let selector = fill(&self.selector, &base_vars);
        let mut vars = base_vars.to_vec();
        vars.push(("selector", selector.as_str()));
        let value = match self.run(&fill(&q.query, &vars), q.range, at).await {
            Ok(Some(v)) => v,
            Ok(None) => return Measurement::NoData,
            Err(e) => return e.measurement(),
        };
        let samples = match &q.samples {
            None => 1,
            Some(s) => match self.run(&fill(s, &vars), None, at).await {
                Ok(Some(n)) if n.is_finite() && n > 0.0 => n.round() as u64,
                Ok(_) => 0,
                Err(e) => return e.context("samples query").measurement(),
            },
        };
        Measurement::value(value, samples)
    }
}

#[async_trait]
impl MetricSource for PrometheusSource {
    fn name(&self) -> &str {
        "prometheus"
    }
    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        // One instant for every query: the requests and the errors of a tick cover one span.
        let at = SystemTime::now();
        let mut out = Observation::new();
        for key in keys {
            out.insert(key.clone(), self.measure_key(key, ctx, at).await);
        }
        out
    }

    async fn value_at(&self, q: &OutcomeQuery<'_>) -> Result<Option<f64>, ProviderError> {
        let query = Self::outcome_query(q);
        self.instant_at(&query, q.end).await.map_err(|mut e| {
            e.message = format!("{} (query: {query})", e.message);
            e
        })
    }

    async fn series(
        &self,
        q: &OutcomeQuery<'_>,
        _recorded: &[Point],
    ) -> Result<Vec<Point>, ProviderError> {
        self.range_series(&Self::outcome_query(q), q.start, q.end, q.step_secs())
            .await
    }
}

/// A source for servers that do not exist, used to build a default for tests.
#[cfg(test)]
pub fn for_tests(base: &str) -> PrometheusSource {
    use crate::http::Auth;
    PrometheusSource {
        http: Http::new(Duration::from_secs(5), Auth::None, None).expect("a plain client builds"),
        base: base.into(),
        selector: r#"version="{{version}}""#.into(),
        versions: BTreeMap::from([
            ("stable".to_string(), "stable".to_string()),
            ("canary".to_string(), "canary".to_string()),
        ]),
        instances: BTreeMap::new(),
        queries: presets(),
        buckets: DEFAULT_BUCKETS.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_md_shows_every_preset_as_the_code_has_it() {
        let doc = include_str!("../../../../../docs/CONFIG.md");
        let presets = presets();
        for (name, q) in &presets {
            let samples = q
                .samples
                .as_deref()
                .map_or("—".to_string(), |s| format!("`{s}`"));
            let row = format!("| `{name}` | `{}` | {samples} |", q.query);
            assert!(
                doc.contains(&row),
                "docs/CONFIG.md's table of presets should have the row\n{row}"
            );
        }
        let rows = doc
            .lines()
            .skip_while(|l| *l != "#### The preset queries")
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .count();
        assert_eq!(rows, presets.len(), "one row per preset, and no other");
    }

    #[test]
    fn range_points_skip_nan_and_refuse_several_series() {
        let one = json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[1.0, "0.5"], [2.0, "NaN"], [3.5, "0.75"]]}]});
        assert_eq!(series_points(&one).unwrap(), vec![(1.0, 0.5), (3.5, 0.75)]);
        let none = json!({"resultType": "matrix", "result": []});
        assert!(series_points(&none).unwrap().is_empty());
        let two = json!({"resultType": "matrix", "result": [{"values": []}, {"values": []}]});
        assert!(series_points(&two).unwrap_err().contains("2 series"));
        let vector = json!({"resultType": "vector", "result": []});
        assert!(series_points(&vector).is_err());
    }

    #[test]
    fn bucket_bounds_match_however_the_client_wrote_them() {
        assert_eq!(le_regex(0.6), r"0\\.60*");
        assert_eq!(le_regex(1.0), r"1(\\.0*)?");
        let slow = &presets()["slow"].query;
        assert!(slow.ends_with("- {{slow_within}}"), "{slow}");
    }

    #[test]
    fn requests_within_a_limit_interpolate_between_buckets_like_histogram_quantile() {
        let b = DEFAULT_BUCKETS;
        // 0.5 is a bucket: read it.
        let at = within(0.5, &b);
        assert!(
            at.contains(r#"le=~"0\\.50*""#) && at.matches("sum(").count() == 1,
            "{at}"
        );
        // 0.6 lies 20 % of the way from 0.5 to 1.
        let mid = within(0.6, &b);
        assert!(mid.contains(" + 0.2 * ("), "{mid}");
        assert!(
            mid.contains(r#"0\\.50*"#) && mid.contains(r#"1(\\.0*)?"#),
            "{mid}"
        );
        // Past the last bound, nothing is interpolated.
        assert_eq!(within(30.0, &b), within(10.0, &b));
    }

    #[test]
    fn since_the_stage_began_is_counted_to_the_millisecond() {
        use std::time::UNIX_EPOCH;
        let start = UNIX_EPOCH + Duration::from_millis(1_796_302_842_332);
        let mut ctx = MetricContext::window("web", "r", "canary", 5, 15);
        ctx.since_secs = 754;
        ctx.stage_started = Some(start);
        // Two ticks half a second apart in the same whole second since the stage began: the
        // range still starts at the stage's start, not 0.217 s and then 0.718 s after it.
        let at = start + Duration::from_millis(754_217);
        assert_eq!(since_range(&ctx, at), "754217ms");
        assert_eq!(
            since_range(&ctx, at + Duration::from_millis(501)),
            "754718ms"
        );
        // No stage (gates, validation), or a start after the instant: the whole seconds.
        assert_eq!(since_range(&ctx, start - Duration::from_secs(1)), "754s");
        ctx.stage_started = None;
        assert_eq!(since_range(&ctx, at), "754s");
        assert_eq!(since_range(&ctx, start), "754s");
    }

    #[test]
    fn templates_fill_only_their_placeholders() {
        let q = fill(
            r#"sum(rate(x{ {{selector}} }[{{window}}]))"#,
            &[("selector", r#"job="web",version="v2""#), ("window", "60s")],
        );
        assert_eq!(q, r#"sum(rate(x{ job="web",version="v2" }[60s]))"#);
        assert_eq!(fill("{{unknown}} {a}", &[]), "{{unknown}} {a}");
    }

    #[test]
    fn results_become_one_value_or_no_data() {
        let vector = |vals: &[&str]| json!({"resultType": "vector", "result": vals.iter().map(|v| json!({"metric": {}, "value": [1.0, v]})).collect::<Vec<_>>()});
        assert_eq!(
            single_value(&vector(&["0.05"]), Reduce::Last),
            Ok(Some(0.05))
        );
        assert_eq!(single_value(&vector(&[]), Reduce::Last), Ok(None));
        assert!(single_value(&vector(&["1", "2"]), Reduce::Last)
            .unwrap_err()
            .contains("2 series"));
        let nan = single_value(&vector(&["NaN"]), Reduce::Last)
            .unwrap()
            .unwrap();
        assert!(
            nan.is_nan(),
            "NaN is passed on; the engine treats it as no data"
        );
        assert_eq!(
            single_value(&vector(&["+Inf"]), Reduce::Last),
            Ok(Some(f64::INFINITY))
        );
        let scalar = json!({"resultType": "scalar", "result": [1.0, "3"]});
        assert_eq!(single_value(&scalar, Reduce::Last), Ok(Some(3.0)));
        let matrix = json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "5"], [3, "NaN"], [4, "2"]]}]});
        assert_eq!(single_value(&matrix, Reduce::Max), Ok(Some(5.0)));
        assert_eq!(single_value(&matrix, Reduce::Last), Ok(Some(2.0)));
        assert_eq!(single_value(&matrix, Reduce::Avg), Ok(Some(8.0 / 3.0)));
        assert!(single_value(
            &json!({"resultType": "string", "result": [1, "x"]}),
            Reduce::Last
        )
        .is_err());
    }

    #[tokio::test]
    async fn unknown_keys_and_a_dead_server_are_errors() {
        let src = for_tests("http://127.0.0.1:9");
        let ctx = MetricContext::window("web", "r", "canary", 5, 60);
        let keys = vec![
            "canary/error_rate".to_string(),
            "canary/cpu".to_string(),
            "alerts/critical_security".to_string(),
        ];
        let obs = src.measure(&keys, &ctx).await;
        for k in &keys {
            assert!(
                matches!(obs[k], Measurement::Error { .. }),
                "{k}: {:?}",
                obs[k]
            );
        }
        let Measurement::Error { message, .. } = &obs["canary/cpu"] else {
            unreachable!()
        };
        assert!(
            message.contains("[metrics.prometheus.queries.cpu]"),
            "{message}"
        );
    }
}
