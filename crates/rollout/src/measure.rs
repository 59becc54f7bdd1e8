//! Measurements as metric sources report them, keyed by plain strings (`canary/error_rate`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One metric reading: a value with the number of samples behind it, or a typed failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Measurement {
    /// A value.
    Value {
        /// The value.
        value: f64,
        /// How many samples (requests, series) it stands on.
        samples: u64,
        /// What the source can say about the value, for the decision (e.g. the names of the
        /// alerts behind an alert count).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The source answered, but has nothing for this query (no traffic, empty result).
    NoData,
    /// The source could not answer (down, timeout, bad query).
    Error {
        /// What went wrong.
        message: String,
        /// The failure was the controller's own resource trouble (too many open files, out
        /// of memory, no process or thread could start), not the source's: it says nothing
        /// about the release. Absent (false) in decisions recorded before it existed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        local: bool,
    },
}

impl Measurement {
    /// A value without detail.
    pub fn value(value: f64, samples: u64) -> Self {
        Measurement::Value {
            value,
            samples,
            detail: None,
        }
    }

    /// A value with what the source can say about it.
    pub fn with_detail(value: f64, samples: u64, detail: String) -> Self {
        Measurement::Value {
            value,
            samples,
            detail: Some(detail),
        }
    }

    /// The source could not answer: a failure of the source (or of what it measures).
    pub fn error(message: impl Into<String>) -> Self {
        Measurement::Error {
            message: message.into(),
            local: false,
        }
    }

    /// The controller's own resource trouble kept the source from answering (too many open
    /// files, out of memory): not the source's failure, and none of the release's.
    pub fn local_error(message: impl Into<String>) -> Self {
        Measurement::Error {
            message: message.into(),
            local: true,
        }
    }

    /// Whether this is a failure of the controller's own resources ([`Measurement::local_error`]).
    pub fn is_local(&self) -> bool {
        matches!(self, Measurement::Error { local: true, .. })
    }
}

/// Everything measured at one tick, by key.
pub type Observation = BTreeMap<String, Measurement>;

/// The error rate (0–1) of a version over the window: shown on the dashboard's charts; the
/// judge decides from the counts below.
pub fn error_rate(version: &str) -> String {
    format!("{version}/error_rate")
}
/// Requests a version served — a cumulative count (since the stage began, or a running counter).
pub fn requests(version: &str) -> String {
    format!("{version}/requests")
}
/// Of those, the failed ones (5xx and no answer), cumulative.
pub fn errors(version: &str) -> String {
    format!("{version}/errors")
}
/// Canary requests slower than the p99 trigger's limit (factor × target), cumulative.
pub const CANARY_SLOW: &str = "canary/slow";
/// Canary requests slower than the latency target, cumulative.
pub const CANARY_SLOW_TARGET: &str = "canary/slow_target";
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
    format!("{INTEGRITY_PREFIX}{check}")
}

const INTEGRITY_PREFIX: &str = "integrity/";

/// The data-integrity check a key names (`integrity/orders` → `orders`), or None when the key
/// is a metric: integrity checks are run by the controller, not asked of the metric source.
pub fn integrity_check_of(key: &str) -> Option<&str> {
    key.strip_prefix(INTEGRITY_PREFIX)
}
/// A user-defined stage check's metric, measured on the new version.
pub fn check_metric(metric: &str) -> String {
    format!("canary/{metric}")
}

/// Keys measured for the charts only: their absence or failure changes no decision.
pub const DISPLAY: [&str; 4] = [
    "stable/error_rate",
    "canary/error_rate",
    STABLE_P99,
    CANARY_P99,
];

/// The counts a tick reports, read as the judge takes them. None while the canary's requests
/// or errors are unknown, or any count failed to be measured; the stable version's requests,
/// when it has no data, are zero (it serves nothing at 100 %).
pub fn reading(obs: &Observation) -> Option<shiploop_judge::Reading> {
    enum Count {
        Known(u64),
        Missing,
        Failed,
    }
    let count = |key: &str| match obs.get(key) {
        Some(Measurement::Value { value, .. }) if value.is_finite() && *value >= 0.0 => {
            Count::Known(value.round() as u64)
        }
        Some(Measurement::Value { .. }) | Some(Measurement::Error { .. }) => Count::Failed,
        Some(Measurement::NoData) | None => Count::Missing,
    };
    let known = |c: Count| match c {
        Count::Known(n) => Some(n),
        _ => None,
    };
    let optional = |key: &str| known(count(key));
    let canary = shiploop_judge::Counts {
        requests: known(count(&requests("canary")))?,
        errors: known(count(&errors("canary")))?,
        slow: optional(CANARY_SLOW),
        slow_target: optional(CANARY_SLOW_TARGET),
    };
    let (requests, errors) = match (count(&requests("stable")), count(&errors("stable"))) {
        (Count::Failed, _) | (_, Count::Failed) => return None,
        (Count::Missing, _) => (0, 0),
        (Count::Known(n), Count::Known(e)) => (n, e),
        (Count::Known(0), Count::Missing) => (0, 0),
        (Count::Known(_), Count::Missing) => return None,
    };
    let stable = shiploop_judge::Counts::new(requests, errors, None);
    Some(shiploop_judge::Reading { stable, canary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_error_is_recorded_only_when_set() {
        // A decision recorded before `local` existed still reads, as a failure of the source.
        let old: Measurement =
            serde_json::from_str(r#"{"kind":"error","message":"down"}"#).unwrap();
        assert_eq!(old, Measurement::error("down"));
        assert!(!old.is_local());
        // And a source failure is written as it always was.
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"kind":"error","message":"down"}"#
        );
        let local = Measurement::local_error("too many open files");
        let text = serde_json::to_string(&local).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"error","message":"too many open files","local":true}"#
        );
        let back: Measurement = serde_json::from_str(&text).unwrap();
        assert!(back.is_local());
    }
}
