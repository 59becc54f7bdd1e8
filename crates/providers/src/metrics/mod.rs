//! Metric sources, one folder each, and the registry: `[metrics] kind` names one, its table
//! (`[metrics.<kind>]`) configures it.
//!
//! A source's folder owns its configuration type (the keys of its table, with their
//! defaults), its validation, its construction and its tests. Adding one is a folder, a
//! variant of [`MetricsKind`] and its table here, and its section in docs/CONFIG.md
//! (docs/EXTENDING.md walks through it).

pub mod alertmanager;
pub mod builtin;
pub mod command;
pub mod json;
pub mod prometheus;

use crate::cfg::{AdminSettings, BuildContext, Problem, Problems};
use crate::{MetricSource, ProviderError};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use shiploop_rollout::Observation;
use std::time::Duration;

/// `metrics.kind`: where a rollout's measurements come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsKind {
    /// Ship's own proxy (`[proxy]`).
    Builtin,
    /// A user command printing JSON (`[metrics.command]`).
    Command,
    /// PromQL over Prometheus' HTTP API (`[metrics.prometheus]`).
    Prometheus,
    /// Services' own counters as JSON over HTTP (`[metrics.json]`).
    Json,
}

impl MetricsKind {
    /// Every kind, for messages that list them.
    pub const ALL: &'static [MetricsKind] = &[
        MetricsKind::Builtin,
        MetricsKind::Command,
        MetricsKind::Prometheus,
        MetricsKind::Json,
    ];

    /// The name ship.toml and outcome contracts use.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsKind::Builtin => "builtin",
            MetricsKind::Command => "command",
            MetricsKind::Prometheus => "prometheus",
            MetricsKind::Json => "json",
        }
    }

    /// The kind called `name` (an outcome metric's `source`).
    pub fn parse(name: &str) -> Option<MetricsKind> {
        MetricsKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == name)
    }
}

/// `[metrics]`: the kind, the window, and every source's table (a table may be written for a
/// kind not in use: `ship init` writes them to be filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsCfg {
    /// The source in use.
    pub kind: MetricsKind,
    /// The window each measurement covers.
    pub window: Dur,
    /// `[metrics.command]`.
    pub command: command::CommandMetricsCfg,
    /// `[metrics.prometheus]`.
    pub prometheus: prometheus::PrometheusCfg,
    /// `[metrics.json]`.
    pub json: json::JsonCfg,
}

impl Default for MetricsCfg {
    fn default() -> Self {
        MetricsCfg {
            kind: MetricsKind::Command,
            window: Dur::from_secs(60),
            command: Default::default(),
            prometheus: Default::default(),
            json: Default::default(),
        }
    }
}

/// Where a source's request counts start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counts {
    /// Since the stage began (`{since}` seconds ago).
    Stage,
    /// A running counter, e.g. a server's own since its start: only the increase between
    /// ticks counts, and a count that goes down is a restart.
    Counter,
}

/// What the registry needs of a source's configuration.
pub trait SourceCfg {
    /// Every problem with the table, with the key each is about.
    fn check(&self, p: &mut Problems);
    /// The source, or why it cannot be built (a missing secret, an empty command).
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn MetricSource>, ProviderError>;
    /// The settings that say where the metrics come from, for messages:
    /// `metrics.command.command = "cat metrics.json"`.
    fn describe(&self, admin: &AdminSettings) -> String;
    /// Where its request counts start.
    fn counts(&self) -> Counts {
        Counts::Stage
    }
    /// Whether it can answer `alerts/critical_security` itself (without `[alerts]`).
    fn answers_alerts(&self) -> bool {
        false
    }
    /// Whether it measures outcome metrics ([`MetricSource::value_at`]).
    fn outcomes(&self) -> bool {
        false
    }
    /// How often a rollout measures with `rollout.tick_interval = "auto"`.
    fn auto_tick(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// `kind = "builtin"` has no table: the proxy is `[proxy]`.
struct BuiltinCfg;

impl SourceCfg for BuiltinCfg {
    fn check(&self, _p: &mut Problems) {}
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn MetricSource>, ProviderError> {
        let asker = cx.asker.unwrap_or(r#"metrics.kind = "builtin""#);
        let mut members = cx.admin_clients(asker)?;
        if members.len() == 1 {
            if let Some((_, admin)) = members.pop() {
                return Ok(Box::new(builtin::BuiltinSource { admin }));
            }
        }
        let members = members
            .into_iter()
            .map(|(addr, admin)| (format!("proxy {addr}"), builtin::BuiltinSource { admin }))
            .collect();
        Ok(Box::new(builtin::fleet::FleetSource { members }))
    }
    fn describe(&self, admin: &AdminSettings) -> String {
        if admin.fleet.is_empty() {
            format!("ship's proxy's admin API, proxy.admin = \"{}\"", admin.addr)
        } else {
            format!(
                "the admin APIs of ship's proxies, router.builtin.fleet = {:?}",
                admin.fleet
            )
        }
    }
    fn outcomes(&self) -> bool {
        true
    }
    fn counts(&self) -> Counts {
        // The proxy keeps running counters.
        Counts::Counter
    }
    fn auto_tick(&self) -> Duration {
        // Local and cheap to ask.
        Duration::from_secs(1)
    }
}

impl MetricsCfg {
    /// The registry: the configuration of the source of `kind`.
    pub fn source(&self, kind: MetricsKind) -> &dyn SourceCfg {
        match kind {
            MetricsKind::Builtin => &BuiltinCfg,
            MetricsKind::Command => &self.command,
            MetricsKind::Prometheus => &self.prometheus,
            MetricsKind::Json => &self.json,
        }
    }

    /// The kinds that measure outcome metrics.
    pub fn outcome_kinds(&self) -> Vec<MetricsKind> {
        MetricsKind::ALL
            .iter()
            .copied()
            .filter(|k| self.source(*k).outcomes())
            .collect()
    }

    /// The configured source's configuration.
    pub fn configured(&self) -> &dyn SourceCfg {
        self.source(self.kind)
    }

    /// Every problem with the tables in use: the configured source's, and those of every
    /// source that measures outcomes (an outcome metric may name one whatever the kind).
    pub fn problems(&self) -> Vec<Problem> {
        let mut kinds = vec![self.kind];
        kinds.extend(self.outcome_kinds().into_iter().filter(|k| *k != self.kind));
        let mut found = Vec::new();
        for kind in kinds {
            let table = ["metrics", kind.as_str()];
            let mut p = Problems::new(&table);
            self.source(kind).check(&mut p);
            found.extend(p.found);
        }
        found
    }

    /// Where the metrics come from, by the settings that say so, for messages:
    /// `metrics.kind = "command": metrics.command.command = "cat metrics.json"`.
    pub fn setting(&self, admin: &AdminSettings) -> String {
        format!(
            "metrics.kind = \"{}\": {}",
            self.kind.as_str(),
            self.configured().describe(admin)
        )
    }
}

/// The metric source `[metrics]` configures, with the alert source when `[alerts]` names
/// one (its `alerts/…` keys go there).
pub fn build(
    metrics: &MetricsCfg,
    alerts: &alertmanager::AlertsCfg,
    cx: &BuildContext,
) -> Result<Box<dyn MetricSource>, ProviderError> {
    let source = metrics.configured().build(cx)?;
    Ok(match alerts.build(cx)? {
        Some(alerts) => Box::new(crate::composite::WithAlerts {
            metrics: source,
            alerts: Box::new(alerts),
        }),
        None => source,
    })
}

/// Every key answered with the same error (a source that could not be asked at all).
pub(crate) fn all_error(keys: &[String], e: &ProviderError) -> Observation {
    keys.iter().map(|k| (k.clone(), e.measurement())).collect()
}

/// A point of a series: (seconds since the Unix epoch, value).
pub type Point = (f64, f64);

/// What an outcome measurement asks a source: the value of `query` at `end` (over the span
/// from `start`, for a source that only knows a window), or its series from `start` to `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeQuery<'a> {
    /// The outcome metric's query (`{{service}}` and `{{mission}}` filled by the source).
    pub query: &'a str,
    /// `service.name`.
    pub service: &'a str,
    /// The mission the outcome belongs to.
    pub mission: &'a str,
    /// The latest release of the mission.
    pub release: &'a str,
    /// Seconds since the Unix epoch.
    pub start: f64,
    /// Seconds since the Unix epoch: when the value is wanted, and the series ends.
    pub end: f64,
    /// About how many points a series should have.
    pub points: u32,
}

impl OutcomeQuery<'_> {
    /// The step of a series of about `points` points, in whole seconds.
    pub fn step_secs(&self) -> u64 {
        ((self.end - self.start) / f64::from(self.points.max(2)))
            .ceil()
            .max(1.0) as u64
    }
}
