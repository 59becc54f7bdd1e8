//! The decision settings a release is approved with.
//!
//! The stages and rollback triggers say *what* is watched; these say how the tool decides on
//! what it sees: how much evidence a stage needs, how many bad ticks roll back, the judge's
//! error probabilities, the stage checks' conditions and the post-deployment validation window.
//! They are copied from `ship.toml` when the contract is compiled (or submitted) and sit in the
//! frontmatter, inside the approval digest, so the rollout and the validation of an approved
//! release decide exactly as approved: editing `ship.toml` afterwards changes nothing for it
//! (the tool reports the difference instead).

use crate::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    pub rollout: RolloutCriteria,
    pub judge: JudgeCriteria,
    /// Stage checks by name (`[checks.NAME]`): the metric and the condition it must meet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, CheckCriteria>,
    pub validation: ValidationCriteria,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutCriteria {
    pub min_samples: u64,
    pub error_limit: u32,
    pub failure_limit: u32,
    pub max_hold: Dur,
    pub max_tick_gap: Dur,
    pub strict_checks: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeCriteria {
    pub alpha: f64,
    pub beta: f64,
    /// pause, promote or rollback.
    pub inconclusive: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckCriteria {
    pub metric: String,
    pub condition: String,
    pub min_samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationCriteria {
    /// How long production is watched at 100 % (for a hotfix: `hotfix.validation_window`).
    pub window: Dur,
    /// rollback or manual.
    pub on_failure: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_checks: Vec<String>,
}

impl Criteria {
    /// Each setting that differs between `self` (approved) and `now` (what `ship.toml` says
    /// today), as `name: approved X, ship.toml now Y`.
    pub fn differences(&self, now: &Criteria) -> Vec<String> {
        value_differences(
            &serde_json::to_value(self).unwrap_or_default(),
            &serde_json::to_value(now).unwrap_or_default(),
            "approved",
            "ship.toml now",
        )
    }
}

/// Each leaf that differs between two JSON values, as `path: <a_name> X, <b_name> Y` (`none`
/// where one side lacks it).
pub fn value_differences(
    a: &serde_json::Value,
    b: &serde_json::Value,
    a_name: &str,
    b_name: &str,
) -> Vec<String> {
    let (a, b) = (flatten(a), flatten(b));
    let mut out = vec![];
    for (k, v) in &a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => out.push(format!("{k}: {a_name} {v}, {b_name} {w}")),
            None => out.push(format!("{k}: {a_name} {v}, {b_name} none")),
        }
    }
    for (k, w) in &b {
        if !a.contains_key(k) {
            out.push(format!("{k}: {a_name} none, {b_name} {w}"));
        }
    }
    out
}

/// A JSON value as `dotted.path → value` pairs (strings unquoted), for naming what differs.
pub fn flatten(v: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Criteria {
        Criteria {
            rollout: RolloutCriteria {
                min_samples: 50,
                error_limit: 4,
                failure_limit: 3,
                max_hold: Dur::from_secs(900),
                max_tick_gap: Dur::from_secs(60),
                strict_checks: false,
            },
            judge: JudgeCriteria {
                alpha: 0.01,
                beta: 0.05,
                inconclusive: "pause".into(),
            },
            checks: BTreeMap::from([(
                "cpu".to_string(),
                CheckCriteria {
                    metric: "cpu".into(),
                    condition: "< 0.8".into(),
                    min_samples: 1,
                },
            )]),
            validation: ValidationCriteria {
                window: Dur::from_secs(1800),
                on_failure: "rollback".into(),
                resource_checks: vec![],
            },
        }
    }

    #[test]
    fn differences_name_each_changed_setting() {
        let a = sample();
        assert!(a.differences(&a).is_empty());
        let mut b = sample();
        b.rollout.max_hold = Dur::from_secs(1800);
        b.judge.alpha = 0.5;
        b.checks.clear();
        b.validation.resource_checks = vec!["cpu".into()];
        let d = a.differences(&b).join("\n");
        assert!(
            d.contains("rollout.max_hold: approved 15m, ship.toml now 30m"),
            "{d}"
        );
        assert!(
            d.contains("judge.alpha: approved 0.01, ship.toml now 0.5"),
            "{d}"
        );
        assert!(
            d.contains("checks.cpu.condition: approved < 0.8, ship.toml now none"),
            "{d}"
        );
        assert!(d.contains("validation.resource_checks"), "{d}");
    }

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let a = sample();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Criteria>(&json).unwrap(), a);
        let bad = json.replace("\"min_samples\":50", "\"min_samples\":50,\"extra\":1");
        assert!(serde_json::from_str::<Criteria>(&bad).is_err());
    }
}
