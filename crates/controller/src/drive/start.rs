//! What a foreground run (`ship rollout start`, `ship hotfix start`, `ship rollout resume`)
//! settles before it drives a rollout: a hotfix start of a standard release is refused, a
//! rollout that already ended is finished again (what it owed, idempotently), one driven by
//! another live process is refused or, for a resume, left a queued command. Before all that, a
//! new rollout passes its pre-deployment gates ([`gates_before_start`]); after it, a completed
//! rollout is validated when `validation.auto` says so ([`Controller::validation_due`]).

use super::*;
use shiploop_artifacts::release::Kind;
use shiploop_gates::{Override, Report};

/// What a start learns before it drives: whether the gates still have a say.
#[derive(Debug, Clone)]
pub enum BeforeStart {
    /// The rollout already began: its gates were decided then, so waivers have nothing left
    /// to apply to.
    AlreadyStarted,
    /// A new rollout: the gates' report (recorded) and notes; it may start only when the
    /// report passes.
    Gated {
        /// Every gate's verdict, waivers applied.
        report: Report,
        /// What the gates noted beside their verdicts.
        notes: Vec<String>,
    },
}

/// `ship hotfix start` takes hotfix releases only: this rule's one home.
pub fn refuse_unless_hotfix(release: &LoadedRelease) -> Result<()> {
    let m = &release.contract.meta;
    if m.kind != Kind::Hotfix {
        return Err(Error::Refused(format!(
            "{} is not a hotfix release (compile one with `ship release new <name> --hotfix --severity P0|P1`)",
            m.id
        )));
    }
    Ok(())
}

/// Before `ship rollout start`, `ship hotfix start` (`hotfix`) or `ship rollout start
/// --detach` opens a controller: a hotfix start of a standard release is refused, and a
/// release with no rollout yet runs its pre-deployment gates with the given `waivers`.
pub async fn gates_before_start(
    ws: &Workspace,
    release: &str,
    hotfix: bool,
    waivers: &[Override],
    now: DateTime<Utc>,
) -> Result<BeforeStart> {
    let loaded = ws.resolve(release)?;
    if hotfix {
        refuse_unless_hotfix(&loaded)?;
    }
    let id = &loaded.contract.meta.id;
    let store = crate::open_store(ws)?;
    if store.rollout(id).map_err(store_err)?.is_some() {
        return Ok(BeforeStart::AlreadyStarted);
    }
    let (report, notes) = crate::gates::check(ws, release, waivers, now).await?;
    Ok(BeforeStart::Gated { report, notes })
}

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
        if hotfix {
            refuse_unless_hotfix(&self.release)?;
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

    /// Whether the release has a rollout in the state database yet.
    pub fn has_rollout(&self) -> Result<bool> {
        Ok(self.store.rollout(self.id()).map_err(store_err)?.is_some())
    }

    /// Whether post-deployment validation follows now: the rollout completed and
    /// `validation.auto` says so.
    pub fn validation_due(&self) -> bool {
        self.state.phase == Phase::Completed && self.ws.config.validation.auto
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
