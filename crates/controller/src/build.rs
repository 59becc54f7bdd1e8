//! Building a rollout's plan and providers from the approved contract and ship.toml.

use crate::Result;
use shiploop_artifacts::criteria::{value_differences, Criteria};
use shiploop_artifacts::release::Kind;
use shiploop_artifacts::Dur;
use shiploop_config::AuthCfg;
use shiploop_judge::Origin;
use shiploop_providers::alertmanager::AlertmanagerSource;
use shiploop_providers::builtin::{AdminClient, BuiltinRouter, BuiltinSource};
use shiploop_providers::command::{CommandRouter, CommandSource, RunError, Runner};
use shiploop_providers::composite::WithAlerts;
use shiploop_providers::haproxy::HaproxyRouter;
use shiploop_providers::http::{Auth, Http};
use shiploop_providers::nginx::{NginxRouter, Probe};
use shiploop_providers::prometheus::{presets, PrometheusSource, Query, Reduce};
use shiploop_providers::{MetricSource, TrafficRouter};
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::plan::Inconclusive;
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
        let condition = c
            .condition
            .parse()
            .map_err(|e: String| Error::Usage(format!("{from}: checks.{name}.condition: {e}")))?;
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
        inconclusive: j.inconclusive.clone(),
    };
    if let Some((_, problem)) = judge_cfg.problem() {
        return Err(Error::Usage(format!("{from}: {problem}")));
    }
    let inconclusive = match j.inconclusive.as_str() {
        "pause" => Inconclusive::Pause,
        "promote" => Inconclusive::Promote,
        "rollback" => Inconclusive::Rollback,
        other => {
            return Err(Error::Usage(format!(
                "{from}: judge.inconclusive: {other:?} is not pause, promote or rollback"
            )))
        }
    };
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
    match (
        cfg.metrics.kind.as_str(),
        cfg.metrics.command.counts.as_str(),
    ) {
        ("builtin", _) | ("command", "counter") => Origin::Counter,
        _ => Origin::Stage,
    }
}

pub struct Providers {
    pub router: Box<dyn TrafficRouter>,
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

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The admin API client for `kind = "builtin"`: `proxy.admin`, with the token from the
/// environment variable `proxy.token_env`. `user` is what asks for it (`metrics.kind =
/// "builtin"`, …), for the message when the token is missing.
/// Admin calls are local and quick; one that takes 10 s is an error for that tick.
pub(crate) fn admin_client(ws: &Workspace, user: &str) -> Result<AdminClient> {
    let p = &ws.config.proxy;
    let token = std::env::var(&p.token_env).unwrap_or_default();
    if token.trim().len() < 16 {
        return Err(Error::Usage(format!(
            "ship.toml: {user} uses ship's proxy's admin API (proxy.admin = \"{}\"): set ${} (proxy.token_env) to its admin API token (at least 16 characters), as for `ship proxy`",
            p.admin, p.token_env
        )));
    }
    Ok(AdminClient::new(
        &p.admin_url(),
        token.trim(),
        std::time::Duration::from_secs(10),
    ))
}

/// An HTTP client for a server table: its timeout, auth from environment variables, extra CA.
fn http_for(ws: &Workspace, table: &str, a: &dyn AuthCfg, timeout: Dur) -> Result<Http> {
    let env = |key: &str, var: &str| {
        std::env::var(var).map_err(|_| {
            Error::Usage(format!(
                "ship.toml: {table}.{key} = {var:?}: ${var} is not set (it holds {table}'s secret)"
            ))
        })
    };
    let auth = if !a.bearer_token_env().is_empty() {
        Auth::Bearer(
            env("bearer_token_env", a.bearer_token_env())?
                .trim()
                .to_string(),
        )
    } else if !a.basic_user().is_empty() {
        Auth::Basic {
            user: a.basic_user().to_string(),
            password: env("basic_password_env", a.basic_password_env())?,
        }
    } else {
        Auth::None
    };
    let ca = match a.ca_file() {
        "" => None,
        f => {
            let path = ws.root.join(f);
            Some(std::fs::read(&path).map_err(|e| {
                Error::Usage(format!(
                    "ship.toml: {table}.ca_file = {f:?}: cannot read {}: {e}",
                    path.display()
                ))
            })?)
        }
    };
    Http::new(timeout.0, auth, ca.as_deref())
        .map_err(|e| Error::Usage(format!("ship.toml: {table}: {e}")))
}

pub(crate) fn prometheus_source(ws: &Workspace) -> Result<PrometheusSource> {
    let c = &ws.config.metrics.prometheus;
    let mut queries = presets();
    for (name, q) in &c.queries {
        queries.insert(
            name.clone(),
            Query {
                query: q.query.clone(),
                samples: non_empty(&q.samples),
                range: q.range.map(|r| {
                    (
                        r.0,
                        q.step.0,
                        Reduce::parse(&q.reduce).unwrap_or(Reduce::Max),
                    )
                }),
            },
        );
    }
    Ok(PrometheusSource {
        http: http_for(ws, "metrics.prometheus", c, c.timeout)?,
        base: c.url.clone(),
        selector: c.selector.clone(),
        versions: BTreeMap::from([
            ("stable".to_string(), c.stable_version.clone()),
            ("canary".to_string(), c.canary_version.clone()),
        ]),
        instances: BTreeMap::from([
            ("stable".to_string(), c.stable_instances.clone()),
            ("canary".to_string(), c.canary_instances.clone()),
        ]),
        queries,
        buckets: c.buckets.clone(),
    })
}

fn alert_source(ws: &Workspace) -> Result<Option<AlertmanagerSource>> {
    let c = &ws.config.alerts;
    if c.kind != "alertmanager" {
        return Ok(None);
    }
    let both: Vec<String> = c.critical.iter().chain(&c.security).cloned().collect();
    Ok(Some(AlertmanagerSource {
        http: http_for(ws, "alerts", c, c.timeout)?,
        base: c.url.clone(),
        matchers: BTreeMap::from([
            ("critical".to_string(), c.critical.clone()),
            ("critical_security".to_string(), both),
        ]),
    }))
}

/// The traffic router ship.toml configures (`router.kind`).
pub fn router_for(ws: &Workspace) -> Result<Box<dyn TrafficRouter>> {
    let cfg = &ws.config;
    let router: Box<dyn TrafficRouter> = match cfg.router.kind.as_str() {
        "builtin" => Box::new(BuiltinRouter {
            admin: admin_client(ws, r#"router.kind = "builtin""#)?,
        }),
        "haproxy" => {
            let h = &cfg.router.haproxy;
            Box::new(HaproxyRouter {
                socket: ws.root.join(&h.socket),
                backend: h.backend.clone(),
                stable_server: h.stable_server.clone(),
                canary_server: h.canary_server.clone(),
                state_file: (!h.state_file.is_empty()).then(|| ws.root.join(&h.state_file)),
                timeout: h.timeout.0,
            })
        }
        "nginx" => {
            let n = &cfg.router.nginx;
            Box::new(NginxRouter {
                include_file: ws.root.join(&n.include_file),
                service: cfg.service.name.clone(),
                stable: n.stable.clone(),
                canary: n.canary.clone(),
                split_key: n.split_key.clone(),
                status_listen: n.status_listen.clone(),
                test_command: n.test_command.clone(),
                reload_command: n.reload_command.clone(),
                runner: Runner {
                    dir: ws.root.clone(),
                    timeout: n.timeout.0,
                },
                probe: (!n.probe_url.is_empty()).then(|| Probe {
                    url: n.probe_url.clone(),
                    header: n.probe_header.clone(),
                    stable_value: n.stable_value.clone(),
                    canary_value: n.canary_value.clone(),
                }),
            })
        }
        "command" => {
            let c = &cfg.router.command;
            let set_weight = non_empty(&c.set_weight).ok_or_else(|| {
                Error::Usage("ship.toml: router.command.set_weight is empty: say how to set the new version's traffic weight".into())
            })?;
            Box::new(CommandRouter {
                runner: Runner {
                    dir: ws.root.clone(),
                    timeout: c.timeout.0,
                },
                set_weight,
                get_weight: non_empty(&c.get_weight),
                promote: non_empty(&c.promote),
                rollback: non_empty(&c.rollback),
            })
        }
        other => {
            return Err(Error::Usage(format!(
                "ship.toml: router.kind {other:?} is not supported"
            )))
        }
    };
    Ok(router)
}

/// The metric source ship.toml configures (`metrics.kind`), with the alert source when
/// `[alerts]` names one. Its errors name the setting that is missing or wrong.
pub fn metrics_for(ws: &Workspace) -> Result<Box<dyn MetricSource>> {
    let cfg = &ws.config;
    let metrics: Box<dyn MetricSource> = match cfg.metrics.kind.as_str() {
        "builtin" => Box::new(BuiltinSource {
            admin: admin_client(ws, r#"metrics.kind = "builtin""#)?,
        }),
        "prometheus" => Box::new(prometheus_source(ws)?),
        "command" => {
            let c = &cfg.metrics.command;
            let command = non_empty(&c.command).ok_or_else(|| {
                Error::Usage(
                    "ship.toml: metrics.command.command is empty: say how to measure the release"
                        .into(),
                )
            })?;
            Box::new(CommandSource {
                runner: Runner {
                    dir: ws.root.clone(),
                    timeout: c.timeout.0,
                },
                command,
            })
        }
        other => {
            return Err(Error::Usage(format!(
                "ship.toml: metrics.kind {other:?} is not supported"
            )))
        }
    };
    Ok(match alert_source(ws)? {
        Some(alerts) => Box::new(WithAlerts {
            metrics,
            alerts: Box::new(alerts),
        }),
        None => metrics,
    })
}

/// Where the metrics come from, by the settings that say so, for messages:
/// `metrics.kind = "command": metrics.command.command = "cat metrics.json"`.
pub fn metrics_setting(cfg: &shiploop_config::Config) -> String {
    match cfg.metrics.kind.as_str() {
        "builtin" => format!(
            "metrics.kind = \"builtin\": ship's proxy's admin API, proxy.admin = \"{}\"",
            cfg.proxy.admin
        ),
        "prometheus" => format!(
            "metrics.kind = \"prometheus\": metrics.prometheus.url = {:?}",
            cfg.metrics.prometheus.url
        ),
        "command" => format!(
            "metrics.kind = \"command\": metrics.command.command = {:?}",
            cfg.metrics.command.command
        ),
        other => format!("metrics.kind = {other:?}"),
    }
}

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
        let name = key.trim_start_matches("integrity/");
        match self.integrity.get(name) {
            None => Measurement::Error {
                message: format!("no [integrity.{name}] in ship.toml"),
            },
            Some(Integrity::Command(runner, cmd)) => match runner.run(cmd).await {
                Ok(_) => Measurement::value(1.0, 1),
                // It ran and said no, whatever its output says: a failed check.
                Err(RunError::Failed { .. }) => Measurement::value(0.0, 1),
                Err(e @ (RunError::TimedOut { .. } | RunError::CouldNotStart { .. })) => {
                    Measurement::Error {
                        message: e.to_string(),
                    }
                }
            },
            Some(Integrity::Http(url, timeout)) => {
                match shiploop_providers::http_probe::get(url, *timeout).await {
                    Ok(s) if (200..300).contains(&s) => Measurement::value(1.0, 1),
                    Ok(_) => Measurement::value(0.0, 1),
                    Err(e) => Measurement::Error { message: e },
                }
            }
        }
    }
}
