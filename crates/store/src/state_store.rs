//! The store's contract: what the controller, the server and the CLI may ask of a state
//! backend. SQLite implements it ([`crate::SqliteStore`]); a second backend implements the same
//! trait and passes the same suite (`contract`, with its model test).

use chrono::{DateTime, Utc};
use shiploop_rollout::{Input, Phase, Rollout};
use std::time::Duration;

use crate::event::Event;
use crate::stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};
use crate::Result;

/// The phase [`StateStore::phases`] gives a rollout that cannot be read.
pub const UNREADABLE: &str = "unreadable";

/// [`StateStore::phases`] by reading and decoding each rollout (the trait's default, and what
/// the backends' answers are checked against).
pub(crate) fn phases_by_rollout<S: StateStore + ?Sized>(st: &S) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for release in st.releases()? {
        let phase = match st.rollout(&release) {
            Ok(Some(row)) => row.state.phase.name().to_string(),
            Ok(None) => continue,
            Err(_) => UNREADABLE.to_string(),
        };
        out.push((release, phase));
    }
    Ok(out)
}

/// Phase names as the backends read them in SQL (the state's `phase.phase`), told known or not
/// once per distinct name: a name [`Phase`] does not know makes its rollout [`UNREADABLE`], as
/// decoding it would.
#[derive(Default)]
pub(crate) struct PhaseNames {
    known: std::collections::HashMap<String, bool>,
}

impl PhaseNames {
    /// The name `phases` gives a rollout whose state names `phase` (None: names none) and whose
    /// plan is (`plan_ok`) or is not JSON.
    pub(crate) fn name(&mut self, plan_ok: bool, phase: Option<String>) -> String {
        let Some(phase) = phase.filter(|_| plan_ok) else {
            return UNREADABLE.to_string();
        };
        let known = match self.known.get(&phase) {
            Some(k) => *k,
            None => {
                // `reason` is what the variants that carry one need; the others ignore it.
                let probe = serde_json::json!({ "phase": phase, "reason": "" });
                let k = serde_json::from_value::<Phase>(probe).is_ok();
                self.known.insert(phase.clone(), k);
                k
            }
        };
        if known {
            phase
        } else {
            UNREADABLE.to_string()
        }
    }
}

/// Durable rollout state: rollouts with their plan and state, decisions, metric samples, an
/// append-only hash-chained event log, readers' cursors into it, leases and a command queue.
///
/// Every write that changes more than one thing (a step, a creation, a queued command) is one
/// transaction: after a crash the store holds the state before it or after it, never half.
pub trait StateStore {
    /// The rollout of `release`, if one is recorded. A plan or state that no longer parses is
    /// [`crate::StoreError::Corrupt`].
    fn rollout(&self, release: &str) -> Result<Option<StoredRollout>>;

    /// Every recorded rollout, oldest first (then by release).
    fn rollouts(&self) -> Result<Vec<StoredRollout>>;

    /// The releases of the recorded rollouts, in the order of `rollouts`, without reading their
    /// plans and states: a reader that must go on past an unreadable one reads each by
    /// `rollout`.
    fn releases(&self) -> Result<Vec<String>>;

    /// Every recorded rollout's release and the name of its phase ([`Phase::name`]), in the
    /// order of `releases`, without decoding whole plans and states: what the counts by phase
    /// (`/metrics`, the dashboard) need over thousands of rollouts. A rollout that cannot be
    /// read is named [`UNREADABLE`]. The backends read the phase in SQL and call a rollout
    /// unreadable when its plan is not JSON or its state names no phase ship knows (when some
    /// state is not JSON at all they read each rollout as the default does); this default
    /// decodes each rollout, so a plan or state that is JSON of the wrong shape (a hand edit)
    /// is unreadable here and not there.
    fn phases(&self) -> Result<Vec<(String, String)>> {
        phases_by_rollout(self)
    }

    /// Records a new rollout with its plan and initial state, and its `rollout-created` event;
    /// [`crate::StoreError::Conflict`] when `release` already has one.
    fn create_rollout(
        &mut self,
        release: &str,
        plan: &StoredPlan,
        state: &Rollout,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Records one engine step atomically: the state, the decision (with its `decision` event
    /// carrying the state's hash), the samples and the step's other events — only while
    /// `step.holder` (when given) holds the lease, with `step.token` (when given too)
    /// ([`crate::StoreError::LeaseLost`] otherwise, and nothing is written), taking
    /// `step.command` (when given) in the same transaction.
    fn record_step(&mut self, step: Step<'_>) -> Result<()>;

    /// Why the recorded state of `release` is not the one its newest decision (or its creation)
    /// recorded in the event log; None when it is, when the log predates state hashes, or when
    /// no rollout is recorded.
    fn state_problem(&self, release: &str) -> Result<Option<String>>;

    /// The decisions of `release`, oldest first.
    fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>>;

    /// The values measured for `key` during the steps of `releases` within [since, until], in
    /// time order (no-data and error samples left out).
    fn sample_values(
        &self,
        releases: &[String],
        key: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>>;

    /// Forgets the metric samples measured before `before` (their retention); decisions and the
    /// event log are never pruned. How many were forgotten.
    fn prune_samples(&mut self, before: DateTime<Utc>) -> Result<usize>;

    /// Appends one event on its own, chained to the newest — only while `fence` (when given)
    /// holds ([`crate::StoreError::LeaseLost`] otherwise, and nothing is appended).
    fn append_fenced(
        &mut self,
        release: &str,
        event: &Event,
        at: DateTime<Utc>,
        fence: Option<Fence<'_>>,
    ) -> Result<LoggedEvent>;

    /// Appends one event on its own, chained to the newest.
    fn append(&mut self, release: &str, event: &Event, at: DateTime<Utc>) -> Result<LoggedEvent> {
        self.append_fenced(release, event, at, None)
    }

    /// The events after `after` (of one release, or all), oldest first, at most `limit`.
    fn events_since(
        &self,
        release: Option<&str>,
        after: i64,
        limit: Option<usize>,
    ) -> Result<Vec<LoggedEvent>>;

    /// Every event (of one release, or all), oldest first.
    fn events(&self, release: Option<&str>) -> Result<Vec<LoggedEvent>> {
        self.events_since(release, 0, None)
    }

    /// The sequence number of the newest event (of one release, or of all), 0 for none.
    fn last_seq(&self, release: Option<&str>) -> Result<i64>;

    /// The first `rollout-created` event of `release`, if the log has one.
    fn rollout_created(&self, release: &str) -> Result<Option<LoggedEvent>>;

    /// The releases whose rollout the event log says was created, sorted.
    fn created_rollouts(&self) -> Result<Vec<String>>;

    /// The newest event's sequence number and hash (0 and the genesis hash for an empty log).
    fn head(&self) -> Result<(i64, String)>;

    /// The hash of event `seq`, if the log has it.
    fn hash_of(&self, seq: i64) -> Result<Option<String>>;

    /// Recomputes every event's hash from what is stored and checks the links.
    fn verify_chain(&self) -> Result<ChainReport>;

    /// How far the reader `name` has got in the event log (0: nowhere yet).
    fn cursor(&self, name: &str) -> Result<i64>;

    /// Moves the reader `name` from `from` to `to`; false when it was not at `from` (another
    /// reader moved it first).
    fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool>;

    /// Takes the lease on a rollout for `holder` until `now + ttl`, if it is free, expired, or
    /// already held by `holder`; its fencing token, None when another holds it. Renewing a live
    /// lease keeps its token; a lease that passes to a holder (the same one again after it
    /// expired or was released too) gets a greater one. Tokens of a lease never go backwards.
    fn lease_acquire(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>>;

    /// [`StateStore::lease_acquire`], answering only whether it was taken.
    fn acquire_lease(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self.lease_acquire(release, holder, ttl, now)?.is_some())
    }

    /// Takes over the lease from `old` (a holder known to be dead), whatever its expiry, with a
    /// new, greater fencing token; None when `old` does not hold it.
    fn lease_take_over(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>>;

    /// [`StateStore::lease_take_over`], answering only whether it was taken over.
    fn take_over_lease(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self
            .lease_take_over(release, old, holder, ttl, now)?
            .is_some())
    }

    /// Gives the lease up, if `holder` has it (its token is kept: the next holder's is greater).
    fn release_lease(&mut self, release: &str, holder: &str) -> Result<()>;

    /// Extends every live lease `holder` holds to `now + ttl`, tokens unchanged, in one write
    /// (a replica renews all its rollouts at once); which ones, with their tokens, by name. A
    /// lease that expired is not renewed: it is acquired again, with a new token.
    ///
    /// The answer is what lets a replica's rollouts check their lease without a read of
    /// their own each tick: each of them is held, with that token, until `now + ttl`.
    fn renew_leases(
        &mut self,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>>;

    /// The rollout's lease, if it is held and has not expired at `now`.
    fn lease(&self, release: &str, now: DateTime<Utc>) -> Result<Option<Lease>>;

    /// The holder of the rollout's lease, if it has not expired at `now`.
    fn lease_holder(&self, release: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        Ok(self.lease(release, now)?.map(|l| l.holder))
    }

    /// The leases held and unexpired at `now` whose name starts with `prefix`, by name
    /// (`replica:` lists the live replicas' heartbeats).
    fn leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<Vec<(String, Lease)>>;

    /// Queues `command` for the controller driving `release`, with its `command-queued` event
    /// naming `by` (who and through what: `api operator`, `cli alice@host`).
    fn push_command(
        &mut self,
        release: &str,
        command: &Input,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64>;

    /// The oldest command not yet taken, without taking it (a step takes it).
    fn next_command(&self, release: &str) -> Result<Option<QueuedCommand>>;

    /// Marks a command taken without a step (it could not be read).
    fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()>;
}
