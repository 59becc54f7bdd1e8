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

/// The decision settings a release is approved with: rollout, judge, stage checks, validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// How a running rollout decides (`[rollout]`).
    pub rollout: RolloutCriteria,
    /// The judge's error probabilities and what an undecided stage does (`[judge]`).
    pub judge: JudgeCriteria,
    /// Stage checks by name (`[checks.NAME]`): the metric and the condition it must meet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, CheckCriteria>,
    /// How post-deployment validation watches and what its failure does (`[validation]`).
    pub validation: ValidationCriteria,
}

/// How a running rollout decides on what it measures (`rollout.*` in `ship.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutCriteria {
    /// Requests a window needs before a windowed value counts as data.
    pub min_samples: u64,
    /// Consecutive ticks with a metric error (source down, timeout) that roll back.
    pub error_limit: u32,
    /// Consecutive ticks with a failed stage check that roll back.
    pub failure_limit: u32,
    /// How long past its duration a stage may wait for its checks to pass.
    pub max_hold: Dur,
    /// The most one tick interval adds to a stage's watched time.
    pub max_tick_gap: Dur,
    /// Whether a stage check without a `[checks.NAME]` query blocks promotion.
    pub strict_checks: bool,
}

/// The judge's settings (`[judge]`): its error probabilities and what an inconclusive stage does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeCriteria {
    /// The chance that a canary within its limits is rolled back by the judge, over the rollout.
    pub alpha: f64,
    /// The chance that a canary worse by a whole limit passes one stage.
    pub beta: f64,
    /// What a stage the judge cannot decide does.
    pub inconclusive: Inconclusive,
}

/// What a stage does when its duration and `max_hold` have passed and the judge still could not
/// tell a healthy canary from a regression (too little traffic): never a silent promotion, never
/// a rollback for lack of data unless a team asks for one. Written `judge.inconclusive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inconclusive {
    /// Pause the rollout for a person (with a signal and a notification): resume to collect
    /// for another `max_hold`, promote to go on without the evidence, or abort.
    #[default]
    Pause,
    /// Promote anyway, saying so in the decision and with a signal.
    Promote,
    /// Roll back.
    Rollback,
}

impl Inconclusive {
    /// Every value with its spelling, in declaration order.
    pub const ALL: [(&'static str, Inconclusive); 3] = [
        ("pause", Inconclusive::Pause),
        ("promote", Inconclusive::Promote),
        ("rollback", Inconclusive::Rollback),
    ];

    /// The spelling in `ship.toml` and the contract.
    pub fn as_str(self) -> &'static str {
        // ALL lists the values in their declaration order (a test holds it to that).
        Self::ALL[self as usize].0
    }
}

/// What a failed post-deployment validation does. Written `validation.on_failure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Traffic goes back to the stable version at once.
    #[default]
    Rollback,
    /// The incident is raised and the rollback left to a person.
    Manual,
}

impl OnFailure {
    /// Every value with its spelling, in declaration order.
    pub const ALL: [(&'static str, OnFailure); 2] = [
        ("rollback", OnFailure::Rollback),
        ("manual", OnFailure::Manual),
    ];

    /// The spelling in `ship.toml` and the contract.
    pub fn as_str(self) -> &'static str {
        // ALL lists the values in their declaration order (a test holds it to that).
        Self::ALL[self as usize].0
    }
}

/// One stage check (`[checks.NAME]`): the metric asked of the source and the condition it meets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckCriteria {
    /// The metric asked of the source for the new version (`canary/<metric>`).
    pub metric: String,
    /// What the value must satisfy: `< N`, `<= N`, `> N`, `>= N`, `== N` or `between A and B`.
    pub condition: String,
    /// Samples the check needs before its value counts.
    pub min_samples: u64,
}

/// How post-deployment validation decides (`[validation]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationCriteria {
    /// How long production is watched at 100 % (for a hotfix: `hotfix.validation_window`).
    pub window: Dur,
    /// What a failed validation does.
    pub on_failure: OnFailure,
    /// Names of `[checks.NAME]` that bound resource consumption during the window.
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

    #[test]
    fn spelling_tables_are_in_declaration_order() {
        for (i, (_, v)) in Inconclusive::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
        }
        for (i, (_, v)) in OnFailure::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
        }
    }

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
                inconclusive: Inconclusive::Pause,
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
                on_failure: OnFailure::Rollback,
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
