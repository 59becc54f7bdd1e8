//! [`StateStore`] in SQLite (`.ship/state.db`, WAL, synchronous FULL).
//!
//! JSON columns are written as serde_json writes a `Value` (object keys sorted), as ship always
//! wrote them: the event log's hash chain and the state hashes cover those bytes.
//!
//! A [`SqliteStore`] is a cheap handle onto its file's process-wide [`pool`]: opening one per
//! request or per rollout costs no file descriptor of its own.

mod pool;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use shiploop_rollout::{Input, Rollout};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::chain::{parse_ts, sha256_hex, ts, GENESIS};
use crate::event::{CommandQueued, DecisionEvent, Event, RolloutCreated};
use crate::lease::{self, LeaseRow};
use crate::rows::{self, column, RawEvent, RawRollout, EVENT_COLUMNS, ROLLOUT_COLUMNS};
use crate::state_store::{phases_by_rollout, PhaseNames, StateStore};
use crate::stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};
use crate::{Result, StoreError};

pub use pool::PooledConnection;

/// The state database of a workspace: a handle onto the process's pool of connections to it.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<pool::Pool>,
}

impl SqliteStore {
    /// The connections a database's pool opens at most, however many handles are open on it.
    pub const MAX_CONNECTIONS: usize = pool::MAX_CONNECTIONS;

    /// Opens (creating it and its folder when missing) and migrates the database at `path`;
    /// a second open of the same file in this process shares the first one's connections.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Ok(SqliteStore {
            pool: pool::Pool::shared(path)?,
        })
    }

    /// Opens an existing database only to read and verify it (`ship audit verify`): it never
    /// creates the file, its tables or a migration, so checking a lost or emptied database
    /// cannot replace it with a fresh one. None when there is no file.
    pub fn open_existing(path: &Path) -> Result<Option<SqliteStore>> {
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(SqliteStore {
            pool: pool::Pool::existing(path)?,
        }))
    }

    /// A store on one in-memory database (tests: the contract without the disk).
    pub fn in_memory() -> Result<SqliteStore> {
        let conn = rusqlite::Connection::open_in_memory()?;
        crate::schema::migrate(&conn)?;
        Ok(SqliteStore {
            pool: pool::Pool::memory(conn),
        })
    }

    /// Direct access for tests and tools (e.g. to show that a hand edit breaks the chain): one
    /// of the pool's connections, given back when dropped.
    pub fn connection(&self) -> PooledConnection<'_> {
        self.pool.get_open()
    }

    fn conn(&self) -> Result<PooledConnection<'_>> {
        self.pool.get()
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

fn raw_rollout(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRollout> {
    texts(r, 0)
}

fn raw_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((r.get(0)?, texts(r, 1)?))
}

fn immediate(conn: &mut rusqlite::Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// Appends `event` to the chain inside `tx`.
fn append(
    tx: &Transaction<'_>,
    release: &str,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<LoggedEvent> {
    let last = tx
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let new = rows::chain_next(last, release, event, at)?;
    let e = &new.logged;
    tx.execute(
        "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.seq, new.at, release, event.kind(), new.data, e.prev_hash, e.hash],
    )?;
    Ok(new.logged)
}

/// The lease row of `release`.
fn lease_row(conn: &rusqlite::Connection, release: &str) -> Result<Option<LeaseRow>> {
    let row: Option<(Option<String>, i64, String)> = conn
        .query_row(
            "SELECT holder, token, expires_at FROM leases WHERE release = ?1",
            params![release],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(holder, token, exp)| {
        Ok(LeaseRow {
            holder,
            token,
            expires_at: parse_ts(&exp)?,
        })
    })
    .transpose()
}

/// Refuses a write for `holder` with `token` unless the lease row still says so.
fn check_fence(
    tx: &Transaction<'_>,
    release: &str,
    holder: &str,
    token: Option<i64>,
) -> Result<()> {
    let row = lease_row(tx, release)?.map(|r| (r.holder, r.token));
    match lease::fence(row, holder, token) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes the lease of `release` to `holder` with `token` until `until`.
fn write_lease(
    tx: &Transaction<'_>,
    release: &str,
    holder: &str,
    token: i64,
    until: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO leases (release, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(release) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at",
        params![release, holder, token, ts(until)],
    )?;
    Ok(())
}

impl SqliteStore {
    /// [`StateStore::phases`] in one query, failing when some state is not JSON.
    fn phases_in_sql(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT release, json_valid(plan), json_extract(state, '$.phase.phase')
             FROM rollouts ORDER BY created_at, release",
        )?;
        let mut names = PhaseNames::default();
        let mut rows = stmt.query([])?;
        let mut out = vec![];
        while let Some(r) = rows.next()? {
            let phase = match r.get(2)? {
                rusqlite::types::Value::Text(t) => Some(t),
                _ => None,
            };
            out.push((r.get(0)?, names.name(r.get(1)?, phase)));
        }
        Ok(out)
    }
}

impl StateStore for SqliteStore {
    fn rollout(&self, release: &str) -> Result<Option<StoredRollout>> {
        self.conn()?
            .query_row(
                &format!("{ROLLOUT_COLUMNS} WHERE release = ?1"),
                params![release],
                raw_rollout,
            )
            .optional()?
            .map(rows::decode_rollout)
            .transpose()
    }

    fn rollouts(&self) -> Result<Vec<StoredRollout>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("{ROLLOUT_COLUMNS} ORDER BY created_at, release"))?;
        let rows = stmt.query_map([], raw_rollout)?;
        rows.map(|r| rows::decode_rollout(r?)).collect()
    }

    fn releases(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT release FROM rollouts ORDER BY created_at, release")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn phases(&self) -> Result<Vec<(String, String)>> {
        // Only the phase's name leaves SQLite. json_extract fails on a state that is not JSON
        // (and so the whole query): then each rollout is read on its own, as the default does.
        match self.phases_in_sql() {
            Ok(phases) => Ok(phases),
            Err(_) => phases_by_rollout(self),
        }
    }

    fn create_rollout(
        &mut self,
        release: &str,
        plan: &StoredPlan,
        state: &Rollout,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
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
            token,
            command,
            state,
            decision,
            samples,
            events,
        } = step;
        let at = decision.at;
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
        if let Some(h) = holder {
            check_fence(&tx, release, h, token)?;
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
        let mut conn = self.conn()?;
        // One snapshot for both reads: between two, another process recording a step would
        // make the state and the last decision look mismatched (seen as a false "edited in
        // the database" while a replica handed a rollout over).
        let conn = conn.transaction()?;
        let state: Option<String> = conn
            .query_row(
                "SELECT state FROM rollouts WHERE release = ?1",
                params![release],
                |r| r.get(0),
            )
            .optional()?;
        let Some(state) = state else {
            return Ok(None);
        };
        let last: Option<RawEvent> = conn
            .query_row(
                &format!("{EVENT_COLUMNS} WHERE release = ?1 AND kind IN ('decision', 'rollout-created') ORDER BY seq DESC LIMIT 1"),
                params![release],
                raw_event,
            )
            .optional()?;
        rows::state_problem(release, &state, last)
    }

    fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT seq, release, data FROM events WHERE release = ?1 AND kind = 'decision' ORDER BY seq",
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
            out.push(rows::decode_decision(id, release, &decision)?);
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
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT at, id, measurement FROM samples WHERE release = ?1 AND key = ?2 AND at >= ?3 AND at <= ?4",
        )?;
        let mut found = vec![];
        for release in releases {
            let rows = stmt.query_map(params![release, key, ts(since), ts(until)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                found.push(row?);
            }
        }
        rows::merge_samples(found)
    }

    fn prune_samples(&mut self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self
            .conn()?
            .execute("DELETE FROM samples WHERE at < ?1", params![ts(before)])?)
    }

    fn append_fenced(
        &mut self,
        release: &str,
        event: &Event,
        at: DateTime<Utc>,
        fence: Option<Fence<'_>>,
    ) -> Result<LoggedEvent> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
        if let Some(f) = fence {
            check_fence(&tx, release, f.holder, Some(f.token))?;
        }
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
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{EVENT_COLUMNS} WHERE (?1 IS NULL OR release = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![release, after, limit], raw_event)?;
        rows.map(|r| rows::decode_event(r?)).collect()
    }

    fn last_seq(&self, release: Option<&str>) -> Result<i64> {
        Ok(self.conn()?.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE (?1 IS NULL OR release = ?1)",
            params![release],
            |r| r.get(0),
        )?)
    }

    fn rollout_created(&self, release: &str) -> Result<Option<LoggedEvent>> {
        self.conn()?
            .query_row(
                &format!("{EVENT_COLUMNS} WHERE release = ?1 AND kind = 'rollout-created' ORDER BY seq LIMIT 1"),
                params![release],
                raw_event,
            )
            .optional()?
            .map(rows::decode_event)
            .transpose()
    }

    fn created_rollouts(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT DISTINCT release FROM events WHERE kind = 'rollout-created' ORDER BY release",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn head(&self) -> Result<(i64, String)> {
        Ok(self
            .conn()?
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
            .conn()?
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                params![seq],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn verify_chain(&self) -> Result<ChainReport> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("{EVENT_COLUMNS} ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        let mut check = rows::ChainCheck::new();
        while let Some(r) = rows.next()? {
            if let Some(broken) = check.next(&raw_event(r)?) {
                return Ok(broken);
            }
        }
        Ok(check.finish())
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT seq FROM cursors WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
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

    fn lease_acquire(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
        let Some(token) = lease::acquire(lease_row(&tx, release)?.as_ref(), holder, now) else {
            return Ok(None);
        };
        write_lease(&tx, release, holder, token, lease::lease_end(now, ttl))?;
        tx.commit()?;
        Ok(Some(token))
    }

    fn lease_take_over(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
        let Some(token) = lease::take_over(lease_row(&tx, release)?.as_ref(), old) else {
            return Ok(None);
        };
        write_lease(&tx, release, holder, token, lease::lease_end(now, ttl))?;
        tx.commit()?;
        Ok(Some(token))
    }

    fn release_lease(&mut self, release: &str, holder: &str) -> Result<()> {
        self.conn()?.execute(
            "UPDATE leases SET holder = NULL WHERE release = ?1 AND holder = ?2",
            params![release, holder],
        )?;
        Ok(())
    }

    fn renew_leases(
        &mut self,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "UPDATE leases SET expires_at = ?3 WHERE holder = ?1 AND expires_at > ?2
             RETURNING release, token",
        )?;
        let rows = stmt.query_map(
            params![holder, ts(now), ts(lease::lease_end(now, ttl))],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut out = rows.collect::<std::result::Result<Vec<(String, i64)>, _>>()?;
        out.sort();
        Ok(out)
    }

    fn lease(&self, release: &str, now: DateTime<Utc>) -> Result<Option<Lease>> {
        Ok(lease_row(&*self.conn()?, release)?.and_then(|r| r.live(now)))
    }

    fn leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<Vec<(String, Lease)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT release, holder, token, expires_at FROM leases
             WHERE holder IS NOT NULL AND expires_at > ?2 AND substr(release, 1, length(?1)) = ?1
             ORDER BY release",
        )?;
        let rows = stmt.query_map(params![prefix, ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        let mut out = vec![];
        for row in rows {
            let (release, holder, token, exp): (String, String, i64, String) = row?;
            let expires_at = parse_ts(&exp)?;
            out.push((
                release,
                Lease {
                    holder,
                    token,
                    expires_at,
                },
            ));
        }
        Ok(out)
    }

    fn push_command(
        &mut self,
        release: &str,
        command: &Input,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let mut conn = self.conn()?;
        let tx = immediate(&mut conn)?;
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
            .conn()?
            .query_row(
                "SELECT id, command FROM commands WHERE release = ?1 AND taken_at IS NULL ORDER BY id LIMIT 1",
                params![release],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(id, c)| rows::decode_command(id, &c)))
    }

    fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.conn()?.execute(
            "UPDATE commands SET taken_at = ?2 WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
