//! [`StateStore`] in SQLite (`.ship/state.db`, WAL, synchronous FULL).
//!
//! JSON columns are written as serde_json writes a `Value` (object keys sorted), as ship always
//! wrote them: the event log's hash chain and the state hashes cover those bytes.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::{Input, Rollout};
use std::path::Path;
use std::time::Duration;

use crate::chain::{event_hash, parse_ts, sha256_hex, ts, GENESIS};
use crate::event::{CommandQueued, DecisionEvent, Event, RolloutCreated};
use crate::state_store::StateStore;
use crate::stored::{
    ChainReport, DecisionRow, LoggedEvent, QueuedCommand, Step, StoredPlan, StoredRollout,
};
use crate::{schema, Result, StoreError};

/// The state database of a workspace.
pub struct SqliteStore {
    conn: Connection,
}

/// A value as a JSON column: through `Value`, so object keys are sorted.
fn column<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_value(v)?.to_string())
}

fn lease_end(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

impl SqliteStore {
    /// Opens (creating it and its folder when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Switching a new database to WAL takes an exclusive lock and can answer "busy" without
        // waiting for the busy timeout when other processes open it at the same moment.
        let mut tries = 0;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 =>
                {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&conn)?;
        Ok(SqliteStore { conn })
    }

    /// Opens an existing database only to read and verify it (`ship audit verify`): it never
    /// creates the file, its tables or a migration, so checking a lost or emptied database
    /// cannot replace it with a fresh one. None when there is no file.
    pub fn open_existing(path: &Path) -> Result<Option<SqliteStore>> {
        if !path.exists() {
            return Ok(None);
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )?;
        if tables == 0 {
            return Err(StoreError::Corrupt(format!(
                "{} has no event log: the database is empty or not ship's",
                path.display()
            )));
        }
        Ok(Some(SqliteStore { conn }))
    }

    /// Direct access for tests and tools (e.g. to show that a hand edit breaks the chain).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn immediate(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// `N` text columns of a row, from column `from` on.
fn texts<const N: usize>(r: &rusqlite::Row<'_>, from: usize) -> rusqlite::Result<[String; N]> {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (i, column) in out.iter_mut().enumerate() {
        *column = r.get(from + i)?;
    }
    Ok(out)
}

/// A rollouts row as stored, decoded after the query so a bad column names its release.
type RawRollout = [String; 6];

fn raw_rollout(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRollout> {
    texts(r, 0)
}

fn decode_rollout(raw: RawRollout) -> Result<StoredRollout> {
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
type RawEvent = (i64, [String; 6]);

fn raw_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((r.get(0)?, texts(r, 1)?))
}

fn decode_event(raw: RawEvent) -> Result<LoggedEvent> {
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

/// Appends `event` to the chain inside `tx`.
fn append(
    tx: &Transaction<'_>,
    release: &str,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<LoggedEvent> {
    let (last_seq, prev): (i64, String) = tx
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let seq = last_seq + 1;
    let at_s = ts(at);
    let kind = event.kind();
    let data_s = event.data()?.to_string();
    let hash = event_hash(&prev, seq, &at_s, release, kind, &data_s);
    tx.execute(
        "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at_s, release, kind, data_s, prev, hash],
    )?;
    Ok(LoggedEvent {
        seq,
        at,
        release: release.into(),
        event: event.clone(),
        prev_hash: prev,
        hash,
    })
}

const ROLLOUT_COLUMNS: &str =
    "SELECT release, kind, plan, state, created_at, updated_at FROM rollouts";

impl StateStore for SqliteStore {
    fn rollout(&self, release: &str) -> Result<Option<StoredRollout>> {
        self.conn
            .query_row(
                &format!("{ROLLOUT_COLUMNS} WHERE release = ?1"),
                params![release],
                raw_rollout,
            )
            .optional()?
            .map(decode_rollout)
            .transpose()
    }

    fn rollouts(&self) -> Result<Vec<StoredRollout>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{ROLLOUT_COLUMNS} ORDER BY created_at, release"))?;
        let rows = stmt.query_map([], raw_rollout)?;
        rows.map(|r| decode_rollout(r?)).collect()
    }

    fn releases(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT release FROM rollouts ORDER BY created_at, release")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn create_rollout(
        &mut self,
        release: &str,
        plan: &StoredPlan,
        state: &Rollout,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.immediate()?;
        let exists: i64 = tx.query_row(
            "SELECT COUNT(*) FROM rollouts WHERE release = ?1",
            params![release],
            |r| r.get(0),
        )?;
        if exists > 0 {
            return Err(StoreError::Conflict(format!(
                "a rollout of {release} is already recorded"
            )));
        }
        let state_text = column(state)?;
        let kind = plan.kind_name();
        tx.execute(
            "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![release, kind, column(plan)?, state_text, ts(at)],
        )?;
        let created = Event::RolloutCreated(RolloutCreated {
            kind: kind.to_string(),
            plan: plan.clone(),
            state_sha256: sha256_hex(&state_text),
        });
        append(&tx, release, &created, at)?;
        tx.commit()?;
        Ok(())
    }

    fn record_step(&mut self, step: Step<'_>) -> Result<()> {
        let Step {
            release,
            holder,
            command,
            state,
            decision,
            samples,
            events,
        } = step;
        let at = decision.at;
        let tx = self.immediate()?;
        if let Some(h) = holder {
            let current: Option<String> = tx
                .query_row(
                    "SELECT holder FROM leases WHERE release = ?1",
                    params![release],
                    |r| r.get(0),
                )
                .optional()?;
            if current.as_deref() != Some(h) {
                return Err(StoreError::LeaseLost(
                    current.unwrap_or_else(|| "nobody".into()),
                ));
            }
        }
        if let Some(id) = command {
            tx.execute(
                "UPDATE commands SET taken_at = ?2 WHERE id = ?1",
                params![id, ts(at)],
            )?;
        }
        let state_text = column(state)?;
        let n = tx.execute(
            "UPDATE rollouts SET state = ?2, updated_at = ?3 WHERE release = ?1",
            params![release, state_text, ts(at)],
        )?;
        if n != 1 {
            return Err(StoreError::NotFound(format!(
                "no rollout of {release} is recorded"
            )));
        }
        let kind = serde_json::to_value(decision.kind)?;
        tx.execute(
            "INSERT INTO decisions (release, at, kind, decision) VALUES (?1, ?2, ?3, ?4)",
            params![
                release,
                ts(at),
                kind.as_str().unwrap_or_default(),
                serde_json::to_string(decision)?
            ],
        )?;
        if let Some(obs) = samples {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO samples (release, at, key, measurement) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (k, m) in obs {
                stmt.execute(params![release, ts(at), k, serde_json::to_string(m)?])?;
            }
        }
        // The decision's event carries the hash of the state it left, so a state edited in the
        // database (a stage skipped, evidence forged) no longer matches the chained log.
        let decided = Event::Decision(DecisionEvent {
            decision: decision.clone(),
            state_sha256: Some(sha256_hex(&state_text)),
        });
        append(&tx, release, &decided, at)?;
        for e in events {
            append(&tx, release, e, at)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn state_problem(&self, release: &str) -> Result<Option<String>> {
        let state: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM rollouts WHERE release = ?1",
                params![release],
                |r| r.get(0),
            )
            .optional()?;
        let Some(state) = state else {
            return Ok(None);
        };
        let last: Option<RawEvent> = self
            .conn
            .query_row(
                "SELECT seq, at, release, kind, data, prev_hash, hash FROM events WHERE release = ?1 AND kind IN ('decision', 'rollout-created') ORDER BY seq DESC LIMIT 1",
                params![release],
                raw_event,
            )
            .optional()?;
        let Some(last) = last else {
            return Ok(Some(format!(
                "the event log has no decision or creation of the rollout of {release}"
            )));
        };
        let seq = last.0;
        let event = decode_event(last)?;
        match event.event.state_sha256() {
            Some(h) if h == sha256_hex(&state) => Ok(None),
            Some(_) => Ok(Some(format!(
                "the recorded state of {release} is not the one event {seq} recorded with its last decision (the state was edited in the database)"
            ))),
            None => Ok(None),
        }
    }

    fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, release, decision FROM decisions WHERE release = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![release], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (id, release, decision) = row?;
            let decision = serde_json::from_str(&decision).map_err(|e| {
                StoreError::Corrupt(format!(
                    "state database: decision {id} of {release} is unreadable: {e}"
                ))
            })?;
            out.push(DecisionRow {
                id,
                release,
                decision,
            });
        }
        Ok(out)
    }

    fn sample_values(
        &self,
        releases: &[String],
        key: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        // One indexed range per release (samples_release: release, key, at), merged by time.
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, id, measurement FROM samples WHERE release = ?1 AND key = ?2 AND at >= ?3 AND at <= ?4",
        )?;
        let mut rows = vec![];
        for release in releases {
            let found = stmt.query_map(params![release, key, ts(since), ts(until)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in found {
                rows.push(row?);
            }
        }
        rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut out = vec![];
        for (at, _, m) in rows {
            if let Ok(Measurement::Value { value, .. }) = serde_json::from_str::<Measurement>(&m) {
                out.push((parse_ts(&at)?, value));
            }
        }
        Ok(out)
    }

    fn append(&mut self, release: &str, event: &Event, at: DateTime<Utc>) -> Result<LoggedEvent> {
        let tx = self.immediate()?;
        let e = append(&tx, release, event, at)?;
        tx.commit()?;
        Ok(e)
    }

    fn events_since(
        &self,
        release: Option<&str>,
        after: i64,
        limit: Option<usize>,
    ) -> Result<Vec<LoggedEvent>> {
        let limit = limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, release, kind, data, prev_hash, hash FROM events WHERE (?1 IS NULL OR release = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![release, after, limit], raw_event)?;
        rows.map(|r| decode_event(r?)).collect()
    }

    fn last_seq(&self, release: Option<&str>) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE (?1 IS NULL OR release = ?1)",
            params![release],
            |r| r.get(0),
        )?)
    }

    fn rollout_created(&self, release: &str) -> Result<Option<LoggedEvent>> {
        self.conn
            .query_row(
                "SELECT seq, at, release, kind, data, prev_hash, hash FROM events WHERE release = ?1 AND kind = 'rollout-created' ORDER BY seq LIMIT 1",
                params![release],
                raw_event,
            )
            .optional()?
            .map(decode_event)
            .transpose()
    }

    fn created_rollouts(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT release FROM events WHERE kind = 'rollout-created' ORDER BY release",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn head(&self) -> Result<(i64, String)> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, GENESIS.to_string())))
    }

    fn hash_of(&self, seq: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                params![seq],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn verify_chain(&self) -> Result<ChainReport> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, release, kind, data, prev_hash, hash FROM events ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut n = 0usize;
        while let Some(r) = rows.next()? {
            let (seq, [at, release, kind, data, prev_hash, hash]) = raw_event(r)?;
            let fail = |problem: String| ChainReport {
                events: n,
                ok: false,
                broken_at: Some(seq),
                problem: Some(problem),
                head: prev.clone(),
            };
            if seq != expected_seq {
                return Ok(fail(format!(
                    "event {seq} follows event {}: events are missing",
                    expected_seq - 1
                )));
            }
            if prev_hash != prev {
                return Ok(fail(format!(
                    "event {seq} does not link to the hash of event {}",
                    seq - 1
                )));
            }
            if event_hash(&prev_hash, seq, &at, &release, &kind, &data) != hash {
                return Ok(fail(format!(
                    "event {seq} ({kind}) was modified: its content does not match its hash"
                )));
            }
            prev = hash;
            expected_seq += 1;
            n += 1;
        }
        Ok(ChainReport {
            events: n,
            ok: true,
            broken_at: None,
            problem: None,
            head: prev,
        })
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq FROM cursors WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool> {
        let tx = self.immediate()?;
        let current: i64 = tx
            .query_row(
                "SELECT seq FROM cursors WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if current != from {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO cursors (name, seq) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET seq = ?2",
            params![name, to],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn acquire_lease(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self.immediate()?;
        let current: Option<(String, String)> = tx
            .query_row(
                "SELECT holder, expires_at FROM leases WHERE release = ?1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((h, exp)) = &current {
            if h != holder && parse_ts(exp)? > now {
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO leases (release, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(release) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            params![release, holder, ts(lease_end(now, ttl))],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn take_over_lease(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE leases SET holder = ?3, expires_at = ?4 WHERE release = ?1 AND holder = ?2",
            params![release, old, holder, ts(lease_end(now, ttl))],
        )?;
        Ok(n == 1)
    }

    fn release_lease(&mut self, release: &str, holder: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM leases WHERE release = ?1 AND holder = ?2",
            params![release, holder],
        )?;
        Ok(())
    }

    fn lease_holder(&self, release: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT holder, expires_at FROM leases WHERE release = ?1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((h, exp)) if parse_ts(&exp)? > now => Ok(Some(h)),
            _ => Ok(None),
        }
    }

    fn push_command(
        &mut self,
        release: &str,
        command: &Input,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO commands (release, at, command) VALUES (?1, ?2, ?3)",
            params![release, ts(at), column(command)?],
        )?;
        let id = tx.last_insert_rowid();
        let queued = Event::CommandQueued(CommandQueued {
            id,
            command: command.clone(),
            by: by.to_string(),
        });
        append(&tx, release, &queued, at)?;
        tx.commit()?;
        Ok(id)
    }

    fn next_command(&self, release: &str) -> Result<Option<QueuedCommand>> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, command FROM commands WHERE release = ?1 AND taken_at IS NULL ORDER BY id LIMIT 1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(id, c)| match serde_json::from_str::<Input>(&c) {
            Ok(input) => QueuedCommand::Input { id, input },
            Err(e) => QueuedCommand::Unreadable {
                id,
                error: e.to_string(),
            },
        }))
    }

    fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE commands SET taken_at = ?2 WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;

    /// Fresh stores in temporary folders, kept until the test ends.
    fn fresh(dirs: &mut Vec<tempfile::TempDir>) -> SqliteStore {
        let dir = tempfile::tempdir().unwrap();
        let st = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        dirs.push(dir);
        st
    }

    /// The model test's thousands of small transactions need not each wait for the disk: the
    /// contract is the same with or without fsync.
    fn fresh_unsynced(_dirs: &mut Vec<tempfile::TempDir>) -> SqliteStore {
        let conn = Connection::open_in_memory().unwrap();
        schema::migrate(&conn).unwrap();
        SqliteStore { conn }
    }

    #[test]
    fn sqlite_keeps_the_store_contract() {
        let mut dirs = vec![];
        contract::run_all(|| fresh(&mut dirs));
    }

    #[test]
    fn sqlite_matches_the_model() {
        let mut dirs = vec![];
        contract::model::run(contract::model::seed(), contract::model::CASES, || {
            fresh_unsynced(&mut dirs)
        });
    }

    /// A database written before events were typed: rows as `json!` wrote them, chained with
    /// the same hash. It verifies, reads back typed, and the chain goes on from it.
    #[test]
    fn a_log_written_before_typed_events_verifies_and_reads_typed() {
        let mut dirs = vec![];
        let mut st = fresh(&mut dirs);
        let plan = contract::plan("sha256:1");
        let state_text = serde_json::to_value(contract::state(0))
            .unwrap()
            .to_string();
        let plan_doc =
            serde_json::json!({ "plan": plan.plan, "kind": "standard", "digest": "sha256:1" });
        let old: Vec<(&str, serde_json::Value)> = vec![
            (
                "rollout-created",
                serde_json::json!({ "kind": "standard", "plan": plan_doc, "state_sha256": sha256_hex(&state_text) }),
            ),
            (
                "router",
                serde_json::json!({ "phase": "intent", "action": "set-weight", "weight": 5 }),
            ),
            ("oncall-acked", serde_json::json!({ "by": "alice" })),
            ("from-the-future", serde_json::json!({ "x": 1 })),
        ];
        st.conn
            .execute(
                "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES ('r1', 'standard', ?1, ?2, ?3, ?3)",
                params![plan_doc.to_string(), state_text, ts(contract::at(0))],
            )
            .unwrap();
        let tx = st.conn.transaction().unwrap();
        let mut prev = GENESIS.to_string();
        for (i, (kind, data)) in old.iter().enumerate() {
            let seq = i as i64 + 1;
            let at = ts(contract::at(seq));
            let data = data.to_string();
            let hash = event_hash(&prev, seq, &at, "r1", kind, &data);
            tx.execute(
                "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (?1, ?2, 'r1', ?3, ?4, ?5, ?6)",
                params![seq, at, kind, data, prev, hash],
            )
            .unwrap();
            prev = hash;
        }
        tx.commit().unwrap();
        assert!(st.verify_chain().unwrap().ok);
        let r = st.rollout("r1").unwrap().unwrap();
        assert_eq!(r.plan, plan);
        assert_eq!(st.state_problem("r1").unwrap(), None);
        let events = st.events(None).unwrap();
        assert!(matches!(&events[0].event, Event::RolloutCreated(c) if c.plan == plan));
        assert_eq!(
            events[1].event,
            Event::Router(crate::event::RouterCall::intent(
                crate::event::RouterAction::SetWeight,
                5
            ))
        );
        assert_eq!(events[3].kind(), "from-the-future");
        let ack = Event::OncallAcked(crate::event::OncallAcked { by: "bob".into() });
        let e = st.append("r1", &ack, contract::at(9)).unwrap();
        assert_eq!(e.prev_hash, prev);
        let report = st.verify_chain().unwrap();
        assert!(report.ok && report.events == 5, "{report:?}");
    }

    #[test]
    fn ship_cannot_rewrite_the_log_and_a_hand_edit_breaks_the_chain() {
        let mut dirs = vec![];
        let mut st = fresh(&mut dirs);
        st.create_rollout(
            "r1",
            &contract::plan("d"),
            &contract::state(0),
            contract::at(0),
        )
        .unwrap();
        let ack = Event::OncallAcked(crate::event::OncallAcked { by: "a".into() });
        st.append("r1", &ack, contract::at(1)).unwrap();
        st.append("r1", &ack, contract::at(2)).unwrap();
        assert!(st.verify_chain().unwrap().ok);
        // ship itself cannot rewrite history…
        assert!(st
            .connection()
            .execute("UPDATE events SET data = '{}' WHERE seq = 2", [])
            .is_err());
        assert!(st
            .connection()
            .execute("DELETE FROM events WHERE seq = 2", [])
            .is_err());
        // …and a hand edit that gets around the triggers is caught.
        st.connection()
            .execute_batch(
                "DROP TRIGGER events_no_update; UPDATE events SET data = '{\"by\":\"b\"}' WHERE seq = 3;",
            )
            .unwrap();
        let report = st.verify_chain().unwrap();
        assert!(!report.ok);
        assert_eq!(report.broken_at, Some(3));
        assert!(report.problem.unwrap().contains("was modified"));
        // An edited state no longer matches the hash its creation recorded.
        st.connection()
            .execute_batch("UPDATE rollouts SET state = json_set(state, '$.weight', 50)")
            .unwrap();
        let problem = st.state_problem("r1").unwrap().unwrap();
        assert!(problem.contains("the state was edited"), "{problem}");
    }

    /// The API and `ship audit log --json` show events as they are stored.
    #[test]
    fn a_logged_event_serializes_as_its_columns() {
        let mut dirs = vec![];
        let mut st = fresh(&mut dirs);
        let ack = Event::OncallAcked(crate::event::OncallAcked { by: "a".into() });
        let e = st.append("r1", &ack, contract::at(1)).unwrap();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "oncall-acked");
        assert_eq!(v["data"], serde_json::json!({ "by": "a" }));
        assert_eq!(v["seq"], 1);
        assert_eq!(v["release"], "r1");
        assert_eq!(v["hash"], e.hash.as_str());
        let odd = Event::Unrecognised(crate::event::Unrecognised {
            kind: "x".into(),
            data: serde_json::json!([1]),
        });
        let e = st.append("r1", &odd, contract::at(2)).unwrap();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            (&v["kind"], &v["data"]),
            (&serde_json::json!("x"), &serde_json::json!([1]))
        );
    }

    /// A rollout whose state no longer parses is named, not hidden: `releases` still lists it
    /// and `rollout` says it is corrupt, so readers can go on past it.
    #[test]
    fn an_unreadable_rollout_is_corrupt_and_still_listed() {
        let mut dirs = vec![];
        let mut st = fresh(&mut dirs);
        for r in ["r1", "r2"] {
            st.create_rollout(
                r,
                &contract::plan("d"),
                &contract::state(0),
                contract::at(0),
            )
            .unwrap();
        }
        st.connection()
            .execute_batch(
                "UPDATE rollouts SET state = '{\"phase\":\"sideways\"}' WHERE release = 'r1'",
            )
            .unwrap();
        assert_eq!(st.releases().unwrap(), ["r1", "r2"]);
        assert!(matches!(st.rollout("r1"), Err(StoreError::Corrupt(_))));
        assert!(matches!(st.rollouts(), Err(StoreError::Corrupt(_))));
        assert_eq!(st.rollout("r2").unwrap().unwrap().state, contract::state(0));
    }
}
