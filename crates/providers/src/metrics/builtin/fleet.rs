//! The builtin metric source over a fleet of ship's proxies: every proxy's `/measure` is read
//! at once and each key combined across them.
//!
//! - Counts (`requests`, `errors`, `slow`, `slow_target`) are added up, their samples too: the
//!   fleet served the sum. The judge decides the error-rate and p99 triggers from these
//!   counts, so its decisions over a fleet are exact.
//! - `error_rate` is the fleet's: each proxy's rate weighted by its requests in the window
//!   (Σ rateᵢ·nᵢ / Σ nᵢ = Σ errors / Σ requests).
//! - `latency_p99` is the largest of the proxies' p99s, on the sum of their samples. The proxy
//!   exposes its p99, not its histogram, so the fleet's exact p99 cannot be rebuilt; the
//!   largest is a bound it never exceeds (if at most 1 % of each proxy's requests are slower
//!   than x, at most 1 % of all of them are), so it errs towards caution and is exact when one
//!   proxy carries the traffic.
//! - Gauges of the instances behind the proxies (`failed_instances`, `memory_rss_bytes`,
//!   `cpu_cores`, any other) are the worst proxy's view, as one proxy already reports its worst
//!   instance: the proxies watch the same instances, so their samples are not added.
//!
//! A proxy that cannot answer makes every key an error naming it: a fleet measured in part
//! would read as less traffic and fewer errors than there were.

use super::BuiltinSource;
use crate::metrics::{OutcomeQuery, Point};
use crate::{MetricContext, MetricSource, ProviderError};
use async_trait::async_trait;
use futures_util::future::join_all;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;

/// Measures through every proxy of a fleet.
pub struct FleetSource {
    /// Each proxy, with the name messages give it (`proxy 127.0.0.1:9091`).
    pub members: Vec<(String, BuiltinSource)>,
}

/// How a key's values from several proxies make the fleet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// Counts: added up.
    Sum,
    /// A rate over requests: weighted by each proxy's samples.
    WeightedMean,
    /// A latency percentile: the largest, on all the samples.
    Largest,
    /// A gauge of the instances behind the proxies: the worst proxy's view.
    Worst,
}

fn combine_of(key: &str) -> Combine {
    match key.rsplit('/').next().unwrap_or(key) {
        "requests" | "errors" | "slow" | "slow_target" => Combine::Sum,
        "error_rate" => Combine::WeightedMean,
        "latency_p99" => Combine::Largest,
        _ => Combine::Worst,
    }
}

/// The fleet's measurement of `key` from each proxy's, given with the proxy's name.
pub fn combine(key: &str, answers: &[(&str, &Measurement)]) -> Measurement {
    let errors: Vec<(&str, &String, bool)> = answers
        .iter()
        .filter_map(|(name, m)| match m {
            Measurement::Error { message, local } => Some((*name, message, *local)),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        let text = errors
            .iter()
            .map(|(name, message, _)| format!("{name}: {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!(
            "{} of {} proxies of the fleet could not be measured — {text}",
            errors.len(),
            answers.len()
        );
        return if errors.iter().all(|(_, _, local)| *local) {
            Measurement::local_error(message)
        } else {
            Measurement::error(message)
        };
    }
    let values: Vec<(f64, u64)> = answers
        .iter()
        .filter_map(|(_, m)| match m {
            Measurement::Value { value, samples, .. } => Some((*value, *samples)),
            _ => None,
        })
        .collect();
    if values.is_empty() {
        return Measurement::NoData;
    }
    let samples: u64 = values.iter().map(|(_, n)| n).sum();
    let largest = values
        .iter()
        .map(|(v, _)| *v)
        .fold(f64::NEG_INFINITY, f64::max);
    match combine_of(key) {
        Combine::Sum => Measurement::value(values.iter().map(|(v, _)| v).sum(), samples),
        Combine::WeightedMean if samples > 0 => {
            let weighted: f64 = values.iter().map(|(v, n)| v * *n as f64).sum();
            Measurement::value(weighted / samples as f64, samples)
        }
        // No samples behind any rate: nothing to weight by, so the worst.
        Combine::WeightedMean | Combine::Worst => {
            let most = values.iter().map(|(_, n)| *n).max().unwrap_or(0);
            Measurement::value(largest, most)
        }
        Combine::Largest => Measurement::value(largest, samples),
    }
}

#[async_trait]
impl MetricSource for FleetSource {
    fn name(&self) -> &str {
        "builtin"
    }

    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let all = join_all(self.members.iter().map(|(_, s)| s.measure(keys, ctx))).await;
        let missing = Measurement::error("the proxy did not answer this key");
        keys.iter()
            .map(|k| {
                let answers: Vec<(&str, &Measurement)> = self
                    .members
                    .iter()
                    .zip(&all)
                    .map(|((name, _), obs)| (name.as_str(), obs.get(k).unwrap_or(&missing)))
                    .collect();
                (k.clone(), combine(k, &answers))
            })
            .collect()
    }

    /// The live window from the outcome's start up to now, over the fleet.
    async fn value_at(&self, q: &OutcomeQuery<'_>) -> Result<Option<f64>, ProviderError> {
        super::live_value(self, q).await
    }

    async fn series(
        &self,
        _q: &OutcomeQuery<'_>,
        recorded: &[Point],
    ) -> Result<Vec<Point>, ProviderError> {
        Ok(recorded.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: f64, samples: u64) -> Measurement {
        Measurement::value(value, samples)
    }

    fn of(key: &str, a: &Measurement, b: &Measurement) -> Measurement {
        combine(key, &[("proxy a", a), ("proxy b", b)])
    }

    #[test]
    fn counts_add_up_rates_weigh_and_latency_takes_the_largest() {
        assert_eq!(
            of("canary/requests", &v(100.0, 100), &v(300.0, 300)),
            v(400.0, 400)
        );
        assert_eq!(of("canary/errors", &v(2.0, 100), &v(6.0, 300)), v(8.0, 400));
        assert_eq!(
            of("canary/slow", &v(1.0, 100), &Measurement::NoData),
            v(1.0, 100)
        );
        // 2 errors in 100 and 6 in 300: 8 in 400.
        assert_eq!(
            of("canary/error_rate", &v(0.02, 100), &v(0.02, 300)),
            v(0.02, 400)
        );
        assert_eq!(
            of("stable/error_rate", &v(0.1, 100), &v(0.0, 300)),
            v(0.025, 400)
        );
        assert_eq!(
            of("canary/latency_p99", &v(0.2, 100), &v(0.5, 300)),
            v(0.5, 400)
        );
        assert_eq!(
            of("canary/failed_instances", &v(0.0, 2), &v(0.5, 2)),
            v(0.5, 2)
        );
        assert_eq!(
            of(
                "canary/error_rate",
                &Measurement::NoData,
                &Measurement::NoData
            ),
            Measurement::NoData
        );
    }

    #[test]
    fn a_proxy_that_cannot_answer_is_an_error_of_the_measurement() {
        let down = Measurement::error("http://127.0.0.1:1/measure: cannot connect");
        let m = of("canary/requests", &v(100.0, 100), &down);
        let Measurement::Error { message, local } = &m else {
            panic!("{m:?}");
        };
        assert!(!local);
        assert!(message.contains("1 of 2 proxies"), "{message}");
        assert!(
            message.contains("proxy b: http://127.0.0.1:1/measure: cannot connect"),
            "{message}"
        );
        // The controller's own trouble on every failing proxy: local.
        let starved = Measurement::local_error("out of file descriptors");
        assert!(of("canary/requests", &starved, &v(1.0, 1)).is_local());
        assert!(!of("canary/requests", &starved, &down).is_local());
    }
}
