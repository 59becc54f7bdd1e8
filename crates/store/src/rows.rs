//! Rows as every backend stores them (TEXT times, JSON text with sorted keys), decoded the same
//! way whatever database they come from, and the chain check over them: the event log's hashes
//! cover these bytes, so they must be byte-identical across backends.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::{Input, Rollout};

use crate::chain::{event_hash, parse_ts, GENESIS};
use crate::event::Event;
use crate::stored::{
    ChainReport, DecisionRow, LoggedEvent, QueuedCommand, StoredPlan, StoredRollout,
};
use crate::{Result, StoreError};

/// A value as a JSON column: through `Value`, so object keys are sorted.
pub fn column<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_value(v)?.to_string())
}

/// A rollouts row as stored (release, kind, plan, state, created_at, updated_at), decoded after
/// the query so a bad column names its release.
pub type RawRollout = [String; 6];

/// The columns a [`RawRollout`] is read from.
pub const ROLLOUT_COLUMNS: &str =
    "SELECT release, kind, plan, state, created_at, updated_at FROM rollouts";

/// The columns a [`RawEvent`] is read from.
pub const EVENT_COLUMNS: &str = "SELECT seq, at, release, kind, data, prev_hash, hash FROM events";

/// A rollout, decoded; [`StoreError::Corrupt`] naming the release when it does not parse.
pub fn decode_rollout(raw: RawRollout) -> Result<StoredRollout> {
    let [release, kind, plan, state, created_at, updated_at] = raw;
    let plan: StoredPlan = serde_json::from_str(&plan).map_err(|e| {
        StoreError::Corrupt(format!(
            "state database: the plan of {release} is unreadable: {e}"
        ))
    })?;
    let state: Rollout = serde_json::from_str(&state).map_err(|e| {
        StoreError::Corrupt(format!(
            "state database: the state of {release} is unreadable: {e}"
        ))
    })?;
    Ok(StoredRollout {
        kind,
        plan,
        state,
        created_at: parse_ts(&created_at)?,
        updated_at: parse_ts(&updated_at)?,
        release,
    })
}

/// An events row as stored: its sequence number and its text columns (at, release, kind, data,
/// prev_hash, hash).
pub type RawEvent = (i64, [String; 6]);

/// An event, decoded (data that is not JSON reads as a string).
pub fn decode_event(raw: RawEvent) -> Result<LoggedEvent> {
    let (seq, [at, release, kind, data, prev_hash, hash]) = raw;
    let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
    Ok(LoggedEvent {
        seq,
        at: parse_ts(&at)?,
        release,
        event: Event::from_parts(&kind, data),
        prev_hash,
        hash,
    })
}

/// A decision, from its `decision` event's data (event `seq`): the event log holds each
/// recorded decision once, and the decisions are read from it.
pub fn decode_decision(seq: i64, release: String, data: &str) -> Result<DecisionRow> {
    let event: crate::event::DecisionEvent = serde_json::from_str(data).map_err(|e| {
        StoreError::Corrupt(format!(
            "state database: the decision of event {seq} ({release}) is unreadable: {e}"
        ))
    })?;
    Ok(DecisionRow {
        id: seq,
        release,
        decision: event.decision,
    })
}

/// A queued command, decoded (or named unreadable).
pub fn decode_command(id: i64, command: &str) -> QueuedCommand {
    match serde_json::from_str::<Input>(command) {
        Ok(input) => QueuedCommand::Input { id, input },
        Err(e) => QueuedCommand::Unreadable {
            id,
            error: e.to_string(),
        },
    }
}

/// The value of a stored sample, if it measured one (no-data and error samples have none).
pub fn sample_value(measurement: &str) -> Option<f64> {
    match serde_json::from_str::<Measurement>(measurement) {
        Ok(Measurement::Value { value, .. }) => Some(value),
        _ => None,
    }
}

/// Samples as (at, id, measurement), merged into one series by time (then id).
pub fn merge_samples(mut rows: Vec<(String, i64, String)>) -> Result<Vec<(DateTime<Utc>, f64)>> {
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out = vec![];
    for (at, _, m) in rows {
        if let Some(value) = sample_value(&m) {
            out.push((parse_ts(&at)?, value));
        }
    }
    Ok(out)
}

/// The chain check, fed the log's rows in order.
pub struct ChainCheck {
    prev: String,
    expected_seq: i64,
    events: usize,
}

impl ChainCheck {
    /// A check from the genesis hash.
    pub fn new() -> ChainCheck {
        ChainCheck {
            prev: GENESIS.to_string(),
            expected_seq: 1,
            events: 0,
        }
    }

    /// Checks the next row; the failed report when it breaks the chain.
    pub fn next(&mut self, raw: &RawEvent) -> Option<ChainReport> {
        let (seq, [at, release, kind, data, prev_hash, hash]) = raw;
        let seq = *seq;
        let fail = |problem: String| {
            Some(ChainReport {
                events: self.events,
                ok: false,
                broken_at: Some(seq),
                problem: Some(problem),
                head: self.prev.clone(),
            })
        };
        if seq != self.expected_seq {
            return fail(format!(
                "event {seq} follows event {}: events are missing",
                self.expected_seq - 1
            ));
        }
        if *prev_hash != self.prev {
            return fail(format!(
                "event {seq} does not link to the hash of event {}",
                seq - 1
            ));
        }
        if event_hash(prev_hash, seq, at, release, kind, data) != *hash {
            return fail(format!(
                "event {seq} ({kind}) was modified: its content does not match its hash"
            ));
        }
        self.prev = hash.clone();
        self.expected_seq += 1;
        self.events += 1;
        None
    }

    /// The report of a chain whose every row verified.
    pub fn finish(self) -> ChainReport {
        ChainReport {
            events: self.events,
            ok: true,
            broken_at: None,
            problem: None,
            head: self.prev,
        }
    }
}

/// Why the recorded `state` of `release` does not match `last`, the newest decision or creation
/// event of the release (None when it matches or predates state hashes).
pub fn state_problem(release: &str, state: &str, last: Option<RawEvent>) -> Result<Option<String>> {
    let Some(last) = last else {
        return Ok(Some(format!(
            "the event log has no decision or creation of the rollout of {release}"
        )));
    };
    let seq = last.0;
    let event = decode_event(last)?;
    match event.event.state_sha256() {
        Some(h) if h == crate::chain::sha256_hex(state) => Ok(None),
        Some(_) => Ok(Some(format!(
            "the recorded state of {release} is not the one event {seq} recorded with its last decision (the state was edited in the database)"
        ))),
        None => Ok(None),
    }
}

/// The next event of the chain after the newest, `(last_seq, prev_hash)`, with its columns as
/// they are stored.
pub struct Chained {
    /// The event with its place in the chain.
    pub logged: LoggedEvent,
    /// The `at` column.
    pub at: String,
    /// The `data` column.
    pub data: String,
}

/// `event` chained after `(last_seq, prev_hash)`.
pub fn chain_next(
    (last_seq, prev): (i64, String),
    release: &str,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<Chained> {
    let seq = last_seq + 1;
    let at_s = crate::chain::ts(at);
    let data = event.data()?.to_string();
    let hash = event_hash(&prev, seq, &at_s, release, event.kind(), &data);
    Ok(Chained {
        logged: LoggedEvent {
            seq,
            at,
            release: release.into(),
            event: event.clone(),
            prev_hash: prev,
            hash,
        },
        at: at_s,
        data,
    })
}
