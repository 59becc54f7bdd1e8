//! Proof that a recorded rollout runs the approved contract's plan.
//!
//! The state database keeps the plan a rollout executes, and anyone who can write that file could
//! change it (a margin of 1 pp made 99 pp lets a broken canary through). So the plan is
//! recorded with the digest of the contract it was built from, and before a rollout is driven
//! again (and by `ship audit verify`) it must equal, field for field, both the plan that
//! contract builds today and the plan in the rollout's first event, which the hash chain covers.

use crate::build::plan_for;
use chrono::{DateTime, Utc};
use serde_json::Value;
use shiploop_artifacts::criteria::value_differences;
use shiploop_artifacts::digest::compute;
use shiploop_store::StoredPlan;
use shiploop_workspace::{LoadedRelease, Workspace};

/// What the recorded plan (`rollouts.plan`: the plan, kind and contract digest) gets wrong, in words;
/// empty when it is provably the approved contract's. `created` is the plan recorded in the
/// rollout's `rollout-created` event, if that event was found.
pub fn plan_problems(
    ws: &Workspace,
    r: &LoadedRelease,
    recorded: &StoredPlan,
    created: Option<&StoredPlan>,
    created_at: DateTime<Utc>,
) -> Vec<String> {
    let m = &r.contract.meta;
    let file = ws.rel(&r.path);
    let mut out = vec![];
    // Approved when the rollout began (a key that expired since does not stop it; a contract
    // resubmitted or an approval withdrawn since does).
    let v = ws.verify_contract(&r.contract, &file, created_at);
    if !v.ok() {
        out.push(format!("the contract is not approved: {}", v.message));
    }
    let current = compute(&r.contract).digest;
    if m.digest.as_deref() != Some(current.as_str()) {
        out.push(format!(
            "{file} changed after approval (its digest is now {current}, approved {})",
            m.digest.as_deref().unwrap_or("none")
        ));
    }
    match recorded.digest.as_deref() {
        Some(d) if Some(d) == m.digest.as_deref() => {}
        Some(d) => out.push(format!(
            "the recorded plan was built from contract digest {d}, but {file} was approved with {}",
            m.digest.as_deref().unwrap_or("none")
        )),
        // Rollouts recorded before plans carried their digest are still checked field by field.
        None => {}
    }
    match created {
        Some(c) if c == recorded => {}
        Some(c) => out.push(format!(
            "the recorded plan differs from the one in the rollout's first event: {}",
            differences(&as_value(c), &as_value(recorded), "first event", "recorded").join("; ")
        )),
        None => out.push("the rollout's first event (rollout-created) is missing".into()),
    }
    match plan_for(ws, r) {
        Ok(expected) => {
            let expected = serde_json::to_value(&expected).unwrap_or_default();
            let stored = as_value(&recorded.plan);
            let (expected, stored) = if m.criteria.is_some() {
                (expected, stored)
            } else {
                // Without approved settings only the stages and triggers are the contract's.
                (approved_part(&expected), approved_part(&stored))
            };
            if expected != stored {
                out.push(format!(
                    "the recorded plan is not the one {file} builds: {}",
                    differences(&expected, &stored, "approved", "recorded").join("; ")
                ));
            }
        }
        Err(e) => out.push(format!("the approved plan cannot be built: {e}")),
    }
    out
}

fn as_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn approved_part(plan: &Value) -> Value {
    serde_json::json!({
        "stages": plan.get("stages"),
        "triggers": plan.get("triggers"),
        "latency_target": plan.get("latency_target"),
    })
}

fn differences(a: &Value, b: &Value, a_name: &str, b_name: &str) -> Vec<String> {
    let mut out = value_differences(a, b, a_name, b_name);
    if out.len() > 8 {
        let more = out.len() - 8;
        out.truncate(8);
        out.push(format!("and {more} more"));
    }
    out
}
