//! Building a rollout's plan and providers from the approved contract and ship.toml.

use crate::Result;
use shiploop_artifacts::criteria::{value_differences, Criteria};
use shiploop_artifacts::release::Kind;
use shiploop_judge::Origin;
use shiploop_providers::cfg::{AdminSettings, BuildContext};
use shiploop_providers::metrics::{self, Counts, MetricsKind};
use shiploop_providers::runner::{RunError, Runner};
use shiploop_providers::{MetricSource, ProviderError, TrafficRouter};
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::{CheckDef, Plan, Settings};
use shiploop_workspace::{Error, LoadedRelease, Workspace};
use std::collections::BTreeMap;

/// The plan a rollout executes: stages, triggers and decision settings exactly as approved in
/// the contract (a contract compiled before it carried settings: those of ship.toml).
pub fn plan_for(ws: &Workspace, r: &LoadedRelease) -> Result<Plan> {
    let m = &r.contract.meta;
    let (criteria, from) = match &m.criteria {
        Some(c) => (c.clone(), format!("{}: criteria", ws.rel(&r.path))),
        None => (criteria_for(ws, r), "ship.toml".to_string()),
    };
    plan_with(ws, &m.stages, &m.rollback.automatic, &criteria, &from)
}

/// The decision settings of a release: the approved contract's, or (for a contract compiled
/// before contracts carried them) ship.toml's.
pub fn criteria_for(ws: &Workspace, r: &LoadedRelease) -> Criteria {
    let m = &r.contract.meta;
    m.criteria
        .clone()
        .unwrap_or_else(|| ws.config.criteria(m.kind == Kind::Hotfix))
}

/// What ship.toml now says that differs from the settings the release was approved with
/// (empty for a contract without approved settings): reported, never applied.
pub fn criteria_drift(ws: &Workspace, r: &LoadedRelease) -> Vec<String> {
    let m = &r.contract.meta;
    let mut out = match &m.criteria {
        Some(c) => c.differences(&ws.config.criteria(m.kind == Kind::Hotfix)),
        None => vec![],
    };
    // The triggers' thresholds (rollback.*, latency.p99_target) are approved in the contract.
    let approved = serde_json::to_value(&m.rollback.automatic).unwrap_or_default();
    let now = serde_json::to_value(ws.config.rollback().automatic).unwrap_or_default();
    for d in value_differences(&approved, &now, "approved", "ship.toml now") {
        out.push(format!("rollback trigger {d}"));
    }
    out
}

/// The plan a release compiled now would get: stages, triggers and settings from ship.toml.
pub fn plan_from_config(ws: &Workspace) -> Result<Plan> {
    let cfg = &ws.config;
    plan_with(
        ws,
        &cfg.rollout_stages(),
        &cfg.rollback().automatic,
        &cfg.criteria(false),
        "ship.toml",
    )
}

fn plan_with(
    ws: &Workspace,
    stages: &[shiploop_artifacts::release::Stage],
    triggers: &[shiploop_artifacts::release::Trigger],
    criteria: &Criteria,
    from: &str,
) -> Result<Plan> {
    let mut checks = BTreeMap::new();
    for (name, c) in &criteria.checks {
        let condition =
            c.condition
                .parse()
                .map_err(|e: shiploop_rollout::condition::ConditionError| {
                    Error::Usage(format!("{from}: checks.{name}.condition: {e}"))
                })?;
        checks.insert(
            name.clone(),
            CheckDef {
                metric: c.metric.clone(),
                condition,
                min_samples: c.min_samples,
            },
        );
    }
    let r = &criteria.rollout;
    let j = &criteria.judge;
    let judge_cfg = shiploop_config::JudgeCfg {
        alpha: j.alpha,
        beta: j.beta,
        inconclusive: j.inconclusive,
    };
    if let Some((_, problem)) = judge_cfg.problem() {
        return Err(Error::Usage(format!("{from}: {problem}")));
    }
    let inconclusive = j.inconclusive;
    let settings = Settings {
        min_samples: r.min_samples,
        error_limit: r.error_limit,
        failure_limit: r.failure_limit,
        max_hold: r.max_hold.0,
        max_tick_gap: r.max_tick_gap.0,
        strict_checks: r.strict_checks,
        judge: shiploop_judge::Settings {
            alpha: j.alpha,
            beta: j.beta,
            origin: counts_from(&ws.config),
        },
        inconclusive,
    };
    Ok(Plan::from_contract(stages, triggers, checks, settings))
}

/// Where the configured metric source's request counts start: ship's proxy keeps running
/// counters; Prometheus' presets count since the stage began; a command says which.
fn counts_from(cfg: &shiploop_config::Config) -> Origin {
    match cfg.metrics.configured().counts() {
        Counts::Counter => Origin::Counter,
        Counts::Stage => Origin::Stage,
    }
}

/// What a rollout acts and measures through: router, metric source, data-integrity checks.
pub struct Providers {
    /// Moves traffic between the stable release and the canary.
    pub router: Box<dyn TrafficRouter>,
    /// Measures both versions for the rollout's checks.
    pub metrics: Box<dyn MetricSource>,
    integrity: BTreeMap<String, Integrity>,
}

impl Providers {
    /// Providers given directly (tests, embedders); no data-integrity checks.
    pub fn new(router: Box<dyn TrafficRouter>, metrics: Box<dyn MetricSource>) -> Providers {
        Providers {
            router,
            metrics,
            integrity: BTreeMap::new(),
        }
    }
}

enum Integrity {
    Command(Runner, String),
    Http(String, std::time::Duration),
}

/// Where ship's proxy's admin API is, for the builtin providers and messages.
fn admin_settings(cfg: &shiploop_config::Config) -> AdminSettings {
    AdminSettings {
        addr: cfg.proxy.admin.to_string(),
        url: cfg.proxy.admin_url(),
        token_env: cfg.proxy.token_env.clone(),
        fleet: cfg.router.builtin.fleet.clone(),
    }
}

/// Reads a secret's environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds with the workspace's build context: its root, service, environment and proxy.
fn with_context<T>(
    ws: &Workspace,
    asker: Option<&str>,
    f: impl FnOnce(&BuildContext) -> std::result::Result<T, ProviderError>,
) -> Result<T> {
    let admin = admin_settings(&ws.config);
    let cx = BuildContext {
        root: &ws.root,
        service: &ws.config.service.name,
        env: &env_var,
        admin: &admin,
        asker,
    };
    // Building reads only ship.toml and the secrets it names: every failure is the user's
    // to fix there, and its message says which setting.
    f(&cx).map_err(|e| Error::Usage(e.to_string()))
}

/// The traffic router ship.toml configures (`router.kind`).
pub fn router_for(ws: &Workspace) -> Result<Box<dyn TrafficRouter>> {
    with_context(ws, None, |cx| ws.config.router.build(cx))
}

/// The metric source ship.toml configures (`metrics.kind`), with the alert source when
/// `[alerts]` names one. Its errors name the setting that is missing or wrong.
pub fn metrics_for(ws: &Workspace) -> Result<Box<dyn MetricSource>> {
    with_context(ws, None, |cx| {
        metrics::build(&ws.config.metrics, &ws.config.alerts, cx)
    })
}

/// The source of `kind` as ship.toml configures it, whatever `metrics.kind` is: outcome
/// metrics name their own source. `asker` names what asks, for messages.
pub(crate) fn source_for(
    ws: &Workspace,
    kind: MetricsKind,
    asker: &str,
) -> Result<Box<dyn MetricSource>> {
    with_context(ws, Some(asker), |cx| {
        ws.config.metrics.source(kind).build(cx)
    })
}

/// Where the metrics come from, by the settings that say so, for messages:
/// `metrics.kind = "command": metrics.command.command = "cat metrics.json"`.
pub fn metrics_setting(cfg: &shiploop_config::Config) -> String {
    cfg.metrics.setting(&admin_settings(cfg))
}

/// The router, metric source and integrity checks that ship.toml configures.
pub fn providers_for(ws: &Workspace) -> Result<Providers> {
    let cfg = &ws.config;
    let router = router_for(ws)?;
    let metrics = metrics_for(ws)?;
    let integrity = cfg
        .integrity
        .iter()
        .map(|(name, c)| {
            let check = if c.http.trim().is_empty() {
                Integrity::Command(
                    Runner {
                        dir: ws.root.clone(),
                        timeout: c.timeout.0,
                    },
                    c.command.clone(),
                )
            } else {
                Integrity::Http(c.http.trim().to_string(), c.timeout.0)
            };
            (name.clone(), check)
        })
        .collect();
    Ok(Providers {
        router,
        metrics,
        integrity,
    })
}

impl Providers {
    /// Runs the data-integrity check behind `integrity/<name>`: 1 when it exits 0, 0 when it
    /// fails, an error when it cannot run or times out.
    pub async fn integrity_check(&self, key: &str) -> Measurement {
        let name = shiploop_rollout::measure::integrity_check_of(key).unwrap_or(key);
        match self.integrity.get(name) {
            None => Measurement::error(format!("no [integrity.{name}] in ship.toml")),
            Some(Integrity::Command(runner, cmd)) => match runner.run(cmd).await {
                Ok(_) => Measurement::value(1.0, 1),
                // It ran and said no, whatever its output says: a failed check.
                Err(RunError::Failed { .. }) => Measurement::value(0.0, 1),
                Err(e @ (RunError::TimedOut { .. } | RunError::CouldNotStart { .. })) => {
                    Measurement::Error {
                        local: e.is_local(),
                        message: e.to_string(),
                    }
                }
            },
            Some(Integrity::Http(url, timeout)) => {
                match shiploop_providers::http::get(url, *timeout).await {
                    Ok(s) if (200..300).contains(&s) => Measurement::value(1.0, 1),
                    Ok(_) => Measurement::value(0.0, 1),
                    Err(e) => e.measurement(),
                }
            }
        }
    }
}
