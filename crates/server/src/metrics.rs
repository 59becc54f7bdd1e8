//! `/metrics` in Prometheus text format: ship's own health — rollouts by phase, ticks and
//! their duration, decisions, rollbacks by cause, provider and controller errors.

use shiploop_rollout::Decision;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the tick duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Inner {
    ticks: u64,
    tick_buckets: [u64; BUCKETS.len()],
    tick_sum: f64,
    decisions: BTreeMap<String, u64>,
    rollbacks: BTreeMap<String, u64>,
    provider_errors: BTreeMap<&'static str, u64>,
    errors: u64,
    finished: BTreeMap<String, u64>,
    last_errors: BTreeMap<String, LastError>,
}

/// The last error of a rollout's task on this server, until the rollout decides again: what the
/// API shows as `last_error`, so an operator sees why a rollout stands still.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastError {
    pub at: chrono::DateTime<chrono::Utc>,
    pub message: String,
    pub retry_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Default)]
pub struct ServeMetrics {
    inner: Mutex<Inner>,
}

impl ServeMetrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn record_tick(&self, took: Duration) {
        let secs = took.as_secs_f64();
        self.with(|m| {
            m.ticks += 1;
            m.tick_sum += secs;
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    m.tick_buckets[i] += 1;
                }
            }
        });
    }

    fn record_decision(&self, release: &str, d: &Decision) {
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.with(|m| {
            m.last_errors.remove(release);
            *m.decisions.entry(kind).or_default() += 1;
            // Only the decision that starts a rollback has a cause (a fixed set of names);
            // retries and a restart's "still rolling back" are not new rollbacks.
            if let Some(cause) = &d.rollback_cause {
                *m.rollbacks.entry(cause.clone()).or_default() += 1;
            }
        });
    }

    pub fn error(&self, release: &str, message: &str, retry_in: Duration) {
        let at = chrono::Utc::now();
        let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
        self.with(|m| {
            m.errors += 1;
            if !release.is_empty() {
                let message = message.to_string();
                let e = LastError {
                    at,
                    message,
                    retry_at,
                };
                m.last_errors.insert(release.to_string(), e);
            }
        });
    }

    pub fn finished(&self, release: &str, outcome: &str) {
        self.with(|m| {
            m.last_errors.remove(release);
            *m.finished.entry(outcome.to_string()).or_default() += 1
        });
    }

    pub fn last_error(&self, release: &str) -> Option<LastError> {
        self.with(|m| m.last_errors.get(release).cloned())
    }

    /// The exposition, with the rollouts by phase counted by the caller from the store.
    pub fn render(&self, phases: &BTreeMap<String, u64>) -> String {
        let mut out = String::new();
        out.push_str("# HELP ship_rollouts Rollouts in the state database by phase.\n# TYPE ship_rollouts gauge\n");
        for (p, n) in phases {
            out.push_str(&format!("ship_rollouts{{phase=\"{}\"}} {n}\n", esc(p)));
        }
        self.with(|m| {
            out.push_str("# HELP ship_ticks_total Controller ticks run by this server.\n# TYPE ship_ticks_total counter\n");
            out.push_str(&format!("ship_ticks_total {}\n", m.ticks));
            out.push_str("# HELP ship_tick_duration_seconds How long a tick took (measure, decide, record, act).\n# TYPE ship_tick_duration_seconds histogram\n");
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "ship_tick_duration_seconds_bucket{{le=\"{b}\"}} {}\n",
                    m.tick_buckets[i]
                ));
            }
            out.push_str(&format!(
                "ship_tick_duration_seconds_bucket{{le=\"+Inf\"}} {}\nship_tick_duration_seconds_sum {}\nship_tick_duration_seconds_count {}\n",
                m.ticks, m.tick_sum, m.ticks
            ));
            out.push_str("# HELP ship_decisions_total Decisions by kind.\n# TYPE ship_decisions_total counter\n");
            for (k, n) in &m.decisions {
                out.push_str(&format!("ship_decisions_total{{kind=\"{}\"}} {n}\n", esc(k)));
            }
            out.push_str("# HELP ship_rollbacks_total Rollbacks started by this server, by cause (a trigger's name, metric-errors, stage-check, max-hold, inconclusive, router, manual, validation).\n# TYPE ship_rollbacks_total counter\n");
            for (k, n) in &m.rollbacks {
                out.push_str(&format!("ship_rollbacks_total{{trigger=\"{}\"}} {n}\n", esc(k)));
            }
            out.push_str("# HELP ship_provider_errors_total Failed provider calls: router, metrics (a tick with a metric source error), integrity.\n# TYPE ship_provider_errors_total counter\n");
            for p in ["router", "metrics", "integrity"] {
                let n = m.provider_errors.get(p).copied().unwrap_or(0);
                out.push_str(&format!("ship_provider_errors_total{{provider=\"{p}\"}} {n}\n"));
            }
            out.push_str("# HELP ship_controller_errors_total Rollout tasks that ended with an error (a provider, the store) and were retried.\n# TYPE ship_controller_errors_total counter\n");
            out.push_str(&format!("ship_controller_errors_total {}\n", m.errors));
            out.push_str("# HELP ship_rollouts_finished_total Rollouts this server drove to an end, by outcome.\n# TYPE ship_rollouts_finished_total counter\n");
            for (k, n) in &m.finished {
                out.push_str(&format!("ship_rollouts_finished_total{{outcome=\"{}\"}} {n}\n", esc(k)));
            }
        });
        out
    }
}

impl shiploop_controller::Telemetry for ServeMetrics {
    fn tick(&self, took: Duration) {
        self.record_tick(took);
    }
    fn decision(&self, release: &str, d: &Decision) {
        self.record_decision(release, d);
    }
    fn provider_error(&self, provider: &'static str) {
        self.with(|m| *m.provider_errors.entry(provider).or_default() += 1);
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollbacks_by_cause_and_the_histogram() {
        use shiploop_controller::Telemetry;
        use shiploop_rollout::{Input, Plan, Rollout};
        let m = ServeMetrics::default();
        // A real rollback decision, then the router's failure and a retry: one rollback.
        let stage = |name: &str, weight, secs: Option<u64>| shiploop_rollout::StagePlan {
            name: name.into(),
            weight,
            duration: secs.map(Duration::from_secs),
            checks: vec![],
        };
        let plan = Plan {
            stages: vec![stage("canary", 5, Some(60)), stage("full", 100, None)],
            triggers: vec![],
            latency_target: None,
            checks: Default::default(),
            settings: Default::default(),
        };
        let mut r = Rollout::new();
        let now = chrono::Utc::now();
        r.step(&plan, now, Input::Start);
        let reason = "automatic rollback (error-rate): dressed up as an operator".to_string();
        let abort = r.step(&plan, now, Input::Abort { reason }).decision;
        m.decision("r1", &abort);
        let failed = r.step(&plan, now, Input::RollbackFailed { error: "x".into() });
        m.decision("r1", &failed.decision);
        m.provider_error("router");
        m.provider_error("router");
        m.tick(Duration::from_millis(30));
        m.tick(Duration::from_secs(20));
        let text = m.render(&BTreeMap::from([("progressing".to_string(), 2)]));
        assert!(
            text.contains("ship_rollouts{phase=\"progressing\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ship_tick_duration_seconds_bucket{le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ship_tick_duration_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(text.contains("ship_ticks_total 2"), "{text}");
        // The cause comes from the decision, never from a reason anyone can type.
        assert!(
            text.contains("ship_rollbacks_total{trigger=\"manual\"} 1"),
            "{text}"
        );
        assert_eq!(text.matches("ship_rollbacks_total{").count(), 1, "{text}");
        assert!(
            text.contains("ship_provider_errors_total{provider=\"router\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ship_provider_errors_total{provider=\"metrics\"} 0"),
            "{text}"
        );
    }
}
