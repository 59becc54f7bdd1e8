//! Measurements as metric sources report them, keyed by plain strings (`canary/error_rate`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One metric reading: a value with the number of samples behind it, or a typed failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Measurement {
    Value {
        value: f64,
        samples: u64,
        /// What the source can say about the value, for the decision (e.g. the names of the
        /// alerts behind an alert count).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The source answered, but has nothing for this query (no traffic, empty result).
    NoData,
    /// The source could not answer (down, timeout, bad query).
    Error { message: String },
}

impl Measurement {
    pub fn value(value: f64, samples: u64) -> Self {
        Measurement::Value {
            value,
            samples,
            detail: None,
        }
    }

    pub fn with_detail(value: f64, samples: u64, detail: String) -> Self {
        Measurement::Value {
            value,
            samples,
            detail: Some(detail),
        }
    }
}

/// Everything measured at one tick, by key.
pub type Observation = BTreeMap<String, Measurement>;

/// The error rate (0–1) of a version over the window.
pub fn error_rate(version: &str) -> String {
    format!("{version}/error_rate")
}
/// p99 latency of the new version, in seconds.
pub const CANARY_P99: &str = "canary/latency_p99";
/// p99 latency of the stable version, in seconds: measured beside the canary's for comparison
/// (the dashboard's chart), never a rollback criterion, so its absence changes no decision.
pub const STABLE_P99: &str = "stable/latency_p99";
/// Fraction (0–1) of the new version's instances failing health checks; samples = instances.
pub const CANARY_FAILED_INSTANCES: &str = "canary/failed_instances";
/// Number of active critical security alerts.
pub const CRITICAL_SECURITY_ALERTS: &str = "alerts/critical_security";
/// A data-integrity check: 1 when it passes, 0 when it fails.
pub fn integrity(check: &str) -> String {
    format!("integrity/{check}")
}
/// A user-defined stage check's metric, measured on the new version.
pub fn check_metric(metric: &str) -> String {
    format!("canary/{metric}")
}
