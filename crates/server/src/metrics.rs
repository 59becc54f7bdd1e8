//! `/metrics` in Prometheus text format: ship's own health — rollouts by phase, ticks and
//! their duration, decisions, rollbacks by cause, provider and controller errors.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use shiploop_rollout::Decision;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the tick duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The provider calls counted by `ship_provider_errors_total`: each one is exposed (at 0 until
/// it fails), so a query over them never reads "no data".
const PROVIDERS: [&str; 3] = ["router", "metrics", "integrity"];

/// One label, e.g. `kind="complete"`.
type Label = [(&'static str, String); 1];

/// The last error of a rollout's task on this server, until the rollout decides again: what the
/// API shows as `last_error`, so an operator sees why a rollout stands still.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastError {
    /// When the error happened.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What went wrong.
    pub message: String,
    /// When the rollout's task tries again.
    pub retry_at: chrono::DateTime<chrono::Utc>,
}

/// ship's own counters since this server started. prometheus-client keeps and encodes them;
/// the metrics share their counts with their clones, so each scrape registers clones in a
/// registry of its own beside the values it read (rollouts by phase, open streams).
#[derive(Debug)]
pub struct ServeMetrics {
    ticks: Counter,
    tick_duration: Histogram,
    decisions: Family<Label, Counter>,
    rollbacks: Family<Label, Counter>,
    provider_errors: Family<Label, Counter>,
    errors: Counter,
    finished: Family<Label, Counter>,
    last_errors: Mutex<BTreeMap<String, LastError>>,
}

impl Default for ServeMetrics {
    fn default() -> Self {
        let provider_errors = Family::<Label, Counter>::default();
        for p in PROVIDERS {
            let _ = provider_errors.get_or_create(&[("provider", p.to_string())]);
        }
        Self {
            ticks: Counter::default(),
            tick_duration: Histogram::new(BUCKETS),
            decisions: Family::default(),
            rollbacks: Family::default(),
            provider_errors,
            errors: Counter::default(),
            finished: Family::default(),
            last_errors: Mutex::default(),
        }
    }
}

/// What a scrape read besides the counters: the rollouts by phase (None: the state database
/// could not be read) and the live event streams.
#[derive(Debug, Default)]
pub struct Scrape<'a> {
    /// Rollouts by phase; None when the state database could not be read.
    pub phases: Option<&'a BTreeMap<String, u64>>,
    /// Live event streams open now.
    pub event_streams: usize,
}

impl ServeMetrics {
    fn last_errors<T>(&self, f: impl FnOnce(&mut BTreeMap<String, LastError>) -> T) -> T {
        let mut g = self.last_errors.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn record_tick(&self, took: Duration) {
        self.ticks.inc();
        self.tick_duration.observe(took.as_secs_f64());
    }

    fn record_decision(&self, release: &str, d: &Decision) {
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.last_errors(|m| m.remove(release));
        self.decisions.get_or_create(&[("kind", kind)]).inc();
        // Only the decision that starts a rollback has a cause (a fixed set of names);
        // retries and a restart's "still rolling back" are not new rollbacks.
        if let Some(cause) = &d.rollback_cause {
            self.rollbacks
                .get_or_create(&[("trigger", cause.as_str().to_string())])
                .inc();
        }
    }

    /// Counts a rollout task's error, kept as the rollout's `last_error` until it decides again.
    pub fn error(&self, release: &str, message: &str, retry_in: Duration) {
        let at = chrono::Utc::now();
        let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
        self.errors.inc();
        if !release.is_empty() {
            let message = message.to_string();
            let e = LastError {
                at,
                message,
                retry_at,
            };
            self.last_errors(|m| m.insert(release.to_string(), e));
        }
    }

    /// Counts a finished rollout by its outcome and forgets its last error.
    pub fn finished(&self, release: &str, outcome: &str) {
        self.last_errors(|m| m.remove(release));
        self.finished
            .get_or_create(&[("outcome", outcome.to_string())])
            .inc();
    }

    /// The rollout's last error on this server, if it has not decided since.
    pub fn last_error(&self, release: &str) -> Option<LastError> {
        self.last_errors(|m| m.get(release).cloned())
    }

    /// The exposition in the Prometheus text format (0.0.4, [`CONTENT_TYPE`]): the counters,
    /// with what the caller read for this scrape. Names stay those of the 0.0.4 format
    /// (`ship_ticks_total`'s HELP and TYPE lines name it with its suffix).
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut r = Registry::default();
        let phases = Family::<Label, Gauge>::default();
        for (p, n) in scrape.phases.into_iter().flatten() {
            phases
                .get_or_create(&[("phase", p.clone())])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        // Without the database the rollouts cannot be counted: say so rather than report none.
        let up = gauge(i64::from(scrape.phases.is_some()));
        let streams = gauge(i64::try_from(scrape.event_streams).unwrap_or(i64::MAX));
        register!(r;
            "ship_rollouts", "Rollouts in the state database by phase" => phases;
            "ship_ticks", "Controller ticks run by this server" => self.ticks.clone();
            "ship_tick_duration_seconds", "How long a tick took (measure, decide, record, act)" => self.tick_duration.clone();
            "ship_decisions", "Decisions by kind" => self.decisions.clone();
            "ship_rollbacks", "Rollbacks started by this server, by cause (a trigger's name, metric-errors, stage-check, max-hold, inconclusive, router, manual, validation)" => self.rollbacks.clone();
            "ship_provider_errors", "Failed provider calls: router, metrics (a tick with a metric source error), integrity" => self.provider_errors.clone();
            "ship_controller_errors", "Rollout tasks that ended with an error (a provider, the store) and were retried" => self.errors.clone();
            "ship_rollouts_finished", "Rollouts this server drove to an end, by outcome" => self.finished.clone();
            "ship_state_database_up", "Whether the state database could be read for this scrape" => up;
            "ship_server_event_streams", "Live event streams open (server.max_streams caps them)" => streams;
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &r);
        out
    }
}

/// Registers each `name, help => metric` in the registry, in order (the exposition's order).
/// A macro rather than a loop: the metrics are of different types, and the registry takes
/// each by value as its own type.
macro_rules! register {
    ($r:ident; $($name:literal, $help:literal => $metric:expr;)*) => {
        $($r.register($name, $help, $metric);)*
    };
}
use register;

/// A gauge set to `value`, for what a scrape read.
fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

/// The content type of [`ServeMetrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

impl shiploop_controller::Telemetry for ServeMetrics {
    fn tick(&self, took: Duration) {
        self.record_tick(took);
    }
    fn decision(&self, release: &str, d: &Decision) {
        self.record_decision(release, d);
    }
    fn provider_error(&self, provider: &'static str) {
        self.provider_errors
            .get_or_create(&[("provider", provider.to_string())])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiploop_rollout::{Input, Plan, Rollout, StagePlan};

    /// A plan of `stages` (no triggers, default checks and settings) and a rollout started on it.
    fn started(stages: Vec<StagePlan>) -> (Plan, Rollout, chrono::DateTime<chrono::Utc>) {
        let plan = Plan {
            stages,
            triggers: vec![],
            latency_target: None,
            checks: Default::default(),
            settings: Default::default(),
        };
        let mut r = Rollout::new();
        let now = chrono::Utc::now();
        r.step(&plan, now, Input::Start);
        (plan, r, now)
    }

    #[test]
    fn rollbacks_by_cause_and_the_histogram() {
        use shiploop_controller::Telemetry;
        let m = ServeMetrics::default();
        // A real rollback decision, then the router's failure and a retry: one rollback.
        let stage = |name: &str, weight, secs: Option<u64>| StagePlan {
            name: name.into(),
            weight,
            duration: secs.map(Duration::from_secs),
            checks: vec![],
        };
        let (plan, mut r, now) =
            started(vec![stage("canary", 5, Some(60)), stage("full", 100, None)]);
        let reason = "automatic rollback (error-rate): dressed up as an operator".to_string();
        let abort = r.step(&plan, now, Input::Abort { reason }).decision;
        m.decision("r1", &abort);
        let failed = r.step(&plan, now, Input::RollbackFailed { error: "x".into() });
        m.decision("r1", &failed.decision);
        m.provider_error("router");
        m.provider_error("router");
        m.tick(Duration::from_millis(30));
        m.tick(Duration::from_secs(20));
        let phases = BTreeMap::from([("progressing".to_string(), 2)]);
        let text = m.render(&Scrape {
            phases: Some(&phases),
            event_streams: 1,
        });
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

    /// The names, HELP and TYPE lines dashboards and alerts read, as the 0.0.4 text format
    /// writes them (`_total` in a counter's name, no `# EOF`), and the gauges of one scrape.
    #[test]
    fn families_keep_their_names_and_help() {
        use shiploop_controller::Telemetry;
        let m = ServeMetrics::default();
        let (plan, mut r, now) = started(vec![StagePlan {
            name: "full".into(),
            weight: 100,
            duration: None,
            checks: vec![],
        }]);
        let reason = "by hand".to_string();
        m.decision("r1", &r.step(&plan, now, Input::Abort { reason }).decision);
        m.finished("r1", "completed");
        m.error("r1", "boom", Duration::from_secs(10));
        // (A family without series, e.g. no decision yet, is left out whole, HELP and TYPE too.)
        let phases = BTreeMap::from([("completed".to_string(), 1)]);
        let text = m.render(&Scrape {
            phases: Some(&phases),
            event_streams: 3,
        });
        let described: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            described,
            [
            "# HELP ship_rollouts Rollouts in the state database by phase.",
            "# TYPE ship_rollouts gauge",
            "# HELP ship_ticks_total Controller ticks run by this server.",
            "# TYPE ship_ticks_total counter",
            "# HELP ship_tick_duration_seconds How long a tick took (measure, decide, record, act).",
            "# TYPE ship_tick_duration_seconds histogram",
            "# HELP ship_decisions_total Decisions by kind.",
            "# TYPE ship_decisions_total counter",
            "# HELP ship_rollbacks_total Rollbacks started by this server, by cause (a trigger's name, metric-errors, stage-check, max-hold, inconclusive, router, manual, validation).",
            "# TYPE ship_rollbacks_total counter",
            "# HELP ship_provider_errors_total Failed provider calls: router, metrics (a tick with a metric source error), integrity.",
            "# TYPE ship_provider_errors_total counter",
            "# HELP ship_controller_errors_total Rollout tasks that ended with an error (a provider, the store) and were retried.",
            "# TYPE ship_controller_errors_total counter",
            "# HELP ship_rollouts_finished_total Rollouts this server drove to an end, by outcome.",
            "# TYPE ship_rollouts_finished_total counter",
            "# HELP ship_state_database_up Whether the state database could be read for this scrape.",
            "# TYPE ship_state_database_up gauge",
            "# HELP ship_server_event_streams Live event streams open (server.max_streams caps them).",
            "# TYPE ship_server_event_streams gauge",
            ],
            "{text}"
        );
        for line in [
            "ship_rollouts_finished_total{outcome=\"completed\"} 1",
            "ship_controller_errors_total 1",
            "ship_state_database_up 1",
            "ship_server_event_streams 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        let unread = m.render(&Scrape::default());
        assert!(
            unread.lines().any(|l| l == "ship_state_database_up 0"),
            "{unread}"
        );
    }
}
