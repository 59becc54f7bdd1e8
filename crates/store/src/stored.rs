//! What the store keeps, typed: a rollout with its plan and state, a decision, an event of the
//! log with its place in the chain, a queued command, one engine step to record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::Kind;
use shiploop_rollout::{Decision, Input, Observation, Plan, Rollout};

use crate::event::Event;

/// The plan a rollout executes, with the digest of the approved contract it was built from
/// (the `rollouts.plan` column and the `rollout-created` event's `plan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPlan {
    pub plan: Plan,
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
    pub release: String,
    /// `standard` or `hotfix`.
    pub kind: String,
    pub plan: StoredPlan,
    pub state: Rollout,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRow {
    pub id: i64,
    pub release: String,
    pub decision: Decision,
}

/// An event of the log with its place in the hash chain. Serialized as it is stored:
/// `seq, at, release, kind, data, prev_hash, hash`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub release: String,
    #[serde(flatten)]
    pub event: Event,
    pub prev_hash: String,
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
    pub events: usize,
    pub ok: bool,
    /// The first event that does not verify, and why.
    pub broken_at: Option<i64>,
    pub problem: Option<String>,
    pub head: String,
}

/// The oldest operator command not yet taken.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedCommand {
    /// A command the engine can apply.
    Input { id: i64, input: Input },
    /// A command that could not be read (written by another version, edited by hand): the
    /// controller rejects it on the record.
    Unreadable { id: i64, error: String },
}

impl QueuedCommand {
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
    pub release: &'a str,
    /// Record only if this controller still holds the rollout's lease (None: no lease check).
    pub holder: Option<&'a str>,
    /// The queued command this step takes, marked taken in the same transaction.
    pub command: Option<i64>,
    pub state: &'a Rollout,
    pub decision: &'a Decision,
    pub samples: Option<&'a Observation>,
    pub events: &'a [Event],
}
