//! Why a rollback started: a closed set, recorded on the decision that starts it and kept on
//! the rollout's state, so code that treats rollbacks differently (an incident signal already
//! written by a failed validation, a `/metrics` label) matches a variant instead of reading the
//! reason's text.

use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::Trigger;

/// What caused a rollback. Serialized as the names the decision log and `/metrics` have always
/// used (`error-rate`, `manual`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackCause {
    /// The error-rate trigger fired.
    ErrorRate,
    /// The p99-latency trigger fired.
    P99Latency,
    /// The health-checks trigger fired.
    HealthChecks,
    /// A critical security alert was active.
    CriticalSecurityAlert,
    /// The data-integrity check failed.
    DataIntegrity,
    /// Measurements kept failing.
    MetricErrors,
    /// A stage check failed.
    StageCheck,
    /// The stage held past `max_hold` without its checks passing.
    MaxHold,
    /// The judge could not decide and `judge.inconclusive = "rollback"`.
    Inconclusive,
    /// The router kept failing to carry the recorded weight.
    Router,
    /// A person aborted the rollout.
    Manual,
    /// Post-deployment validation failed.
    Validation,
}

impl RollbackCause {
    /// The cause's recorded name: a `/metrics` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackCause::ErrorRate => "error-rate",
            RollbackCause::P99Latency => "p99-latency",
            RollbackCause::HealthChecks => "health-checks",
            RollbackCause::CriticalSecurityAlert => "critical-security-alert",
            RollbackCause::DataIntegrity => "data-integrity",
            RollbackCause::MetricErrors => "metric-errors",
            RollbackCause::StageCheck => "stage-check",
            RollbackCause::MaxHold => "max-hold",
            RollbackCause::Inconclusive => "inconclusive",
            RollbackCause::Router => "router",
            RollbackCause::Manual => "manual",
            RollbackCause::Validation => "validation",
        }
    }

    /// The cause when `trigger` fires.
    pub fn of_trigger(trigger: &Trigger) -> RollbackCause {
        match trigger {
            Trigger::ErrorRate { .. } => RollbackCause::ErrorRate,
            Trigger::P99Latency { .. } => RollbackCause::P99Latency,
            Trigger::HealthChecks { .. } => RollbackCause::HealthChecks,
            Trigger::CriticalSecurityAlert {} => RollbackCause::CriticalSecurityAlert,
            Trigger::DataIntegrity { .. } => RollbackCause::DataIntegrity,
        }
    }
}

impl std::fmt::Display for RollbackCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What made the engine pause a rollout, or promote it without the evidence, by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseCause {
    /// The judge could not decide within the stage's time and `max_hold`.
    Inconclusive,
}

/// The rollback a rollout is in (or ended with), kept on its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    /// What started it.
    pub cause: RollbackCause,
    /// Started after the rollout had completed, while post-deployment validation ran.
    pub during_validation: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_serialize_as_their_names() {
        for c in [
            RollbackCause::ErrorRate,
            RollbackCause::P99Latency,
            RollbackCause::HealthChecks,
            RollbackCause::CriticalSecurityAlert,
            RollbackCause::DataIntegrity,
            RollbackCause::MetricErrors,
            RollbackCause::StageCheck,
            RollbackCause::MaxHold,
            RollbackCause::Inconclusive,
            RollbackCause::Router,
            RollbackCause::Manual,
            RollbackCause::Validation,
        ] {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json, serde_json::json!(c.as_str()));
            let back: RollbackCause = serde_json::from_value(json).unwrap();
            assert_eq!(back, c);
        }
    }
}
