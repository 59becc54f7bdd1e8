//! Evaluating the rollback criteria and the stage checks against one tick's measurements.
//! Each evaluation says pass / fail / no data / error, with a sentence people can read
//! ("canary p99 412ms > 2 × target 200ms = 400ms").

use crate::measure::{self, Measurement, Observation};
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::Trigger;
use shiploop_judge::{Call, Evidence, Judge, State, Verdict};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// What a trigger or stage check found this tick.
pub enum Outcome {
    /// Within its limit.
    Pass,
    /// Beyond its limit.
    Fail,
    /// Too little or no data: never a pass, never a failure.
    NoData,
    /// The judge has counts but not yet enough evidence either way.
    Inconclusive,
    /// The metric source failed.
    Error,
    /// A stage check nobody configured a query for.
    Unconfigured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One trigger's or stage check's result, explained.
pub struct Finding {
    /// `trigger:error-rate`, `check:latency`, …
    pub name: String,
    /// What it found.
    pub outcome: Outcome,
    /// The sentence that says why.
    pub detail: String,
    /// The judge's numbers, for the findings it decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Box<Evidence>>,
}

impl Finding {
    fn new(name: String, outcome: Outcome, detail: String) -> Self {
        Finding {
            name,
            outcome,
            detail,
            judge: None,
        }
    }

    /// A finding the judge decided.
    fn judged(name: String, v: Verdict) -> Self {
        let outcome = match v.call {
            Call::Regression => Outcome::Fail,
            Call::Clear => Outcome::Pass,
            Call::Open => Outcome::Inconclusive,
            Call::NoCounts => Outcome::NoData,
        };
        Finding {
            name,
            outcome,
            detail: v.sentence,
            judge: Some(Box::new(v.evidence)),
        }
    }

    /// The finding in a few words, for a decision that holds: the judge's findings say how far
    /// the evidence has come instead of repeating the counts.
    pub fn brief(&self) -> String {
        match (&self.judge, self.outcome) {
            (Some(e), Outcome::Inconclusive) => {
                let pct = if e.clear > 0.0 && e.clear_needed > 0.0 {
                    ((e.clear / e.clear_needed) * 100.0).min(99.0) as u32
                } else {
                    0
                };
                let n = shiploop_judge::text::count(e.canary.requests);
                format!("{} (collecting evidence: {n} canary requests, {pct} % of what clears the stage)", self.name)
            }
            _ => format!("{} ({})", self.name, self.detail),
        }
    }

    /// Whether this finding only lacks evidence (data, or enough of it): what the inconclusive
    /// policy decides about, never a reason to roll back.
    pub fn lacks_evidence(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::NoData | Outcome::Inconclusive | Outcome::Error | Outcome::Unconfigured
        )
    }
}

/// What the judge needs to decide this tick.
pub struct Judged<'a> {
    /// The plan's judge.
    pub judge: &'a Judge,
    /// What the judge has seen of this rollout.
    pub state: &'a State,
    /// The current stage's index.
    pub stage: usize,
}

/// The first count key this test needs that failed or is missing, as a finding for `name`.
fn count_problem(obs: &Observation, keys: &[String], name: &str) -> Option<Finding> {
    for key in keys {
        match obs.get(key) {
            Some(Measurement::Error { message, .. }) => {
                return Some(Finding::new(
                    name.into(),
                    Outcome::Error,
                    format!("{key}: {message}"),
                ))
            }
            Some(Measurement::Value { value, .. }) if !value.is_finite() || *value < 0.0 => {
                return Some(Finding::new(
                    name.into(),
                    Outcome::Error,
                    format!("{key} is {value}, not a count"),
                ))
            }
            _ => {}
        }
    }
    None
}

/// The judge's verdict as a finding; when it has never had counts, says which key is missing.
fn judged(
    obs: &Observation,
    keys: &[String],
    name: &str,
    seen_any: bool,
    verdict: Option<Verdict>,
) -> Finding {
    if let Some(f) = count_problem(obs, keys, name) {
        return f;
    }
    let missing = keys
        .iter()
        .find(|k| !matches!(obs.get(k.as_str()), Some(Measurement::Value { .. })));
    match (verdict, missing) {
        (_, Some(key)) if !seen_any => Finding::new(
            name.into(),
            Outcome::NoData,
            format!("{key}: no data (the judge decides from request counts; see docs/ROLLOUT.md)"),
        ),
        (Some(v), _) => Finding::judged(name.into(), v),
        (None, _) => Finding::new(name.into(), Outcome::Unconfigured, "not judged".into()),
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
        Some(Measurement::Error { message, .. }) => Err(Finding::new(
            name.into(),
            Outcome::Error,
            format!("{key}: {message}"),
        )),
    }
}

/// The count keys each judged test reads.
fn error_keys() -> Vec<String> {
    vec![
        measure::requests("canary"),
        measure::errors("canary"),
        measure::requests("stable"),
        measure::errors("stable"),
    ]
}

fn latency_keys(slow: &str) -> Vec<String> {
    vec![
        measure::requests("canary"),
        measure::errors("canary"),
        slow.to_string(),
    ]
}

/// Evaluates every automatic rollback trigger: the error rate and p99 by the judge, from the
/// counts seen so far; the others from this tick's measurements.
pub fn triggers(plan: &Plan, obs: &Observation, j: &Judged) -> Vec<Finding> {
    let seen_any = j.state.stages.iter().any(|t| t.canary.requests > 0);
    plan.triggers
        .iter()
        .map(|t| match t {
            Trigger::ErrorRate { .. } => judged(
                obs,
                &error_keys(),
                "trigger:error-rate",
                seen_any,
                j.state.error_rate(j.judge, j.stage),
            ),
            Trigger::P99Latency { .. } => {
                let timed = j.state.stages.iter().any(|t| t.timed > 0);
                judged(
                    obs,
                    &latency_keys(measure::CANARY_SLOW),
                    "trigger:p99-latency",
                    timed,
                    j.state.latency(j.judge, j.stage),
                )
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
/// doubles as the `error-rate` check; the judge decides the `latency` check from counts.
pub fn stage_checks(
    plan: &Plan,
    stage: usize,
    obs: &Observation,
    trigger_findings: &[Finding],
    j: &Judged,
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
                "latency" if plan.judges_latency_check() => {
                    let timed = j.state.stages.iter().any(|t| t.timed_target > 0);
                    judged(
                        obs,
                        &latency_keys(measure::CANARY_SLOW_TARGET),
                        &name,
                        timed,
                        j.state.latency_check(j.judge, j.stage),
                    )
                }
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
            Trigger::ErrorRate { .. } => keys.extend(error_keys()),
            Trigger::P99Latency { .. } => keys.extend(latency_keys(measure::CANARY_SLOW)),
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
            } else if c == "latency" && plan.judges_latency_check() {
                keys.extend(latency_keys(measure::CANARY_SLOW_TARGET));
            } else if c == "latency" {
                keys.push(measure::CANARY_P99.into());
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}
