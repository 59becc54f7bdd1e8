//! The signals a finished rollout owes the feedback loop.

use chrono::{DateTime, Utc};
use shiploop_artifacts::release::{Kind, Severity as HotfixSeverity};
use shiploop_artifacts::signal::{Severity, Signal, SignalMeta, SignalStatus, SignalType, Source};
use shiploop_rollout::{Decision, DecisionKind, Phase, RollbackCause, Rollout};
use shiploop_store::DecisionRow;
use shiploop_workspace::LoadedRelease;

pub fn for_outcome(
    r: &LoadedRelease,
    state: &Rollout,
    decisions: &[DecisionRow],
    weights: &[u8],
    now: DateTime<Utc>,
) -> Option<Signal> {
    let m = &r.contract.meta;
    let source = Source {
        release: Some(m.id.clone()),
        mission: m.mission.clone(),
    };
    let weights_text = weights
        .iter()
        .map(|w| format!("{w} %"))
        .collect::<Vec<_>>()
        .join(" → ");
    match &state.phase {
        // The validation failure behind this rollback already wrote the incident signal, with
        // its evidence; the rollback is the same incident.
        Phase::RolledBack { .. }
            if state
                .rollback
                .is_some_and(|b| b.cause == RollbackCause::Validation) =>
        {
            None
        }
        Phase::RolledBack { reason } | Phase::Failed { reason } => {
            let cause = decisions
                .iter()
                .rev()
                // The decision that started the rollback is the one with its cause (a restart's
                // "still rolling back" has none).
                .find(|d| {
                    d.decision.kind == DecisionKind::Rollback && d.decision.rollback_cause.is_some()
                })
                .map(|d| &d.decision);
            let mut body = format!(
                "# Incident: {} was rolled back\n\n**Why:** {reason}\n\n**Stage:** {} at the time; weights {weights_text}.\n\n",
                m.id,
                cause.map(|d| format!("{} ({})", d.stage_name, d.stage + 1)).unwrap_or_else(|| "?".into()),
            );
            if let Some(d) = cause {
                body.push_str(&format!(
                    "Decided at {} — the evidence:\n\n{}",
                    d.at.format("%Y-%m-%d %H:%M:%SZ"),
                    evidence(d)
                ));
            }
            body.push_str(&format!(
                "\nContract: [{}](../releases/{}.md). Full decision log: `ship audit log --release {}`.\n",
                m.id, m.id, m.id
            ));
            let failed = matches!(state.phase, Phase::Failed { .. });
            Some(Signal {
                meta: SignalMeta {
                    title: format!("Rollback of {}", m.id),
                    kind: SignalType::Incident,
                    severity: if failed {
                        Severity::Critical
                    } else {
                        Severity::High
                    },
                    source,
                    created: now,
                    status: SignalStatus::Open,
                    event: Some(format!("rollback:{}", m.id)),
                },
                body,
            })
        }
        Phase::Completed if m.kind == Kind::Hotfix => {
            let sev = match m.severity {
                Some(HotfixSeverity::P0) => Severity::Critical,
                _ => Severity::High,
            };
            let label = m
                .severity
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "P1".into());
            let changes: Vec<String> = m
                .changes
                .iter()
                .map(|c| format!("- {} — {}", c.id, c.summary))
                .collect();
            let body = format!(
                "# Post-incident: hotfix {} ({label}) shipped\n\nThe emergency fix passed its validation window at 100 %; weights {weights_text}.\n\n## What shipped\n\n{}\n\n## Follow-up\n\n<!-- Root cause, why the regular path was too slow, what prevents a recurrence. -->\n\nContract: [{}](../releases/{}.md).\n",
                m.id,
                changes.join("\n"),
                m.id,
                m.id
            );
            Some(Signal {
                meta: SignalMeta {
                    title: format!("Post-incident: hotfix {}", m.id),
                    kind: SignalType::Incident,
                    severity: sev,
                    source,
                    created: now,
                    status: SignalStatus::Open,
                    event: Some(format!("hotfix-complete:{}", m.id)),
                },
                body,
            })
        }
        _ => None,
    }
}

/// The process-friction signal of a stage the judge could not decide: its traffic was too low
/// for the stage's duration to tell a healthy canary from a regression of the configured size.
/// One per stage of a release (the event names both).
pub fn for_inconclusive(r: &LoadedRelease, d: &Decision, now: DateTime<Utc>) -> Signal {
    let m = &r.contract.meta;
    let what = match d.kind {
        DecisionKind::Pause => "paused for a person",
        DecisionKind::Rollback => "rolled back",
        _ => "promoted without the evidence",
    };
    let mut body = format!(
        "# {} {what}: too little evidence in {}\n\n**Why:** {}\n\n",
        m.id, d.stage_name, d.reason
    );
    body.push_str(&evidence(d));
    body.push_str(&format!(
        "\n## What it asks\n\nThe stage's traffic was too low for its duration to rule out a regression of the configured size (docs/ROLLOUT.md, \"How much traffic a stage needs\"). Decide for this release (`ship rollout resume` collects for another rollout.max_hold, `ship rollout promote --reason …` goes on without the evidence, `ship rollout abort --reason …`), and for the next ones: a longer stage, a larger canary weight, or a judge.inconclusive policy.\n\nContract: [{}](../releases/{}.md).\n",
        m.id, m.id
    ));
    Signal {
        meta: SignalMeta {
            title: format!("Inconclusive {} stage of {}", d.stage_name, m.id),
            kind: SignalType::ProcessFriction,
            severity: Severity::Medium,
            source: Source {
                release: Some(m.id.clone()),
                mission: m.mission.clone(),
            },
            created: now,
            status: SignalStatus::Open,
            event: Some(format!("inconclusive:{}:{}", m.id, d.stage_name)),
        },
        body,
    }
}

/// A decision's findings as a markdown table.
fn evidence(d: &Decision) -> String {
    let mut out = String::from("| check | outcome | detail |\n|---|---|---|\n");
    for f in &d.findings {
        out.push_str(&format!(
            "| {} | {:?} | {} |\n",
            shiploop_artifacts::markdown::cell(&f.name),
            f.outcome,
            shiploop_artifacts::markdown::cell(&f.detail)
        ));
    }
    out
}
