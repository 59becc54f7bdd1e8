use super::*;
use shiploop_store::event::{Failure, SignalWritten};

impl Controller<'_> {
    /// Mirrors the rollout into the contract's records and STATUS.md, rebuilt from the recorded
    /// decisions each time, so it is idempotent and a crash mid-update is repaired next time.
    pub fn sync_contract(&mut self, now: DateTime<Utc>) -> Result<()> {
        let decisions = self.store.decisions(self.id()).map_err(store_err)?;
        let milestones: Vec<&Decision> = decisions
            .iter()
            .map(|d| &d.decision)
            .filter(|d| !matches!(d.kind, DecisionKind::Hold | DecisionKind::Ignored))
            .collect();
        let record = RolloutRecord {
            phase: self.state.phase.name().to_string(),
            stage: self.stage_name(),
            weight: self.state.weight,
            started_at: milestones.first().map(|d| d.at),
            updated_at: milestones.last().map(|d| d.at),
            log: milestones
                .iter()
                .map(|d| RolloutLogEntry {
                    at: d.at,
                    event: serde_json::to_value(d.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    stage: d.stage_name.clone(),
                    weight: d.weight,
                    reason: d.reason.clone(),
                })
                .collect(),
        };
        let status = match &self.state.phase {
            Phase::RolledBack { .. } | Phase::Failed { .. } => Status::RolledBack,
            // Post-deployment validation comes next (a hotfix's window is
            // hotfix.validation_window); only its pass makes the release shipped.
            Phase::Completed => Status::Validating,
            _ => Status::Deploying,
        };
        let id = self.id().to_string();
        self.ws.record_rollout(&id, status, record, now)?;
        self.anchor(now);
        Ok(())
    }

    /// How the rollout ended; None while it is in flight.
    pub fn outcome(&self) -> Option<Outcome> {
        match &self.state.phase {
            Phase::Completed => Some(Outcome::Completed),
            Phase::RolledBack { reason } => Some(Outcome::RolledBack {
                reason: reason.clone(),
            }),
            Phase::Failed { reason } => Some(Outcome::Failed {
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    /// Writes the signals a finished rollout owes (incident on rollback, post-incident after a
    /// hotfix); each only once.
    pub fn finish(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.sync_contract(now)?;
        let decisions = self.store.decisions(self.id()).map_err(store_err)?;
        let weights = self.weight_history();
        let signal = signals::for_outcome(&self.release, &self.state, &decisions, &weights, now)
            .filter(|_| self.signal_due());
        if let Some(signal) = signal {
            let (path, new) = self.ws.write_signal(&signal)?;
            if new {
                let written = Event::SignalWritten(SignalWritten {
                    file: Some(self.ws.rel(&path)),
                    error: None,
                    event: signal.meta.event.clone(),
                });
                let _ = self.log_event(&written, now);
            }
        }
        // Last, so the log's final event is anchored too.
        self.anchor(now);
        Ok(())
    }

    /// Whether a finished rollout's signal is due now: a hotfix's post-incident signal waits for
    /// its validation to pass; a person's rollback after a failed validation is that
    /// validation's incident, already written.
    pub(crate) fn signal_due(&self) -> bool {
        // A completed rollout's only signal is a hotfix's post-incident one
        // (signals::for_outcome): decided from the state, not from the signal's event id.
        if self.state.phase == Phase::Completed {
            return self
                .ws
                .resolve(self.id())
                .is_ok_and(|r| r.contract.meta.status == Status::Shipped);
        }
        if let (Phase::RolledBack { .. }, Some(rollback)) = (&self.state.phase, self.state.rollback)
        {
            if rollback.cause == shiploop_rollout::RollbackCause::Manual
                && rollback.during_validation
            {
                let v = format!("validation:{}", self.id());
                let written = self.ws.signals().is_ok_and(|all| {
                    all.iter()
                        .any(|(_, s)| s.meta.event.as_deref() == Some(v.as_str()))
                });
                return !written;
            }
        }
        true
    }

    /// The weights the router carried, in order, without repeats: each one it confirmed, and
    /// each one asked for whose confirmation a crash lost but that a restart found in place.
    pub fn weight_history(&self) -> Vec<u8> {
        let events = self.store.events(Some(self.id())).unwrap_or_default();
        weights_carried(events.iter().filter_map(|e| match &e.event {
            Event::Router(call) => Some(call),
            _ => None,
        }))
    }
}

/// Records the event log's head in the contract of `release` (see `Controller::anchor`).
pub fn anchor(ws: &Workspace, store: &mut dyn StateStore, release: &str, now: DateTime<Utc>) {
    let result = store
        .head()
        .map_err(store_err)
        .and_then(|(seq, hash)| ws.record_anchor(release, seq, &hash, now));
    if let Err(e) = result {
        let failed = Event::ContractUpdateFailed(Failure {
            error: format!("the event log's head could not be anchored: {e}"),
        });
        let _ = store.append(release, &failed, now);
    }
}
