//! What a rollout executes: the approved contract's stages and triggers, plus the checks and
//! limits from the configuration.

use crate::condition::Condition;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::{Stage, Trigger};
use shiploop_judge::{Judge, Limits, StageInfo};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a stage the judge cannot decide does: the contract's `judge.inconclusive`, one type
/// from the contract to the engine.
pub use shiploop_artifacts::criteria::Inconclusive;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One stage as the engine runs it.
pub struct StagePlan {
    /// The stage's name (`canary`, …).
    pub name: String,
    /// Percent of traffic on the new version.
    pub weight: u8,
    /// None: the final stage completes as soon as it is reached.
    pub duration: Option<Duration>,
    /// The stage checks it must pass, by name.
    pub checks: Vec<String>,
}

/// A user-defined stage check: a metric of the new version and the condition it must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDef {
    /// The metric's key.
    pub metric: String,
    /// What its value must meet.
    pub condition: Condition,
    /// Samples needed before the check counts.
    pub min_samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// The limits and policies the engine decides with, from the approved criteria.
pub struct Settings {
    /// Requests needed in a window before error rates and latency count as data.
    pub min_samples: u64,
    /// Consecutive ticks with a metric error that roll back (Argo's consecutiveErrorLimit).
    pub error_limit: u32,
    /// Consecutive ticks with a failed stage check that roll back.
    pub failure_limit: u32,
    /// How long past its duration a stage may wait for its checks to pass before rolling back.
    pub max_hold: Duration,
    /// The most time one tick interval adds to a stage: time nobody was watching (the
    /// controller was down) does not count as monitoring.
    pub max_tick_gap: Duration,
    /// Whether a stage check without a configured query blocks promotion.
    pub strict_checks: bool,
    /// The judge's error probabilities and where the source's counts start.
    #[serde(default)]
    pub judge: shiploop_judge::Settings,
    /// What an inconclusive stage does after `max_hold`.
    #[serde(default)]
    pub inconclusive: Inconclusive,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_samples: 50,
            error_limit: 4,
            failure_limit: 3,
            max_hold: Duration::from_secs(15 * 60),
            max_tick_gap: Duration::from_secs(60),
            strict_checks: false,
            judge: shiploop_judge::Settings::default(),
            inconclusive: Inconclusive::Pause,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// What a rollout executes.
pub struct Plan {
    /// The stages, in order.
    pub stages: Vec<StagePlan>,
    /// The automatic rollback triggers.
    pub triggers: Vec<Trigger>,
    /// The p99 target used by the `latency` stage check (the trigger carries its own).
    pub latency_target: Option<Duration>,
    /// The stage checks by name.
    pub checks: BTreeMap<String, CheckDef>,
    /// The limits and policies.
    pub settings: Settings,
}

impl Plan {
    /// The plan of an approved contract's stages and triggers with these checks and settings.
    pub fn from_contract(
        stages: &[Stage],
        triggers: &[Trigger],
        checks: BTreeMap<String, CheckDef>,
        settings: Settings,
    ) -> Plan {
        let latency_target = triggers.iter().find_map(|t| match t {
            Trigger::P99Latency { target, .. } => Some(target.0),
            _ => None,
        });
        Plan {
            stages: stages
                .iter()
                .map(|s| StagePlan {
                    name: s.name.clone(),
                    weight: s.weight,
                    duration: s.duration.map(|d| d.0),
                    checks: s.checks.clone(),
                })
                .collect(),
            triggers: triggers.to_vec(),
            latency_target,
            checks,
            settings,
        }
    }

    /// Every measurement key a tick in `stage` needs.
    pub fn required_keys(&self, stage: usize) -> Vec<String> {
        crate::criteria::required_keys(self, stage)
    }

    /// Whether the judge decides the `latency` stage check (p99 within target): when a stage
    /// has it, the plan has a target, and no `[checks.latency]` query replaces it.
    pub fn judges_latency_check(&self) -> bool {
        self.latency_target.is_some()
            && !self.checks.contains_key("latency")
            && self
                .stages
                .iter()
                .any(|s| s.checks.iter().any(|c| c == "latency"))
    }

    /// The judge of this plan: the triggers' limits from the contract, α and β from the
    /// settings.
    pub fn judge(&self) -> Judge {
        let mut limits = Limits::default();
        for t in &self.triggers {
            match t {
                Trigger::ErrorRate { max_increase_pp } => {
                    limits.error_margin = Some(max_increase_pp / 100.0)
                }
                Trigger::P99Latency { target, factor } => {
                    limits.slow_limit_secs = Some(target.0.as_secs_f64() * factor)
                }
                _ => {}
            }
        }
        if self.judges_latency_check() {
            limits.target_secs = self.latency_target.map(|t| t.as_secs_f64());
        }
        let stages = self
            .stages
            .iter()
            .map(|s| StageInfo {
                weight: s.weight,
                watched: s.duration.is_some(),
            })
            .collect();
        Judge::new(self.settings.judge.clone(), limits, stages)
    }

    /// The latencies the judge counts slower requests against, in seconds: the p99 trigger's
    /// limit (`canary/slow`) and the latency check's target (`canary/slow_target`).
    pub fn latency_bounds(&self) -> (Option<f64>, Option<f64>) {
        let limits = self.judge().limits;
        (limits.slow_limit_secs, limits.target_secs)
    }
}
