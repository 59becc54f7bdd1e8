//! Evaluating the rollback criteria and the stage checks against one tick's measurements.
//! Each evaluation says pass / fail / no data / error, with a sentence people can read
//! ("canary p99 412ms > 2 × target 200ms = 400ms").

use crate::measure::{self, Measurement, Observation};
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::Trigger;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Too little or no data: never a pass, never a failure.
    NoData,
    /// The metric source failed.
    Error,
    /// A stage check nobody configured a query for.
    Unconfigured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `trigger:error-rate`, `check:latency`, …
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl Finding {
    fn new(name: String, outcome: Outcome, detail: String) -> Self {
        Finding {
            name,
            outcome,
            detail,
        }
    }
}

/// Thresholds are "strictly above": values equal to the limit up to floating-point noise
/// (0.07 − 0.06 is 0.010000000000000009) must hold, not fire.
const EPS: f64 = 1e-9;

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn secs_to_ms(v: f64) -> String {
    format!("{:.0}ms", v * 1000.0)
}

/// A value with enough samples, or the finding that explains why there is none.
fn usable(obs: &Observation, key: &str, min_samples: u64, name: &str) -> Result<f64, Finding> {
    match obs.get(key) {
        Some(Measurement::Value { value, samples, .. })
            if *samples >= min_samples && value.is_finite() =>
        {
            Ok(*value)
        }
        Some(Measurement::Value { value, samples, .. }) if !value.is_finite() => Err(Finding::new(
            name.into(),
            Outcome::NoData,
            format!("{key} is {value} over {samples} samples"),
        )),
        Some(Measurement::Value { samples, .. }) => Err(Finding::new(
            name.into(),
            Outcome::NoData,
            format!("{key}: {samples} samples, fewer than the {min_samples} needed"),
        )),
        Some(Measurement::NoData) | None => Err(Finding::new(
            name.into(),
            Outcome::NoData,
            format!("{key}: no data"),
        )),
        Some(Measurement::Error { message }) => Err(Finding::new(
            name.into(),
            Outcome::Error,
            format!("{key}: {message}"),
        )),
    }
}

/// Evaluates every automatic rollback trigger. `baseline` is the stable error rate last measured
/// with enough data, used when the stable version has too little traffic (e.g. at 100 %).
pub fn triggers(plan: &Plan, obs: &Observation, baseline: Option<f64>) -> Vec<Finding> {
    let min = plan.settings.min_samples;
    plan.triggers
        .iter()
        .map(|t| match t {
            Trigger::ErrorRate { max_increase_pp } => {
                let name = "trigger:error-rate".to_string();
                let canary = match usable(obs, &measure::error_rate("canary"), min, &name) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                let (stable, which) = match usable(obs, &measure::error_rate("stable"), min, &name) {
                    Ok(v) => (v, "stable"),
                    Err(f) => match baseline {
                        Some(b) if f.outcome == Outcome::NoData => (b, "stable baseline"),
                        _ => return f,
                    },
                };
                let increase = (canary - stable) * 100.0;
                let detail = format!(
                    "canary error rate {:.2} % vs {which} {:.2} %: +{:.2} pp (limit {max_increase_pp} pp)",
                    canary * 100.0,
                    stable * 100.0,
                    increase
                );
                let outcome = if increase > *max_increase_pp + EPS { Outcome::Fail } else { Outcome::Pass };
                Finding::new(name, outcome, detail)
            }
            Trigger::P99Latency { target, factor } => {
                let name = "trigger:p99-latency".to_string();
                let p99 = match usable(obs, measure::CANARY_P99, min, &name) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                let limit = target.0.as_secs_f64() * factor;
                let op = if p99 > limit + EPS { ">" } else { "<=" };
                let detail = format!(
                    "canary p99 {} {op} {factor} × target {} = {}",
                    secs_to_ms(p99),
                    ms(target.0),
                    secs_to_ms(limit)
                );
                Finding::new(name, if p99 > limit + EPS { Outcome::Fail } else { Outcome::Pass }, detail)
            }
            Trigger::HealthChecks { max_failed_pct } => {
                let name = "trigger:health-checks".to_string();
                let ratio = match usable(obs, measure::CANARY_FAILED_INSTANCES, 1, &name) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                let pct = ratio * 100.0;
                let detail = format!(
                    "{pct:.1} % of canary instances failing health checks (limit {max_failed_pct} %)"
                );
                Finding::new(name, if pct > *max_failed_pct + EPS { Outcome::Fail } else { Outcome::Pass }, detail)
            }
            Trigger::CriticalSecurityAlert {} => {
                let name = "trigger:critical-security-alert".to_string();
                let n = match usable(obs, measure::CRITICAL_SECURITY_ALERTS, 0, &name) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                let names = match obs.get(measure::CRITICAL_SECURITY_ALERTS) {
                    Some(Measurement::Value { detail: Some(d), .. }) if n >= 1.0 => format!(": {d}"),
                    _ => String::new(),
                };
                let detail = format!("{n} active critical security alert(s){names}");
                Finding::new(name, if n >= 1.0 { Outcome::Fail } else { Outcome::Pass }, detail)
            }
            Trigger::DataIntegrity { check: Some(check) } => {
                let name = "trigger:data-integrity".to_string();
                let key = measure::integrity(check);
                let ok = match usable(obs, &key, 0, &name) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                if ok >= 1.0 {
                    Finding::new(name, Outcome::Pass, format!("data-integrity check `{check}` passed"))
                } else {
                    Finding::new(name, Outcome::Fail, format!("data-integrity check `{check}` failed"))
                }
            }
            Trigger::DataIntegrity { check: None } => Finding::new(
                "trigger:data-integrity".into(),
                Outcome::Unconfigured,
                "no data-integrity check configured".into(),
            ),
        })
        .collect()
}

/// Evaluates the checks of stage `stage`. `trigger_findings` supplies the error-rate result, which
/// doubles as the `error-rate` check.
pub fn stage_checks(
    plan: &Plan,
    stage: usize,
    obs: &Observation,
    trigger_findings: &[Finding],
) -> Vec<Finding> {
    let Some(sp) = plan.stages.get(stage) else {
        return vec![];
    };
    let min = plan.settings.min_samples;
    sp.checks
        .iter()
        .map(|check| {
            let name = format!("check:{check}");
            if let Some(def) = plan.checks.get(check) {
                let key = measure::check_metric(&def.metric);
                return match usable(obs, &key, def.min_samples, &name) {
                    Ok(v) => {
                        let ok = def.condition.holds(v);
                        Finding::new(
                            name,
                            if ok { Outcome::Pass } else { Outcome::Fail },
                            format!(
                                "{} = {v} ({} {})",
                                def.metric,
                                if ok { "meets" } else { "fails" },
                                def.condition
                            ),
                        )
                    }
                    Err(f) => f,
                };
            }
            match check.as_str() {
                "error-rate" => match trigger_findings
                    .iter()
                    .find(|f| f.name == "trigger:error-rate")
                {
                    Some(f) => Finding::new(name, f.outcome, f.detail.clone()),
                    None => Finding::new(
                        name,
                        Outcome::Unconfigured,
                        "no error-rate trigger in the contract".into(),
                    ),
                },
                "latency" => {
                    let Some(target) = plan.latency_target else {
                        return Finding::new(
                            name,
                            Outcome::Unconfigured,
                            "no latency target".into(),
                        );
                    };
                    match usable(obs, measure::CANARY_P99, min, &name) {
                        Ok(p99) => {
                            let ok = p99 <= target.as_secs_f64();
                            Finding::new(
                                name,
                                if ok { Outcome::Pass } else { Outcome::Fail },
                                format!(
                                    "canary p99 {} {} target {}",
                                    secs_to_ms(p99),
                                    if ok { "<=" } else { ">" },
                                    ms(target)
                                ),
                            )
                        }
                        Err(f) => f,
                    }
                }
                other => Finding::new(
                    name,
                    Outcome::Unconfigured,
                    format!("no query configured for `{other}` (ship.toml [checks.{other}])"),
                ),
            }
        })
        .collect()
}

/// Every measurement key a tick in `stage` needs.
pub fn required_keys(plan: &Plan, stage: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for t in &plan.triggers {
        match t {
            Trigger::ErrorRate { .. } => {
                keys.push(measure::error_rate("canary"));
                keys.push(measure::error_rate("stable"));
            }
            Trigger::P99Latency { .. } => keys.push(measure::CANARY_P99.into()),
            Trigger::HealthChecks { .. } => keys.push(measure::CANARY_FAILED_INSTANCES.into()),
            Trigger::CriticalSecurityAlert {} => {
                keys.push(measure::CRITICAL_SECURITY_ALERTS.into())
            }
            Trigger::DataIntegrity { check: Some(c) } => keys.push(measure::integrity(c)),
            Trigger::DataIntegrity { check: None } => {}
        }
    }
    if let Some(sp) = plan.stages.get(stage) {
        for c in &sp.checks {
            if let Some(def) = plan.checks.get(c) {
                keys.push(measure::check_metric(&def.metric));
            } else if c == "latency" {
                keys.push(measure::CANARY_P99.into());
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}
