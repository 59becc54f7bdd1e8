//! `ship operate tick`: the Operate loop's scheduler, safe to run from cron as often as one
//! likes — every checkpoint that is due and not yet measured is measured once, and every flag
//! past its cleanup date gets one process-friction signal.

use crate::outcome::{self, Measured};
use crate::{check, store_err, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_artifacts::signal::{Severity, Signal, SignalMeta, SignalStatus, SignalType, Source};
use shiploop_artifacts::status::Phase;
use shiploop_flags::Stale;
use shiploop_store::event::{Event, SignalWritten};
use shiploop_workspace::Workspace;

/// What one `ship operate tick` did.
#[derive(Debug, Default, Serialize)]
pub struct TickReport {
    /// Checkpoints measured by this tick.
    pub measured: Vec<Measured>,
    /// Due checkpoints that could not be measured; tried again next tick.
    pub failed: Vec<Failed>,
    /// Due checkpoints already measured.
    pub already_measured: Vec<CheckpointRef>,
    /// Due checkpoints measured incompletely today; tried again tomorrow.
    pub retry_tomorrow: Vec<CheckpointRef>,
    /// Missions with due checkpoints that were never handed over to Operate.
    pub not_in_operate: Vec<String>,
    /// Overdue flags and their process-friction signal.
    pub flag_signals: Vec<FlagSignal>,
    /// Problems that did not stop the tick (an unreadable outcome contract or flag registry).
    pub problems: Vec<String>,
}

/// One checkpoint of a mission.
#[derive(Debug, Serialize)]
pub struct CheckpointRef {
    /// The mission.
    pub mission: String,
    /// The checkpoint's name.
    pub checkpoint: String,
}

/// A due checkpoint that could not be measured.
#[derive(Debug, Serialize)]
pub struct Failed {
    /// The mission.
    pub mission: String,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// Why it could not be measured.
    pub error: String,
}

/// An overdue flag and its process-friction signal.
#[derive(Debug, Serialize)]
pub struct FlagSignal {
    /// The flag's name.
    pub flag: String,
    /// The signal's file, relative to the workspace.
    pub file: String,
    /// Written by this tick (false: an earlier tick wrote it).
    pub new: bool,
}

impl TickReport {
    /// A tick "fails" (for cron's exit code) when something due could not be measured or read.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.problems.is_empty()
            && self.retry_tomorrow.is_empty()
            && self.measured.iter().all(Measured::complete)
    }
}

/// Measures every due checkpoint of missions in Operate; files a signal per overdue flag.
pub async fn tick(ws: &Workspace, now: DateTime<Utc>) -> Result<TickReport> {
    let mut report = TickReport::default();
    let status = ws.load_status()?;
    let store = crate::open_store(ws)?;
    let today = now.date_naive();

    for entry in &status.meta.missions {
        let mission = &entry.name;
        let contract = match ws.load_outcome(mission) {
            Ok((_, c)) => c,
            Err(e) => {
                if entry.phase == Phase::Operate {
                    report.problems.push(format!("{mission}: {e}"));
                }
                continue;
            }
        };
        let due = contract.due(today);
        if due.is_empty() {
            continue;
        }
        if entry.phase != Phase::Operate {
            report.not_in_operate.push(mission.clone());
            continue;
        }
        for k in due {
            let here = || CheckpointRef {
                mission: mission.clone(),
                checkpoint: k.name.clone(),
            };
            if outcome::measured(&*store, mission, &k.name)? {
                report.already_measured.push(here());
                continue;
            }
            if outcome::last_incomplete(&*store, mission, &k.name)?
                .is_some_and(|at| at.date_naive() == today)
            {
                report.retry_tomorrow.push(here());
                continue;
            }
            match outcome::measure(ws, mission, Some(&k.name), now).await {
                Ok(m) => report.measured.push(m),
                Err(e) => report.failed.push(Failed {
                    mission: mission.clone(),
                    checkpoint: k.name.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }

    // STATUS.md's copy of each schedule follows the outcome contract (read again: the
    // measurements above wrote it).
    let mut status = ws.load_status()?;
    let mut changed = false;
    for entry in status.meta.missions.clone() {
        if entry.phase != Phase::Operate {
            continue;
        }
        if let Ok((_, c)) = ws.load_outcome(&entry.name) {
            changed |= status.set_schedule(&entry.name, &c.meta.measurement_schedule);
        }
    }
    if changed {
        ws.save_status(&status)?;
    }

    match check::flag_registry(ws) {
        Ok(registry) => {
            let mut store = store;
            for stale in registry.stale(today) {
                let sig = flag_signal(ws, &stale, now);
                let (path, new) = ws.write_signal(&sig)?;
                if new {
                    let written = Event::SignalWritten(SignalWritten {
                        file: Some(ws.rel(&path)),
                        error: None,
                        event: sig.meta.event.clone(),
                    });
                    store
                        .append(&format!("flag:{}", stale.flag), &written, now)
                        .map_err(store_err)?;
                }
                report.flag_signals.push(FlagSignal {
                    flag: stale.flag.clone(),
                    file: ws.rel(&path),
                    new,
                });
            }
        }
        Err(e) => report.problems.push(format!("flag registry: {e}")),
    }
    Ok(report)
}

/// The process-friction signal of a flag left past its cleanup date ("feature flags left
/// forever"), naming the release that brought it in when a contract lists it.
fn flag_signal(ws: &Workspace, s: &Stale, now: DateTime<Utc>) -> Signal {
    let release = ws.releases().ok().and_then(|rs| {
        rs.into_iter()
            .filter(|r| r.contract.meta.flags.contains(&s.flag))
            .max_by_key(|r| r.contract.meta.created_at)
    });
    let (release_id, mission) = match &release {
        Some(r) => (
            Some(r.contract.meta.id.clone()),
            r.contract.meta.mission.clone(),
        ),
        None => (None, None),
    };
    let due = match s.cleanup_by {
        Some(d) => format!("its cleanup_by date {d}"),
        None => format!("the end of its type's expected lifetime ({})", s.due),
    };
    let body = format!(
        "# Feature flag `{}` is {} days past cleanup\n\nThe flag should have been removed by {due}. Owner: {}.\n\n{}\n\nRemove it from the code and from the flag registry ({}), or, if it must stay, give it a new `cleanup_by` date with the reason.\n",
        s.flag,
        s.days_overdue,
        if s.owner.is_empty() { "unknown" } else { &s.owner },
        match &release_id {
            Some(id) => format!("Introduced by [{id}](../releases/{id}.md)."),
            None => "No release contract lists it.".into(),
        },
        ws.config.flags.registry_file,
    );
    Signal {
        meta: SignalMeta {
            title: format!("Flag {} past its cleanup date", s.flag),
            kind: SignalType::ProcessFriction,
            severity: if s.days_overdue > 30 {
                Severity::High
            } else {
                Severity::Medium
            },
            source: Source {
                release: release_id,
                mission,
            },
            created: now,
            status: SignalStatus::Open,
            // Keyed by the deadline too: a flag given a new date that passes again is a new
            // event, worth a new signal.
            event: Some(format!("flag-overdue:{}:{}", s.flag, s.due)),
        },
        body,
    }
}
