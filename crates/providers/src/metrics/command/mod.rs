//! The command metric source: a user command prints the measurements as JSON — the escape
//! hatch for any metrics system. `{weight}`, `{release}`, `{stage}`, `{service}`, `{window}`,
//! `{since}`, `{slow_ms}` and `{target_ms}` are substituted (shell-quoted).

mod config;
pub use config::CommandMetricsCfg;

use crate::placeholders::fill;
use crate::runner::{truncate, Runner};
use crate::{MetricContext, MetricSource};
use async_trait::async_trait;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;

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
/// Counts are cumulative (since the stage began, `{since}` seconds ago, or a running counter:
/// `metrics.command.counts`); `canary/slow` and `canary/slow_target` count the requests slower
/// than `{slow_ms}` and `{target_ms}`. A bare number counts as one sample; `null` or a missing
/// key is "no data"; `{"error": …}` is an error for that key. A failing command or unparsable
/// output is an error for every key.
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

#[async_trait]
impl MetricSource for CommandSource {
    fn name(&self) -> &str {
        "command"
    }

    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let ms = |s: Option<f64>| s.map_or(String::new(), |s| format!("{}", (s * 1000.0).round()));
        let cmd = fill(
            &self.command,
            &[
                ("weight", ctx.weight.to_string()),
                ("release", ctx.release.clone()),
                ("stage", ctx.stage.clone()),
                ("service", ctx.service.clone()),
                ("window", ctx.window_secs.to_string()),
                ("since", ctx.since_secs.to_string()),
                ("slow_ms", ms(ctx.slow_secs)),
                ("target_ms", ms(ctx.target_secs)),
            ],
        );
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
}
