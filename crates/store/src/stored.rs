//! What the store keeps, typed: a rollout with its plan and state, a decision, an event of the
//! log with its place in the chain, a queued command, one engine step to record, a lease and
//! the fence a write checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::Kind;
use shiploop_rollout::{Decision, Input, Observation, Plan, Rollout};

use crate::event::Event;

/// The plan a rollout executes, with the digest of the approved contract it was built from
/// (the `rollouts.plan` column and the `rollout-created` event's `plan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPlan {
    /// The plan the engine executes.
    pub plan: Plan,
    /// Standard or hotfix, as the contract says.
    #[serde(default)]
    pub kind: Kind,
    /// None in rollouts recorded before plans carried their contract's digest.
    #[serde(default)]
    pub digest: Option<String>,
}

impl StoredPlan {
    /// The `rollouts.kind` column's value.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Standard => "standard",
            Kind::Hotfix => "hotfix",
        }
    }
}

/// A recorded rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRollout {
    /// The release id.
    pub release: String,
    /// `standard` or `hotfix`.
    pub kind: String,
    /// The plan it executes.
    pub plan: StoredPlan,
    /// Where the engine is.
    pub state: Rollout,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When its last step was recorded.
    pub updated_at: DateTime<Utc>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRow {
    /// Its place among all decisions: the `seq` of its `decision` event.
    pub id: i64,
    /// The release decided on.
    pub release: String,
    /// The decision.
    pub decision: Decision,
}

/// An event of the log with its place in the hash chain. Serialized as it is stored:
/// `seq, at, release, kind, data, prev_hash, hash`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedEvent {
    /// Its place in the log (from 1).
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The release (or `mission:<name>`, `flag:<name>`) it belongs to.
    pub release: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl LoggedEvent {
    /// The `kind` column's value.
    pub fn kind(&self) -> &str {
        self.event.kind()
    }
}

/// What `verify_chain` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// The events that verified.
    pub events: usize,
    /// Whether the whole chain verified.
    pub ok: bool,
    /// The first event that does not verify, and why.
    pub broken_at: Option<i64>,
    /// Why it does not verify.
    pub problem: Option<String>,
    /// The hash of the last event that verified.
    pub head: String,
}

/// The oldest operator command not yet taken.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedCommand {
    /// A command the engine can apply.
    Input {
        /// Its id in the queue.
        id: i64,
        /// What it asks of the engine.
        input: Input,
    },
    /// A command that could not be read (written by another version, edited by hand): the
    /// controller rejects it on the record.
    Unreadable {
        /// Its id in the queue.
        id: i64,
        /// Why it could not be read.
        error: String,
    },
}

impl QueuedCommand {
    /// Its id in the queue.
    pub fn id(&self) -> i64 {
        match self {
            QueuedCommand::Input { id, .. } | QueuedCommand::Unreadable { id, .. } => *id,
        }
    }
}

/// One engine step, recorded in one transaction: the new state, the decision, the samples
/// measured, and events beside the decision's own.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The rollout stepped.
    pub release: &'a str,
    /// Record only if this controller still holds the rollout's lease (None: no lease check).
    pub holder: Option<&'a str>,
    /// With `holder`: record only if the lease still carries this fencing token, so a
    /// controller whose lease passed to another (or expired and was taken again) records
    /// nothing. None: the holder alone is checked.
    pub token: Option<i64>,
    /// The queued command this step takes, marked taken in the same transaction.
    pub command: Option<i64>,
    /// The state the step left.
    pub state: &'a Rollout,
    /// The step's decision.
    pub decision: &'a Decision,
    /// The metric samples the decision read.
    pub samples: Option<&'a Observation>,
    /// Events recorded with the decision.
    pub events: &'a [Event],
}

/// A rollout's lease (or a replica's heartbeat, `replica:<holder>`) while it has not expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// Who holds it.
    pub holder: String,
    /// Its fencing token: the same while `holder` renews it, strictly greater each time the
    /// lease passes to a holder (the same one again after it expired or was released too).
    pub token: i64,
    /// When it runs out unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// What a fenced write checks: the lease row still names `holder` with `token`; otherwise the
/// write is refused with [`crate::StoreError::LeaseLost`] and nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a> {
    /// The holder the write is made for.
    pub holder: &'a str,
    /// The fencing token it acquired the lease with.
    pub token: i64,
}
