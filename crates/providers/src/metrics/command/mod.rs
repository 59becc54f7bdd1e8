//! The command metric source: a user command prints the measurements as JSON — the escape
//! hatch for any metrics system. `{weight}`, `{release}`, `{stage}`, `{service}`, `{window}`,
//! `{since}`, `{since_ms}`, `{at}`, `{slow_ms}` and `{target_ms}` are substituted
//! (shell-quoted).
//!
//! `{since}` stays whole seconds, as it always was (scripts do arithmetic with it). A command
//! that asks Prometheus for `increase()` since the stage began should use `{since_ms}` and
//! `{at}` instead: the span from the stage's start to the instant `{at}`, to the millisecond,
//! and that instant for the query's `time` — with whole seconds evaluated at the query's own
//! "now", the range's start moves within a second of the stage's start from tick to tick, and
//! the request and error counts come out of step (see the Prometheus source's `since_range`).

mod config;
pub use config::CommandMetricsCfg;

use crate::placeholders::fill;
use crate::runner::{truncate, Runner};
use crate::{MetricContext, MetricSource};
use async_trait::async_trait;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::time::{SystemTime, UNIX_EPOCH};

/// Measures with a user command that prints a JSON object keyed by measurement key:
///
/// ```json
/// {"canary/requests": 1200, "canary/errors": 5, "stable/requests": 22800, "stable/errors": 40,
///  "canary/slow": 0, "canary/error_rate": {"value": 0.004, "samples": 1200},
///  "alerts/critical_security": 0,
///  "canary/latency_p99": null,
///  "integrity/orders": {"error": "db unreachable"}}
/// ```
///
/// Counts are cumulative (since the stage began, `{since}` seconds — to the millisecond
/// `{since_ms}` ms before `{at}` — ago, or a running counter: `metrics.command.counts`);
/// `canary/slow` and `canary/slow_target` count the requests slower than `{slow_ms}` and
/// `{target_ms}`. A bare number counts as one sample; `null` or a missing key is "no data";
/// `{"error": …}` is an error for that key. A failing command or unparsable output is an error
/// for every key.
#[derive(Debug, Clone)]
pub struct CommandSource {
    /// Where and how long the command runs.
    pub runner: Runner,
    /// The command, with placeholders.
    pub command: String,
}

/// The measurements of `keys` in a JSON object keyed by measurement (the forms above).
pub fn parse_measurements(keys: &[String], stdout: &str) -> Observation {
    let all_error = |message: String| -> Observation {
        keys.iter()
            .map(|k| (k.clone(), Measurement::error(message.clone())))
            .collect()
    };
    let v: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => {
            return all_error(format!(
                "metric command output is not JSON ({e}): {}",
                truncate(stdout)
            ))
        }
    };
    let Value::Object(map) = v else {
        return all_error(
            "metric command output must be a JSON object keyed by measurement".into(),
        );
    };
    keys.iter()
        .map(|k| {
            let m = match map.get(k) {
                None | Some(Value::Null) => Measurement::NoData,
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(x) => Measurement::value(x, 1),
                    None => Measurement::error(format!("{k}: {n} is not a number")),
                },
                Some(Value::Object(o)) => {
                    if let Some(e) = o.get("error") {
                        Measurement::error(
                            e.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| e.to_string()),
                        )
                    } else {
                        match (o.get("value"), o.get("samples")) {
                            (Some(Value::Null), _) | (None, _) => Measurement::NoData,
                            (Some(val), samples) => {
                                match (val.as_f64(), samples.map(|s| s.as_u64())) {
                                    (Some(x), None) => Measurement::value(x, 1),
                                    (Some(x), Some(Some(n))) => Measurement::value(x, n),
                                    _ => Measurement::error(format!(
                                        "{k}: expected {{\"value\": number, \"samples\": integer}}"
                                    )),
                                }
                            }
                        }
                    }
                }
                Some(other) => Measurement::error(format!("{k}: unexpected {other}")),
            };
            (k.clone(), m)
        })
        .collect()
}

/// The placeholders of a measurement taken at `at`.
fn placeholders(ctx: &MetricContext, at: SystemTime) -> Vec<(&'static str, String)> {
    let ms = |s: Option<f64>| s.map_or(String::new(), |s| format!("{}", (s * 1000.0).round()));
    vec![
        ("weight", ctx.weight.to_string()),
        ("release", ctx.release.clone()),
        ("stage", ctx.stage.clone()),
        ("service", ctx.service.clone()),
        ("window", ctx.window_secs.to_string()),
        ("since", ctx.since_secs.to_string()),
        ("since_ms", since_ms(ctx, at).to_string()),
        ("at", format!("{:.3}", epoch_secs(at))),
        ("slow_ms", ms(ctx.slow_secs)),
        ("target_ms", ms(ctx.target_secs)),
    ]
}

/// `{since_ms}`: from the stage's start to `at`, in milliseconds (at least 1: a range of
/// Prometheus cannot be empty), when the stage's start is known and not after `at`; else the
/// context's whole seconds (gates and validation, which have no stage).
fn since_ms(ctx: &MetricContext, at: SystemTime) -> u128 {
    match ctx.stage_started.and_then(|s| at.duration_since(s).ok()) {
        Some(d) => d.as_millis().max(1),
        None => u128::from(ctx.since_secs) * 1000,
    }
}

/// Seconds since the epoch, as Prometheus' `time` takes them (0 on a clock before 1970).
fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[async_trait]
impl MetricSource for CommandSource {
    fn name(&self) -> &str {
        "command"
    }

    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let cmd = fill(&self.command, &placeholders(ctx, SystemTime::now()));
        match self.runner.run(&cmd).await {
            Ok(out) => parse_measurements(keys, &out),
            Err(e) => crate::metrics::all_error(keys, &e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_json_forms() {
        let keys: Vec<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_measurements(
            &keys,
            r#"{"a": {"value": 0.5, "samples": 10}, "b": 3, "c": null, "d": {"error": "down"}, "e": "x"}"#,
        );
        assert_eq!(o["a"], Measurement::value(0.5, 10));
        assert_eq!(o["b"], Measurement::value(3.0, 1));
        assert_eq!(o["c"], Measurement::NoData);
        assert!(matches!(&o["d"], Measurement::Error { message, .. } if message == "down"));
        assert!(matches!(o["e"], Measurement::Error { .. }));
        assert_eq!(o["f"], Measurement::NoData);
        let o = parse_measurements(&keys, "not json");
        assert!(o.values().all(|m| matches!(m, Measurement::Error { .. })));
    }

    #[test]
    fn since_the_stage_began_is_also_given_to_the_millisecond() {
        use std::time::Duration;
        let start = UNIX_EPOCH + Duration::from_millis(1_796_302_842_332);
        let mut ctx = MetricContext::window("web", "r", "canary", 5, 15);
        ctx.since_secs = 754;
        ctx.stage_started = Some(start);
        let fill_at = |ctx: &MetricContext, at| {
            fill("q {since} {since_ms} {at} {window}", &placeholders(ctx, at))
        };
        // Two ticks half a second apart in the same whole second since the stage began:
        // {since} stays the whole seconds it always was, {since_ms} and {at} pin the span.
        let at = start + Duration::from_millis(754_217);
        assert_eq!(fill_at(&ctx, at), "q 754 754217 1796303596.549 15");
        assert_eq!(
            fill_at(&ctx, at + Duration::from_millis(501)),
            "q 754 754718 1796303597.050 15"
        );
        assert_eq!(since_ms(&ctx, start), 1, "never an empty range");
        // No stage (gates, validation), or a start after the instant: the whole seconds.
        assert_eq!(since_ms(&ctx, start - Duration::from_secs(1)), 754_000);
        ctx.stage_started = None;
        assert_eq!(since_ms(&ctx, at), 754_000);
    }

    #[tokio::test]
    async fn a_command_reads_its_counts_with_the_span_it_was_given() {
        use std::time::Duration;
        let source = CommandSource {
            runner: Runner {
                dir: std::env::temp_dir(),
                timeout: Duration::from_secs(10),
            },
            command: concat!(
                r#"printf '{"canary/requests": %s, "canary/errors": %s, "#,
                r#""stable/requests": %s}' {since} {since_ms} {at}"#
            )
            .into(),
        };
        let mut ctx = MetricContext::window("web", "r", "canary", 5, 15);
        ctx.since_secs = 2;
        ctx.stage_started = Some(SystemTime::now() - Duration::from_millis(2_500));
        let keys: Vec<String> = ["canary/requests", "canary/errors", "stable/requests"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = source.measure(&keys, &ctx).await;
        let value = |k: &str| match &o[k] {
            Measurement::Value { value, .. } => *value,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(value("canary/requests"), 2.0);
        let since_ms = value("canary/errors");
        assert!((2_500.0..60_000.0).contains(&since_ms), "{since_ms}");
        let at = value("stable/requests");
        let started = epoch_secs(ctx.stage_started.unwrap_or(UNIX_EPOCH));
        assert!(
            (at - started - since_ms / 1000.0).abs() < 0.002,
            "{{at}} is where {{since_ms}} ends: {at} − {started} ≠ {since_ms} ms"
        );
    }
}
