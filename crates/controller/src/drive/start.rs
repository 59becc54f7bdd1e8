//! What a foreground run (`ship rollout start`, `ship hotfix start`, `ship rollout resume`)
//! settles before it drives a rollout: a hotfix start of a standard release is refused, a
//! rollout that already ended is finished again (what it owed, idempotently), one driven by
//! another live process is refused or, for a resume, left a queued command.

use super::*;
use shiploop_artifacts::release::Kind;

/// How a foreground start may go on.
#[derive(Debug, Clone)]
pub enum Starting {
    /// The rollout already ended: what it owed was written again and the webhooks told.
    Ended(Outcome),
    /// This process may drive it; `drift` lists what ship.toml changed after approval (the
    /// approved settings decide; this is only reported).
    Ready {
        /// The settings ship.toml changed since approval.
        drift: Vec<String>,
    },
}

impl Controller<'_> {
    /// Before a foreground start drives the rollout (see [`Starting`]). `hotfix`: the start
    /// came from `ship hotfix start`, which takes hotfix releases only.
    pub async fn prepare_start(
        &mut self,
        hotfix: bool,
        now: DateTime<Utc>,
        warn: &dyn Fn(&str),
    ) -> Result<Starting> {
        let id = self.id().to_string();
        if hotfix && self.release.contract.meta.kind != Kind::Hotfix {
            return Err(Error::Refused(format!(
                "{id} is not a hotfix release (compile one with `ship release new <name> --hotfix --severity P0|P1`)"
            )));
        }
        if let Some(o) = self.outcome() {
            // What a finished rollout owes (its signal, the contract's records, its webhooks)
            // is redone if a crash interrupted it; all are idempotent.
            self.finish(now)?;
            self.send_webhooks(now, warn).await;
            return Ok(Starting::Ended(o));
        }
        if let Some(holder) = self.driven_elsewhere(now)? {
            return Err(Error::Refused(format!(
                "{id} is already being driven by {holder}"
            )));
        }
        Ok(Starting::Ready {
            drift: self.drift(),
        })
    }

    /// `ship rollout resume` before it drives the rollout again: queued for the live process
    /// that drives it (its holder is returned), or, when the rollout is paused, resumed here.
    pub async fn resume_here(&mut self, now: DateTime<Utc>) -> Result<Option<String>> {
        let id = self.id().to_string();
        if self.store.rollout(&id).map_err(store_err)?.is_none() {
            return Err(Error::Usage(format!(
                "{id} has no rollout to resume: `ship rollout start {id}`"
            )));
        }
        if let Some(holder) = self.driven_elsewhere(now)? {
            self.queue(&Input::Resume, now)?;
            return Ok(Some(holder));
        }
        if let Phase::Paused { .. } = self.state.phase {
            self.acquire(now)?;
            let resumed = self.apply(Input::Resume, now, None, &mut |_| {}).await;
            self.release_lease();
            resumed?;
        }
        Ok(None)
    }
}
