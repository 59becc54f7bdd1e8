//! The store's first API, kept while its callers move to [`crate::StateStore`]: rollouts with
//! their plan and state as JSON values and events as a kind and a JSON value.

use crate::chain::{event_hash, parse_ts, sha256_hex, ts, GENESIS};
use crate::stored::{ChainReport, DecisionRow};
use crate::{schema, Result, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::{Decision, Observation};
use std::path::Path;
use std::time::Duration;

pub struct Store {
    conn: Connection,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutRow {
    pub release: String,
    pub kind: String,
    pub plan: Value,
    pub state: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub release: String,
    pub kind: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
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
        Ok(Store { conn })
    }

    /// Opens an existing database only to read and verify it (`ship audit verify`): it never
    /// creates the file, its tables or a migration, so checking a lost or emptied database
    /// cannot replace it with a fresh one. None when there is no file.
    pub fn open_existing(path: &Path) -> Result<Option<Store>> {
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
        Ok(Some(Store { conn }))
    }

    pub fn rollout(&self, release: &str) -> Result<Option<RolloutRow>> {
        self.conn
            .query_row(
                "SELECT release, kind, plan, state, created_at, updated_at FROM rollouts WHERE release = ?1",
                params![release],
                row_to_rollout,
            )
            .optional()
            .map_err(StoreError::from)
    }

    pub fn rollouts(&self) -> Result<Vec<RolloutRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT release, kind, plan, state, created_at, updated_at FROM rollouts ORDER BY created_at, release",
        )?;
        let rows = stmt.query_map([], row_to_rollout)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Records a new rollout with its plan and initial state, and the `rollout-created` event.
    pub fn create_rollout(
        &mut self,
        release: &str,
        kind: &str,
        plan: &Value,
        state: &Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT COUNT(*) FROM rollouts WHERE release = ?1",
            params![release],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if exists {
            return Err(StoreError::Conflict(format!(
                "a rollout of {release} is already recorded"
            )));
        }
        let state_text = state.to_string();
        tx.execute(
            "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![release, kind, plan.to_string(), state_text, ts(at)],
        )?;
        append(
            &tx,
            release,
            "rollout-created",
            &serde_json::json!({ "kind": kind, "plan": plan, "state_sha256": sha256_hex(&state_text) }),
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records one engine step atomically: the new state, the decision, the samples measured,
    /// and the events (the decision itself is always one).
    pub fn record_step(
        &mut self,
        release: &str,
        state: &Value,
        decision: &Decision,
        samples: Option<&Observation>,
        extra_events: &[(&str, Value)],
    ) -> Result<()> {
        self.record_step_as(release, None, None, state, decision, samples, extra_events)
    }

    /// `record_step`, only if `holder` (when given) still holds the rollout's lease — so a
    /// controller that lost its lease can never overwrite a newer state — and marking the
    /// queued command `command` (when given) taken in the same transaction, so a crash can
    /// neither lose nor repeat it.
    #[allow(clippy::too_many_arguments)]
    pub fn record_step_as(
        &mut self,
        release: &str,
        holder: Option<&str>,
        command: Option<i64>,
        state: &Value,
        decision: &Decision,
        samples: Option<&Observation>,
        extra_events: &[(&str, Value)],
    ) -> Result<()> {
        let at = decision.at;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        let state_text = state.to_string();
        let n = tx.execute(
            "UPDATE rollouts SET state = ?2, updated_at = ?3 WHERE release = ?1",
            params![release, state_text, ts(at)],
        )?;
        if n != 1 {
            return Err(StoreError::NotFound(format!(
                "no rollout of {release} is recorded"
            )));
        }
        tx.execute(
            "INSERT INTO decisions (release, at, kind, decision) VALUES (?1, ?2, ?3, ?4)",
            params![
                release,
                ts(at),
                serde_json::to_value(decision.kind)?
                    .as_str()
                    .unwrap_or_default(),
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
        let mut data = serde_json::to_value(decision)?;
        if let Value::Object(m) = &mut data {
            m.insert(
                "state_sha256".into(),
                Value::String(sha256_hex(&state_text)),
            );
        }
        append(&tx, release, "decision", &data, at)?;
        for (kind, data) in extra_events {
            append(&tx, release, kind, data, at)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Appends one event on its own (router calls, signals written, commands queued).
    pub fn append_event(
        &mut self,
        release: &str,
        kind: &str,
        data: &Value,
        at: DateTime<Utc>,
    ) -> Result<Event> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = append(&tx, release, kind, data, at)?;
        tx.commit()?;
        Ok(e)
    }

    /// The values measured for `key` during the ticks of `releases` within [since, until], in
    /// time order (no-data and error samples left out): the series of a builtin outcome metric.
    pub fn sample_values(
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

    pub fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>> {
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
            out.push(DecisionRow {
                id,
                release,
                decision: serde_json::from_str(&decision)?,
            });
        }
        Ok(out)
    }

    /// How far the reader `name` has got in the event log (0: nowhere yet).
    pub fn cursor(&self, name: &str) -> Result<i64> {
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

    /// Moves the reader `name` from `from` to `to`; false when another reader moved it first
    /// (compare and set, so two processes never both claim having delivered the same events).
    pub fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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

    /// The events of `release` after sequence number `after`, oldest first.
    pub fn events_after(&self, release: &str, after: i64) -> Result<Vec<Event>> {
        self.events_since(Some(release), after, None)
    }

    pub fn events(&self, release: Option<&str>) -> Result<Vec<Event>> {
        self.events_since(release, 0, None)
    }

    /// The sequence number of the newest event (of one release, or of all), 0 for none.
    pub fn last_seq(&self, release: Option<&str>) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE (?1 IS NULL OR release = ?1)",
            params![release],
            |r| r.get(0),
        )?)
    }

    /// The events after `after` (of one release, or all), oldest first, at most `limit`: what a
    /// live stream polls, so the database does the filtering (the log only grows).
    pub fn events_since(
        &self,
        release: Option<&str>,
        after: i64,
        limit: Option<usize>,
    ) -> Result<Vec<Event>> {
        let limit = limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, release, kind, data, prev_hash, hash FROM events WHERE (?1 IS NULL OR release = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![release, after, limit], |r| {
            let at: String = r.get(1)?;
            let data: String = r.get(4)?;
            Ok((
                r.get::<_, i64>(0)?,
                at,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                data,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (seq, at, release, kind, data, prev_hash, hash) = row?;
            out.push(Event {
                seq,
                at: parse_ts(&at)?,
                release,
                kind,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                prev_hash,
                hash,
            });
        }
        Ok(out)
    }

    /// The first event of `kind` for `release` (e.g. its `rollout-created`), if any.
    pub fn first_event(&self, release: &str, kind: &str) -> Result<Option<Event>> {
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM events WHERE release = ?1 AND kind = ?2 ORDER BY seq LIMIT 1",
                params![release, kind],
                |r| r.get(0),
            )
            .optional()?;
        match seq {
            Some(seq) => Ok(self.events_since(None, seq - 1, Some(1))?.pop()),
            None => Ok(None),
        }
    }

    /// Why the recorded state of `release` is not the one its newest decision (or its creation)
    /// recorded in the event log, or None when it is (or the log predates state hashes).
    pub fn state_problem(&self, release: &str) -> Result<Option<String>> {
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
        let last: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, data FROM events WHERE release = ?1 AND kind IN ('decision', 'rollout-created') ORDER BY seq DESC LIMIT 1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, data)) = last else {
            return Ok(Some(format!(
                "the event log has no decision or creation of the rollout of {release}"
            )));
        };
        let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
        match data.get("state_sha256").and_then(Value::as_str) {
            Some(h) if h == sha256_hex(&state) => Ok(None),
            Some(_) => Ok(Some(format!(
                "the recorded state of {release} is not the one event {seq} recorded with its last decision (the state was edited in the database)"
            ))),
            None => Ok(None),
        }
    }

    /// The releases whose rollout the event log says was created.
    pub fn created_rollouts(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT release FROM events WHERE kind = 'rollout-created' ORDER BY release",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// The newest event's sequence number and hash: the head of the chain (0 and the genesis
    /// hash for an empty log).
    pub fn head(&self) -> Result<(i64, String)> {
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

    /// The hash of event `seq`, if the log has it.
    pub fn hash_of(&self, seq: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                params![seq],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Recomputes every event's hash from its columns as stored and checks the links.
    pub fn verify_chain(&self) -> Result<ChainReport> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, release, kind, data, prev_hash, hash FROM events ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut n = 0usize;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let at: String = r.get(1)?;
            let release: String = r.get(2)?;
            let kind: String = r.get(3)?;
            let data: String = r.get(4)?;
            let prev_hash: String = r.get(5)?;
            let hash: String = r.get(6)?;
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

    /// Takes the lease on a rollout for `holder` until `now + ttl`, if it is free, expired, or
    /// already held by `holder`. Only the lease holder drives the rollout.
    pub fn acquire_lease(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        let expires =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        tx.execute(
            "INSERT INTO leases (release, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(release) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            params![release, holder, ts(expires)],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Takes over a lease from `old` (a holder known to be dead), whatever its expiry.
    pub fn take_over_lease(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let expires =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        let n = self.conn.execute(
            "UPDATE leases SET holder = ?3, expires_at = ?4 WHERE release = ?1 AND holder = ?2",
            params![release, old, holder, ts(expires)],
        )?;
        Ok(n == 1)
    }

    pub fn release_lease(&mut self, release: &str, holder: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM leases WHERE release = ?1 AND holder = ?2",
            params![release, holder],
        )?;
        Ok(())
    }

    /// The current holder of a rollout's lease, if it has not expired.
    pub fn lease_holder(&self, release: &str, now: DateTime<Utc>) -> Result<Option<String>> {
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

    /// Queues an operator command for the process that holds the rollout's lease.
    /// Queues `command` for the controller driving `release`; `by` (who and through what:
    /// `api operator`, `cli alice@host`) goes into the event log with it.
    pub fn push_command(
        &mut self,
        release: &str,
        command: &Value,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO commands (release, at, command) VALUES (?1, ?2, ?3)",
            params![release, ts(at), command.to_string()],
        )?;
        let id = tx.last_insert_rowid();
        append(
            &tx,
            release,
            "command-queued",
            &serde_json::json!({ "id": id, "command": command, "by": by }),
            at,
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The oldest command not yet taken, without taking it (`record_step_as` takes it).
    pub fn next_command(&self, release: &str) -> Result<Option<(i64, Value)>> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, command FROM commands WHERE release = ?1 AND taken_at IS NULL ORDER BY id LIMIT 1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(id, c)| Ok((id, serde_json::from_str(&c)?)))
            .transpose()
    }

    /// Marks a command taken without a step (it could not be read).
    pub fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE commands SET taken_at = ?2 WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }

    /// Direct access for tests and tools (e.g. to show that a hand edit breaks the chain).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn json_col(s: &str) -> rusqlite::Result<Value> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn row_to_rollout(r: &rusqlite::Row<'_>) -> rusqlite::Result<RolloutRow> {
    Ok(RolloutRow {
        release: r.get(0)?,
        kind: r.get(1)?,
        plan: json_col(&r.get::<_, String>(2)?)?,
        state: json_col(&r.get::<_, String>(3)?)?,
        created_at: parse_ts(&r.get::<_, String>(4)?)?,
        updated_at: parse_ts(&r.get::<_, String>(5)?)?,
    })
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    release: &str,
    kind: &str,
    data: &Value,
    at: DateTime<Utc>,
) -> Result<Event> {
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
    let data_s = data.to_string();
    let hash = event_hash(&prev, seq, &at_s, release, kind, &data_s);
    tx.execute(
        "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at_s, release, kind, data_s, prev, hash],
    )?;
    Ok(Event {
        seq,
        at,
        release: release.into(),
        kind: kind.into(),
        data: data.clone(),
        prev_hash: prev,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn decision(kind: shiploop_rollout::DecisionKind, s: i64) -> Decision {
        Decision {
            at: at(s),
            kind,
            stage: 0,
            stage_name: "canary".into(),
            weight: 5,
            stage_elapsed_ms: 0,
            reason: "r".into(),
            findings: vec![],
            rollback_cause: None,
            pause_cause: None,
            hold: None,
        }
    }

    #[test]
    fn steps_events_and_the_hash_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("state.db")).unwrap();
        st.create_rollout(
            "r1",
            "standard",
            &serde_json::json!({"stages": 4}),
            &serde_json::json!({"phase": "pending"}),
            at(0),
        )
        .unwrap();
        assert!(st
            .create_rollout("r1", "standard", &Value::Null, &Value::Null, at(0))
            .is_err());
        let obs: Observation = [(
            "canary/error_rate".to_string(),
            shiploop_rollout::Measurement::value(0.01, 100),
        )]
        .into();
        st.record_step(
            "r1",
            &serde_json::json!({"phase": "progressing"}),
            &decision(shiploop_rollout::DecisionKind::Start, 1),
            Some(&obs),
            &[("router", serde_json::json!({"weight": 5}))],
        )
        .unwrap();
        assert_eq!(
            st.rollout("r1").unwrap().unwrap().state["phase"],
            "progressing"
        );
        assert_eq!(st.decisions("r1").unwrap().len(), 1);
        assert_eq!(st.events(Some("r1")).unwrap().len(), 3);
        let report = st.verify_chain().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.events, 3);

        // ship itself cannot rewrite history…
        assert!(st
            .connection()
            .execute("UPDATE events SET data = '{}' WHERE seq = 2", [])
            .is_err());
        // …and a hand edit that gets around the triggers is caught.
        st.connection().execute_batch("DROP TRIGGER events_no_update; UPDATE events SET data = '{\"weight\":50}' WHERE seq = 3;").unwrap();
        let report = st.verify_chain().unwrap();
        assert!(!report.ok);
        assert_eq!(report.broken_at, Some(3));
        assert!(report.problem.unwrap().contains("was modified"));
    }

    #[test]
    fn events_since_and_samples_of_several_releases() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("state.db")).unwrap();
        for (i, r) in ["r1", "r2", "r3"].iter().enumerate() {
            st.create_rollout(r, "standard", &Value::Null, &Value::Null, at(0))
                .unwrap();
            for s in 0..3 {
                let obs: Observation = [(
                    "canary/error_rate".to_string(),
                    shiploop_rollout::Measurement::value((10 * i + s) as f64, 100),
                )]
                .into();
                let mut d = decision(shiploop_rollout::DecisionKind::Hold, 0);
                // r1 at 0, 3, 6 s; r2 at 1, 4, 7 s: the merge interleaves them.
                d.at = at(3 * s as i64 + i as i64);
                st.record_step(r, &Value::Null, &d, Some(&obs), &[])
                    .unwrap();
            }
        }
        let key = "canary/error_rate";
        let both = st
            .sample_values(&["r2".into(), "r1".into()], key, at(0), at(100))
            .unwrap();
        let values: Vec<f64> = both.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
        let window = st.sample_values(&["r1".into()], key, at(3), at(5)).unwrap();
        assert_eq!(window, vec![(at(3), 1.0)]);

        let all = st.events(None).unwrap();
        let last = all.last().unwrap().seq;
        let r2 = st.events_since(Some("r2"), 0, Some(2)).unwrap();
        assert_eq!(r2.len(), 2);
        assert!(r2.iter().all(|e| e.release == "r2"));
        let rest = st.events_since(Some("r2"), r2[1].seq, None).unwrap();
        assert!(rest.iter().all(|e| e.seq > r2[1].seq && e.release == "r2"));
        assert_eq!(2 + rest.len(), st.events(Some("r2")).unwrap().len());
        assert!(st.events_since(None, last, None).unwrap().is_empty());
        assert_eq!(st.last_seq(None).unwrap(), last);
        assert_eq!(st.last_seq(Some("r2")).unwrap(), rest.last().unwrap().seq);
        assert_eq!(st.last_seq(Some("nope")).unwrap(), 0);
        assert_eq!(st.events_since(None, last - 1, Some(5)).unwrap().len(), 1);
    }

    #[test]
    fn leases_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("state.db")).unwrap();
        st.create_rollout("r1", "standard", &Value::Null, &Value::Null, at(0))
            .unwrap();
        let ttl = Duration::from_secs(30);
        assert!(st.acquire_lease("r1", "a", ttl, at(0)).unwrap());
        assert!(!st.acquire_lease("r1", "b", ttl, at(10)).unwrap());
        assert!(st.acquire_lease("r1", "a", ttl, at(20)).unwrap(), "renewal");
        assert_eq!(st.lease_holder("r1", at(40)).unwrap().as_deref(), Some("a"));
        assert!(st.acquire_lease("r1", "b", ttl, at(51)).unwrap(), "expired");
        st.release_lease("r1", "b").unwrap();
        assert_eq!(st.lease_holder("r1", at(52)).unwrap(), None);

        st.push_command(
            "r1",
            &serde_json::json!({"input": "pause", "reason": "x"}),
            "api operator",
            at(1),
        )
        .unwrap();
        st.push_command("r1", &serde_json::json!({"input": "resume"}), "cli", at(2))
            .unwrap();
        let queued = st.events(Some("r1")).unwrap();
        let first = queued.iter().find(|e| e.kind == "command-queued").unwrap();
        assert_eq!(first.data["by"], "api operator");
        // Oldest first; a command stays queued until a step takes it (or it is rejected).
        let (first, cmd) = st.next_command("r1").unwrap().unwrap();
        assert_eq!(cmd["input"], "pause");
        assert_eq!(
            st.next_command("r1").unwrap().unwrap().0,
            first,
            "not taken by looking"
        );
        st.acquire_lease("r1", "a", ttl, at(3)).unwrap();
        let d = decision(shiploop_rollout::DecisionKind::Pause, 3);
        st.record_step_as("r1", Some("a"), Some(first), &Value::Null, &d, None, &[])
            .unwrap();
        let (second, cmd) = st.next_command("r1").unwrap().unwrap();
        assert_eq!(cmd["input"], "resume");
        // Only the lease holder records, and nothing is taken when it may not.
        assert!(matches!(
            st.record_step_as("r1", Some("b"), Some(second), &Value::Null, &d, None, &[]),
            Err(StoreError::LeaseLost(_))
        ));
        assert_eq!(st.next_command("r1").unwrap().unwrap().0, second);
        st.reject_command(second, at(4)).unwrap();
        assert!(st.next_command("r1").unwrap().is_none());
    }
}
