//! What a rollout executes: the approved contract's stages and triggers, plus the checks and
//! limits from the configuration.

use crate::condition::Condition;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::{Stage, Trigger};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    pub name: String,
    pub weight: u8,
    /// None: the final stage completes as soon as it is reached.
    pub duration: Option<Duration>,
    pub checks: Vec<String>,
}

/// A user-defined stage check: a metric of the new version and the condition it must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDef {
    pub metric: String,
    pub condition: Condition,
    pub min_samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<StagePlan>,
    pub triggers: Vec<Trigger>,
    /// The p99 target used by the `latency` stage check (the trigger carries its own).
    pub latency_target: Option<Duration>,
    pub checks: BTreeMap<String, CheckDef>,
    pub settings: Settings,
}

impl Plan {
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
}
