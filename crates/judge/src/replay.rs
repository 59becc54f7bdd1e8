//! `ship judge replay`: the judge over a recorded trace, as a rollout in that stage would run
//! it — each interval's counts in, the verdicts out, and where they changed.

use crate::judge::{Call, Judge, State};
use crate::trace::Row;
use crate::{Counts, Reading};
use serde::Serialize;

/// A change of one test's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Seconds into the trace.
    pub t: f64,
    /// `error-rate`, `p99-latency` or `latency` (the stage check).
    pub test: &'static str,
    /// The test's new verdict.
    pub call: Call,
    /// The verdict's sentence.
    pub detail: String,
}

/// What the judge decided over the whole trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// `rollback`, `promote` or `inconclusive`.
    pub verdict: &'static str,
    /// The t of the decision: the interval that rolled back, or the trace's end.
    pub at: f64,
    /// The test that rolled back (or that is still open), if any.
    pub trigger: Option<&'static str>,
    /// The deciding test's sentence.
    pub detail: String,
    /// Canary errors in the trace up to and including the decision's interval.
    pub canary_errors_before_decision: u64,
    /// Every change of a test's verdict, in order.
    pub changes: Vec<Change>,
}

/// Runs the judge of `stage` over `rows`.
pub fn replay(judge: &Judge, stage: usize, rows: &[Row]) -> Outcome {
    // The trace's intervals are summed here from the stage's start.
    let mut judge = judge.clone();
    judge.settings.origin = crate::Origin::Stage;
    let judge = &judge;
    let mut state = State::default();
    let mut total = Reading::default();
    let mut last: Vec<(&'static str, Call)> = vec![];
    let mut changes = vec![];
    let mut errors = 0u64;
    let slow = rows.iter().all(|r| r.canary_slow.is_some());
    let slow_target = rows.iter().all(|r| r.canary_slow_target.is_some());
    let mut verdicts = vec![];
    for row in rows {
        total.stable.requests += row.stable_requests;
        total.stable.errors += row.stable_errors;
        add(&mut total.canary, row, slow, slow_target);
        errors += row.canary_errors;
        state.observe(judge, stage, total);
        verdicts = [
            ("error-rate", state.error_rate(judge, stage)),
            ("p99-latency", state.latency(judge, stage).filter(|_| slow)),
            (
                "latency",
                state.latency_check(judge, stage).filter(|_| slow_target),
            ),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect::<Vec<_>>();
        for (name, v) in &verdicts {
            let before = last.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
            if before != Some(v.call) {
                changes.push(Change {
                    t: row.t,
                    test: name,
                    call: v.call,
                    detail: v.sentence.clone(),
                });
                last.retain(|(n, _)| n != name);
                last.push((name, v.call));
            }
        }
        if let Some((name, v)) = verdicts.iter().find(|(_, v)| v.call == Call::Regression) {
            return Outcome {
                verdict: "rollback",
                at: row.t,
                trigger: Some(name),
                detail: v.sentence.clone(),
                canary_errors_before_decision: errors,
                changes,
            };
        }
    }
    let end = rows.last().map_or(0.0, |r| r.t);
    let open = verdicts.iter().find(|(_, v)| v.call != Call::Clear);
    Outcome {
        verdict: if open.is_none() && !verdicts.is_empty() {
            "promote"
        } else {
            "inconclusive"
        },
        at: end,
        trigger: open.map(|(name, _)| *name),
        detail: match open {
            Some((_, v)) => v.sentence.clone(),
            None => verdicts
                .iter()
                .map(|(_, v)| v.sentence.clone())
                .collect::<Vec<_>>()
                .join("; "),
        },
        canary_errors_before_decision: errors,
        changes,
    }
}

fn add(c: &mut Counts, row: &Row, slow: bool, slow_target: bool) {
    c.requests += row.canary_requests;
    c.errors += row.canary_errors;
    if slow {
        c.slow = Some(c.slow.unwrap_or(0) + row.canary_slow.unwrap_or(0));
    }
    if slow_target {
        c.slow_target = Some(c.slow_target.unwrap_or(0) + row.canary_slow_target.unwrap_or(0));
    }
}
