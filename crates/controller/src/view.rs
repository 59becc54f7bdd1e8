//! What the read-only commands show (`ship rollout status`, `ship rollout watch`,
//! `ship status`, `ship audit log`), read from the state database as typed data, so the
//! command line only prints it.

use crate::{holder_is_dead, store_err, Result};
use chrono::{DateTime, Utc};
use shiploop_rollout::Decision;
use shiploop_store::{LoggedEvent, StateStore, StoreError, StoredRollout};
use shiploop_workspace::{Error, Workspace};

/// A recorded rollout with its decisions and, when a live process drives it, that process.
#[derive(Debug, Clone)]
pub struct RolloutView {
    /// The release id.
    pub release: String,
    /// The rollout as recorded: its plan and where the engine is.
    pub rollout: StoredRollout,
    /// Every decision recorded for it, oldest first.
    pub decisions: Vec<Decision>,
    /// The live process holding its lease (None when none, or when the holder is dead).
    pub driven_by: Option<String>,
}

/// A rollout still in flight, as `ship status` lists it.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// The release id.
    pub release: String,
    /// The rollout's phase, or `unreadable` when its record cannot be read.
    pub phase: String,
    /// The name of the stage it is at (empty when unreadable).
    pub stage: String,
    /// The traffic weight it is at (None when unreadable).
    pub weight: Option<u8>,
    /// The live process holding its lease.
    pub driven_by: Option<String>,
}

fn open(ws: &Workspace) -> Result<Box<dyn StateStore + Send>> {
    crate::open_store(ws)
}

fn no_rollout(id: &str) -> Error {
    Error::Usage(format!("{id} has no rollout yet"))
}

/// The live holder of a rollout's lease: a dead one drives nothing.
fn live_holder(store: &dyn StateStore, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    Ok(store
        .lease_holder(id, now)
        .map_err(store_err)?
        .filter(|h| !holder_is_dead(h)))
}

/// The rollout of the release `id` and its decisions (`ship rollout watch` reads them again at
/// every turn); an error when the release has no rollout yet.
pub fn recorded(ws: &Workspace, id: &str) -> Result<(StoredRollout, Vec<Decision>)> {
    let store = open(ws)?;
    let Some(rollout) = store.rollout(id).map_err(store_err)? else {
        return Err(no_rollout(id));
    };
    let decisions = store.decisions(id).map_err(store_err)?;
    Ok((rollout, decisions.into_iter().map(|d| d.decision).collect()))
}

/// `ship rollout status`: the rollout of `release`, or of every release that has one.
pub fn rollouts(
    ws: &Workspace,
    release: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<RolloutView>> {
    let store = open(ws)?;
    let ids: Vec<String> = match release {
        Some(r) => vec![ws.resolve(r)?.contract.meta.id],
        None => store.releases().map_err(store_err)?,
    };
    let mut all = vec![];
    for id in ids {
        let Some(rollout) = store.rollout(&id).map_err(store_err)? else {
            return Err(no_rollout(&id));
        };
        let decisions = store.decisions(&id).map_err(store_err)?;
        let driven_by = live_holder(&*store, &id, now)?;
        all.push(RolloutView {
            release: id,
            rollout,
            decisions: decisions.into_iter().map(|d| d.decision).collect(),
            driven_by,
        });
    }
    Ok(all)
}

/// `ship status`: the rollouts not yet ended. An unreadable rollout may be live at some
/// weight: it is listed as `unreadable`, never hidden.
pub fn in_flight(ws: &Workspace, now: DateTime<Utc>) -> Result<Vec<InFlight>> {
    let store = open(ws)?;
    let mut all = vec![];
    for release in store.releases().map_err(store_err)? {
        let (phase, stage, weight) = match store.rollout(&release) {
            Ok(Some(row)) => {
                if row.state.phase.is_terminal() {
                    continue;
                }
                let stage = row.plan.plan.stages.get(row.state.stage);
                let name = stage.map(|s| s.name.clone()).unwrap_or_default();
                (
                    row.state.phase.name().to_string(),
                    name,
                    Some(row.state.weight),
                )
            }
            Ok(None) => continue,
            Err(StoreError::Corrupt(_)) => ("unreadable".to_string(), String::new(), None),
            Err(e) => return Err(store_err(e)),
        };
        let driven_by = live_holder(&*store, &release, now)?;
        all.push(InFlight {
            release,
            phase,
            stage,
            weight,
            driven_by,
        });
    }
    Ok(all)
}

/// Which of a mission's `checkpoints` have a recorded measurement. Without a readable state
/// database none has: `ship status` still shows the mission.
pub fn measured<'c>(ws: &Workspace, mission: &str, checkpoints: &[&'c str]) -> Vec<&'c str> {
    let Ok(store) = crate::open_store(ws) else {
        return vec![];
    };
    checkpoints
        .iter()
        .copied()
        .filter(|k| crate::outcome::measured(&*store, mission, k).unwrap_or(false))
        .collect()
}

/// `ship audit log`: the event log, of one release (its id) or of all.
pub fn events(ws: &Workspace, release: Option<&str>) -> Result<Vec<LoggedEvent>> {
    open(ws)?.events(release).map_err(store_err)
}
