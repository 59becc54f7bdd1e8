//! `ship handoff <release>`: the Ship loop's exit criteria checked from recorded evidence, then the
//! transfer from Ship to Operate — the mission in Operate in STATUS.md with its owner and
//! checkpoints, a handoff record in the contract, a `handed-over` event. Nothing is written
//! unless every criterion holds.

use crate::check::{flag_registry, latest};
use crate::{store_err, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_artifacts::release::{CheckLine, HandoffRecord, Kind};
use shiploop_gates::handoff::{
    decide, Acceptance, ApprovalEvidence, Checkpoint, Evidence, FlagEvidence, OutcomeEvidence,
    Recorded, Report, RunbookEvidence, ValidationEvidence,
};
use shiploop_rollout::DecisionKind;
use shiploop_store::event::{Event, HandedOver};
use shiploop_workspace::{Error, Workspace};

/// What `ship handoff` did: the exit criteria's report, and whether it handed over to Operate.
#[derive(Debug, Serialize)]
pub struct Handoff {
    /// The exit criteria, each with its evidence.
    pub report: Report,
    /// True when this run handed the release over.
    pub handed_over: bool,
    /// The earlier handoff, when the release was already handed over.
    pub already: Option<HandoffRecord>,
    /// Steps an interrupted earlier handoff had left undone, finished by this run.
    pub completed: Vec<String>,
    /// STATUS.md's path (`paths.status`), where the handoff is recorded.
    pub status_file: String,
}

/// Checks the exit criteria and, when every one holds (warnings accepted by a person), hands
/// the release over. Writes in this order — the contract's record, STATUS.md, the event log —
/// and a later run finishes whatever an interrupted one left undone.
pub fn handoff(
    ws: &Workspace,
    release: &str,
    accept: &[Acceptance],
    now: DateTime<Utc>,
) -> Result<Handoff> {
    let r = ws.resolve(release)?;
    let evidence = gather(ws, release, now)?;
    let mut report = decide(&evidence);
    let status_file = ws.config.paths.status.clone();
    if let Some(prev) = r.contract.meta.handoff.clone() {
        let completed = finish(ws, &r, &prev, false, now)?;
        return Ok(Handoff {
            report,
            handed_over: false,
            already: Some(prev),
            completed,
            status_file,
        });
    }
    report
        .accept(accept)
        .map_err(|e| Error::Refused(e.to_string()))?;
    if !report.passed() {
        return Ok(Handoff {
            report,
            handed_over: false,
            already: None,
            completed: vec![],
            status_file,
        });
    }
    // Everything that can fail to parse is read before anything is written.
    ws.load_status()?;
    crate::open_store(ws)?;
    if let Some(m) = &r.contract.meta.mission {
        ws.load_outcome(m)?;
    }
    let cfg = &ws.config.handoff;
    let record = HandoffRecord {
        at: now,
        from: cfg.ship_owner.clone(),
        to: cfg.operate_owner.clone(),
        items: report
            .items
            .iter()
            .map(|i| CheckLine {
                gate: i.id.to_string(),
                status: i.status.as_str().to_string(),
                evidence: i.evidence.clone(),
                overridden_by: i.accepted.as_ref().map(|a| a.by.clone()),
                override_reason: i.accepted.as_ref().map(|a| a.reason.clone()),
            })
            .collect(),
    };
    let mut r = r;
    r.contract.meta.handoff = Some(record.clone());
    r.contract.refresh_records();
    ws.save_release(&r)?;
    finish(ws, &r, &record, true, now)?;
    Ok(Handoff {
        report,
        handed_over: true,
        already: None,
        completed: vec![],
        status_file,
    })
}

/// The handoff's effects after the contract's record: the mission in Operate for this release
/// in STATUS.md and the `handed-over` event. A `fresh` handoff writes both; a later run writes
/// what is missing — unless a later release of the mission has been handed over since, which
/// STATUS.md then rightly names. Returns what it had to do.
fn finish(
    ws: &Workspace,
    r: &shiploop_workspace::LoadedRelease,
    record: &HandoffRecord,
    fresh: bool,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let m = &r.contract.meta;
    let id = &m.id;
    let mut done = vec![];
    let mut status = ws.load_status()?;
    let schedule = match &m.mission {
        Some(mission) => ws.load_outcome(mission)?.1.meta.measurement_schedule,
        None => vec![],
    };
    let up_to_date = match &m.mission {
        None => true,
        Some(mission) => match status.mission(mission) {
            Some(e) if e.phase == shiploop_artifacts::status::Phase::Operate => {
                e.release.as_deref() == Some(id.as_str()) || handed_over_later(ws, e, record)
            }
            _ => false,
        },
    };
    if fresh || !up_to_date {
        if let Some(mission) = &m.mission {
            status.set_release(id, Some(mission), m.status.as_str(), now);
            status.hand_over(mission, id, &record.to, &schedule, record.at);
            ws.save_status(&status)?;
            if !fresh {
                done.push(format!(
                    "{}: mission {mission} in operate",
                    ws.config.paths.status
                ));
            }
        }
    }
    let mut store = crate::open_store(ws)?;
    let logged = store
        .events(Some(id))
        .map_err(store_err)?
        .iter()
        .any(|e| matches!(e.event, Event::HandedOver(_)));
    if !logged {
        let handed = Event::HandedOver(HandedOver {
            at: record.at,
            from: record.from.clone(),
            to: record.to.clone(),
            mission: m.mission.clone(),
            measurement_schedule: schedule.clone(),
            items: record.items.clone(),
        });
        store.append(id, &handed, now).map_err(store_err)?;
        crate::anchor(ws, &mut *store, id, now);
        if !fresh {
            done.push("event log: handed-over".into());
        }
    }
    Ok(done)
}

/// Whether the release STATUS.md names for the mission was handed over after `record`.
fn handed_over_later(
    ws: &Workspace,
    entry: &shiploop_artifacts::status::MissionEntry,
    record: &HandoffRecord,
) -> bool {
    entry
        .release
        .as_deref()
        .and_then(|other| ws.resolve(other).ok())
        .and_then(|o| o.contract.meta.handoff)
        .is_some_and(|h| h.at > record.at)
}

/// Reads every piece of evidence the exit criteria need; missing evidence is evidence too
/// (the criterion fails), only an unreadable state database is an error.
fn gather(ws: &Workspace, release: &str, now: DateTime<Utc>) -> Result<Evidence> {
    let r = ws.resolve(release)?;
    let m = &r.contract.meta;
    let id = m.id.clone();
    let store = crate::open_store(ws)?;

    let v = ws.verify(&id, now)?;
    let approval = if v.ok() {
        let who: Vec<String> = v
            .approvals
            .iter()
            .filter(|a| a.valid)
            .map(|a| a.principal.clone())
            .collect();
        ApprovalEvidence::Approved(format!("approved by {} ({})", who.join(", "), v.file))
    } else {
        ApprovalEvidence::NotApproved(v.message.clone())
    };

    let (mut rollout_phase, mut rollout_weight) = (None, 0);
    let (mut plan_stages, mut reached_stages) = (vec![], vec![]);
    if let Some(row) = store.rollout(&id).map_err(store_err)? {
        let (plan, state) = (row.plan.plan, row.state);
        rollout_phase = Some(state.phase.name().to_string());
        rollout_weight = state.weight;
        plan_stages = plan.stages.iter().map(|s| s.name.clone()).collect();
        // A decision names the stage it moved to: Start enters the first, Promote and
        // Complete the next; a completed rollout has finished every stage it entered.
        for d in store.decisions(&id).map_err(store_err)? {
            let d = d.decision;
            if matches!(
                d.kind,
                DecisionKind::Start | DecisionKind::Promote | DecisionKind::Complete
            ) && !reached_stages.contains(&d.stage_name)
            {
                reached_stages.push(d.stage_name);
            }
        }
    }

    let validation = m.validation.as_ref().map(|v| ValidationEvidence {
        result: v.result.clone(),
        ended_at: v.ended_at,
        items: v
            .items
            .iter()
            .map(|i| Recorded {
                name: item_id(&i.gate),
                status: i.status.clone(),
                evidence: i.evidence.clone(),
            })
            .collect(),
    });

    let outcome = m.mission.as_ref().and_then(|mission| {
        if !ws.outcome_path(mission).is_file() {
            return None;
        }
        Some(match ws.load_outcome(mission) {
            Ok((p, c)) => OutcomeEvidence::Read {
                file: ws.rel(&p),
                schedule: c
                    .meta
                    .measurement_schedule
                    .iter()
                    .map(|k| Checkpoint {
                        name: k.name.clone(),
                        date: k.date,
                    })
                    .collect(),
            },
            Err(e) => OutcomeEvidence::Unreadable(e.to_string()),
        })
    });

    let runbook = match ws.config.service.runbook.trim() {
        "" => None,
        path => {
            let full = ws.path(path);
            let problem = match std::fs::read_to_string(&full) {
                Ok(t) if t.trim().is_empty() => Some("is empty".to_string()),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Some("does not exist".to_string())
                }
                Err(e) => Some(e.to_string()),
            };
            Some(RunbookEvidence {
                path: path.to_string(),
                problem,
            })
        }
    };

    let events = store.events(Some(&id)).map_err(store_err)?;
    let oncall_ack = latest(&events, |e| match e {
        Event::OncallAcked(a) => Some(a.by.clone()),
        _ => None,
    })
    .map(|(at, by)| (by, at));

    let (flags, flag_registry_error) = if m.flags.is_empty() {
        (vec![], None)
    } else {
        match flag_registry(ws) {
            Ok(reg) => (
                m.flags
                    .iter()
                    .map(|name| match reg.get(name) {
                        Some(f) => FlagEvidence {
                            name: name.clone(),
                            temporary: Some(f.kind.is_temporary()),
                            cleanup_by: f.cleanup_by,
                            owner: f.owner.clone(),
                        },
                        None => FlagEvidence {
                            name: name.clone(),
                            temporary: None,
                            cleanup_by: None,
                            owner: String::new(),
                        },
                    })
                    .collect(),
                None,
            ),
            Err(e) => (vec![], Some(e.to_string())),
        }
    };

    Ok(Evidence {
        release: id.clone(),
        hotfix: m.kind == Kind::Hotfix,
        status: m.status.as_str().to_string(),
        approval,
        rollout_phase,
        rollout_weight,
        plan_stages,
        reached_stages,
        validation,
        mission: m.mission.clone(),
        outcome,
        runbook,
        oncall_ack,
        oncall_team: ws.config.oncall.team.clone(),
        rollback_triggers: m.rollback.automatic.len() + m.rollback.manual.len(),
        flags,
        flag_registry_error,
        ship_owner: ws.config.handoff.ship_owner.clone(),
        operate_owner: ws.config.handoff.operate_owner.clone(),
        status_file: ws.config.paths.status.clone(),
        today: now.date_naive(),
    })
}

/// A validation item's id; records written before the ids were recorded carry the item's text.
fn item_id(recorded: &str) -> String {
    shiploop_gates::validation::Item::ALL
        .iter()
        .find(|i| i.text() == recorded)
        .map(|i| i.id().to_string())
        .unwrap_or_else(|| recorded.to_string())
}
