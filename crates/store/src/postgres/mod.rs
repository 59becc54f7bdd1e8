//! [`StateStore`] in PostgreSQL (`[state] url = "postgres://…"`), for several `ship serve`
//! replicas sharing one database.
//!
//! The same tables, TEXT times and JSON text as SQLite, so an event's hash is the same in both.
//! The event log is one hash chain whoever appends: an append takes a transaction-scoped
//! advisory lock and reads the head inside it, so concurrent appenders (threads, processes,
//! machines) line up with no gap in the sequence. A write fenced by a lease reads the lease row
//! `FOR SHARE`, so a take-over waits for it to commit and a write after a take-over is refused.
//! Every multi-write operation is one transaction.
//!
//! The driver is tokio-postgres, run on a thread of its own ([`bridge`]); the trait's methods
//! block on its answers, so they may be called from plain threads and from inside tokio.

mod bridge;
mod schema;
mod tls;
mod tx;
mod verify;

use chrono::{DateTime, Utc};
use shiploop_rollout::{Input, Rollout};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::chain::{parse_ts, sha256_hex, ts, GENESIS};
use crate::event::{CommandQueued, Event, RolloutCreated};
use crate::lease::{self, LeaseRow};
use crate::rows::{self, column, RawRollout, EVENT_COLUMNS, ROLLOUT_COLUMNS};
use crate::state_store::{PhaseNames, StateStore};
use crate::stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};
use crate::{Result, StoreError};

use bridge::Bridge;
/// Events `verify_chain` reads at a time.
const VERIFY_PAGE: i64 = 5_000;

use tx::{
    append, check_fence, lease_row, raw_event, raw_rollout, record_step, write_lease, Done,
    OwnedStep,
};

/// The state database on a PostgreSQL server: a handle onto the process's pool for its URL.
#[derive(Clone)]
pub struct PgStore {
    bridge: Arc<Bridge>,
}

impl PgStore {
    /// The connections a process keeps to one database at most.
    pub const MAX_CONNECTIONS: usize = bridge::MAX_CONNECTIONS;

    /// Opens the database at `url` (`postgres://user:password@host:port/db`), creating or
    /// migrating ship's tables; a second open of the same URL in this process shares the first
    /// one's connections. [`StoreError::Unavailable`] naming `host:port` when it cannot be
    /// reached (or its TLS handshake is refused). The URL's `sslmode` and `sslrootcert` secure
    /// the connection as libpq's do (docs/SERVE.md, "PostgreSQL settings that matter").
    pub fn open(url: &str) -> Result<PgStore> {
        let bridge = Bridge::shared(url, |b| {
            b.run(async |c: &mut Client| Ok(schema::migrate(c).await?))
        })?;
        Ok(PgStore { bridge })
    }

    /// Opens the database at `url` with a pool of its own (tests and tools: two replicas in one
    /// process), migrating it.
    pub fn open_unshared(url: &str) -> Result<PgStore> {
        let bridge = Arc::new(Bridge::start(url)?);
        bridge.run(async |c: &mut Client| Ok(schema::migrate(c).await?))?;
        Ok(PgStore { bridge })
    }

    /// Opens an existing database only to read and verify it (`ship audit verify`): it never
    /// creates ship's tables. [`StoreError::Corrupt`] when it has none.
    pub fn open_existing(url: &str) -> Result<PgStore> {
        let bridge = Arc::new(Bridge::start(url)?);
        let target = bridge.target().to_string();
        bridge.run(async move |c: &mut Client| {
            if schema::exists(c).await? {
                Ok(())
            } else {
                Err(StoreError::Corrupt(format!(
                    "the PostgreSQL database at {target} has no event log: it is empty or not ship's"
                ))
                .into())
            }
        })?;
        Ok(PgStore { bridge })
    }

    /// The schema version this build migrates to.
    pub const SCHEMA_VERSION: i64 = schema::CURRENT;

    /// The versions recorded in `ship_schema`, in order (one row per migration applied).
    pub fn schema_versions(&self) -> Result<Vec<i64>> {
        self.bridge.run(async |c: &mut Client| {
            let rows = c
                .query("SELECT version FROM ship_schema ORDER BY version", &[])
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?)
        })
    }

    /// Runs SQL statements as they are (tests and tools: a hand edit, emptying the tables).
    pub fn batch_execute(&self, sql: &str) -> Result<()> {
        let sql = sql.to_string();
        self.bridge
            .run(async move |c: &mut Client| Ok(c.batch_execute(&sql).await?))
    }
}

impl PgStore {
    fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut Client) -> Done<T> + Send + 'static,
    {
        self.bridge.run(work)
    }

    /// [`StateStore::verify_chain`], reading `page` events at a time (a long log does not sit
    /// in memory whole), all from one snapshot.
    fn verify_in_pages(&self, page: i64) -> Result<ChainReport> {
        self.run(async move |c: &mut Client| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let sql = format!("{EVENT_COLUMNS} WHERE seq > $1 ORDER BY seq LIMIT $2");
            let mut check = rows::ChainCheck::new();
            let mut after = 0i64;
            loop {
                let rows = tx.query(&sql, &[&after, &page]).await?;
                for r in &rows {
                    let raw = raw_event(r)?;
                    after = raw.0;
                    if let Some(broken) = check.next(&raw) {
                        return Ok(broken);
                    }
                }
                if (rows.len() as i64) < page {
                    return Ok(check.finish());
                }
            }
        })
    }

    /// Takes a lease with the token `decide` gives from its row (locked), in one transaction.
    fn take_lease(
        &self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
        decide: impl FnOnce(Option<&LeaseRow>) -> Option<i64> + Send + 'static,
    ) -> Result<Option<i64>> {
        let (release, holder) = (release.to_string(), holder.to_string());
        self.run(async move |c: &mut Client| {
            let tx = c.transaction().await?;
            // A row to lock even for a lease never taken (free, token 0).
            tx.query_typed(
                "INSERT INTO leases (release, holder, token, expires_at) VALUES ($1, NULL, 0, $2) ON CONFLICT (release) DO NOTHING",
                &[(&release, Type::TEXT), (&ts(DateTime::UNIX_EPOCH), Type::TEXT)],
            )
            .await?;
            let row = lease_row(&tx, &release, "FOR UPDATE").await?;
            let Some(token) = decide(row.as_ref()) else {
                return Ok(None);
            };
            write_lease(&tx, &release, &holder, token, lease::lease_end(now, ttl)).await?;
            tx.commit().await?;
            Ok(Some(token))
        })
    }
}

impl StateStore for PgStore {
    fn rollout(&self, release: &str) -> Result<Option<StoredRollout>> {
        let release = release.to_string();
        let raw = self.run(async move |c: &mut Client| {
            let sql = format!("{ROLLOUT_COLUMNS} WHERE release = $1");
            let row = c.query_typed_opt(&sql, &[(&release, Type::TEXT)]).await?;
            row.as_ref().map(raw_rollout).transpose()
        })?;
        raw.map(rows::decode_rollout).transpose()
    }

    fn rollouts(&self) -> Result<Vec<StoredRollout>> {
        let raw: Vec<RawRollout> = self.run(async |c: &mut Client| {
            let sql = format!("{ROLLOUT_COLUMNS} ORDER BY created_at, release");
            c.query(&sql, &[]).await?.iter().map(raw_rollout).collect()
        })?;
        raw.into_iter().map(rows::decode_rollout).collect()
    }

    fn releases(&self) -> Result<Vec<String>> {
        self.run(async |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT release FROM rollouts ORDER BY created_at, release",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?)
        })
    }

    fn phases(&self) -> Result<Vec<(String, String)>> {
        // Only the phase's name leaves the database, from the columns the `rollouts_phase`
        // trigger keeps (schema version 3): no plan or state is parsed here.
        self.run(async |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT release, COALESCE(plan_ok, false), phase
                     FROM rollouts ORDER BY created_at, release",
                    &[],
                )
                .await?;
            let mut names = PhaseNames::default();
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get(0)?, names.name(r.try_get(1)?, r.try_get(2)?)));
            }
            Ok(out)
        })
    }

    fn create_rollout(
        &mut self,
        release: &str,
        plan: &StoredPlan,
        state: &Rollout,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let (release, plan_text, state_text) = (release.to_string(), column(plan)?, column(state)?);
        let created = Event::RolloutCreated(RolloutCreated {
            kind: plan.kind_name().to_string(),
            plan: plan.clone(),
            state_sha256: sha256_hex(&state_text),
        });
        let kind = plan.kind_name();
        self.run(async move |c: &mut Client| {
            let conflict = || StoreError::Conflict(format!("a rollout of {release} is already recorded"));
            let tx = c.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (release) DO NOTHING",
                    &[&release, &kind, &plan_text, &state_text, &ts(at)],
                )
                .await;
            match inserted {
                Ok(1) => {}
                Ok(_) => return Err(conflict().into()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(conflict().into())
                }
                Err(e) => return Err(e.into()),
            }
            append(&tx, &release, &created, at).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn record_step(&mut self, step: Step<'_>) -> Result<()> {
        let owned = OwnedStep {
            release: step.release.to_string(),
            holder: step.holder.map(str::to_string),
            token: step.token,
            command: step.command,
            state: step.state.clone(),
            decision: step.decision.clone(),
            samples: step.samples.cloned(),
            events: step.events.to_vec(),
        };
        self.run(async move |c: &mut Client| record_step(c, owned).await)
    }

    fn state_problem(&self, release: &str) -> Result<Option<String>> {
        let r = release.to_string();
        let (state, last) = self.run(async move |c: &mut Client| {
            // One snapshot for both reads (see the SQLite store).
            let c = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some(row) = c
                .query_typed_opt(
                    "SELECT state FROM rollouts WHERE release = $1",
                    &[(&r, Type::TEXT)],
                )
                .await?
            else {
                return Ok((None, None));
            };
            let state: String = row.try_get(0)?;
            let sql = format!("{EVENT_COLUMNS} WHERE release = $1 AND kind IN ('decision', 'rollout-created') ORDER BY seq DESC LIMIT 1");
            let last = c.query_typed_opt(&sql, &[(&r, Type::TEXT)]).await?;
            Ok((Some(state), last.as_ref().map(raw_event).transpose()?))
        })?;
        match state {
            Some(state) => rows::state_problem(release, &state, last),
            None => Ok(None),
        }
    }

    fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>> {
        let release = release.to_string();
        let raw = self.run(async move |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT seq, release, data FROM events WHERE release = $1 AND kind = 'decision' ORDER BY seq",
                    &[&release],
                )
                .await?;
            let mut out: Vec<(i64, String, String)> = vec![];
            for r in &rows {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
            Ok(out)
        })?;
        raw.into_iter()
            .map(|(id, release, d)| rows::decode_decision(id, release, &d))
            .collect()
    }

    fn sample_values(
        &self,
        releases: &[String],
        key: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        let (releases, key) = (releases.to_vec(), key.to_string());
        let found = self.run(async move |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT at, id, measurement FROM samples WHERE release = ANY($1) AND key = $2 AND at >= $3 AND at <= $4",
                    &[&releases, &key, &ts(since), &ts(until)],
                )
                .await?;
            let mut out: Vec<(String, i64, String)> = vec![];
            for r in &rows {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
            Ok(out)
        })?;
        rows::merge_samples(found)
    }

    fn prune_samples(&mut self, before: DateTime<Utc>) -> Result<usize> {
        self.run(async move |c: &mut Client| {
            let n = c
                .execute("DELETE FROM samples WHERE at < $1", &[&ts(before)])
                .await?;
            Ok(n as usize)
        })
    }

    fn append_fenced(
        &mut self,
        release: &str,
        event: &Event,
        at: DateTime<Utc>,
        fence: Option<Fence<'_>>,
    ) -> Result<LoggedEvent> {
        let (release, event) = (release.to_string(), event.clone());
        let fence = fence.map(|f| (f.holder.to_string(), f.token));
        self.run(async move |c: &mut Client| {
            let tx = c.transaction().await?;
            if let Some((holder, token)) = &fence {
                check_fence(&tx, &release, holder, Some(*token)).await?;
            }
            let e = append(&tx, &release, &event, at).await?;
            tx.commit().await?;
            Ok(e)
        })
    }

    fn events_since(
        &self,
        release: Option<&str>,
        after: i64,
        limit: Option<usize>,
    ) -> Result<Vec<LoggedEvent>> {
        let release = release.map(str::to_string);
        let limit = limit.map(|l| l.min(i64::MAX as usize) as i64);
        let raw = self.run(async move |c: &mut Client| {
            let sql = format!("{EVENT_COLUMNS} WHERE ($1::TEXT IS NULL OR release = $1) AND seq > $2 ORDER BY seq LIMIT $3");
            let rows = c.query(&sql, &[&release, &after, &limit]).await?;
            rows.iter().map(raw_event).collect::<Done<Vec<_>>>()
        })?;
        raw.into_iter().map(rows::decode_event).collect()
    }

    fn last_seq(&self, release: Option<&str>) -> Result<i64> {
        let release = release.map(str::to_string);
        self.run(async move |c: &mut Client| {
            let row = c
                .query_one(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE ($1::TEXT IS NULL OR release = $1)",
                    &[&release],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn rollout_created(&self, release: &str) -> Result<Option<LoggedEvent>> {
        let release = release.to_string();
        let raw = self.run(async move |c: &mut Client| {
            let sql = format!("{EVENT_COLUMNS} WHERE release = $1 AND kind = 'rollout-created' ORDER BY seq LIMIT 1");
            let row = c.query_typed_opt(&sql, &[(&release, Type::TEXT)]).await?;
            row.as_ref().map(raw_event).transpose()
        })?;
        raw.map(rows::decode_event).transpose()
    }

    fn created_rollouts(&self) -> Result<Vec<String>> {
        self.run(async |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT DISTINCT release FROM events WHERE kind = 'rollout-created' ORDER BY release",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.try_get(0)).collect::<std::result::Result<_, _>>()?)
        })
    }

    fn head(&self) -> Result<(i64, String)> {
        self.run(async |c: &mut Client| {
            let row = c
                .query_opt(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await?;
            Ok(match row {
                Some(r) => (r.try_get(0)?, r.try_get(1)?),
                None => (0, GENESIS.to_string()),
            })
        })
    }

    fn hash_of(&self, seq: i64) -> Result<Option<String>> {
        self.run(async move |c: &mut Client| {
            let row = c
                .query_opt("SELECT hash FROM events WHERE seq = $1", &[&seq])
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn verify_chain(&self) -> Result<ChainReport> {
        self.verify_in_pages(VERIFY_PAGE)
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        let name = name.to_string();
        self.run(async move |c: &mut Client| {
            let row = c
                .query_opt("SELECT seq FROM cursors WHERE name = $1", &[&name])
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
        })
    }

    fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool> {
        let name = name.to_string();
        self.run(async move |c: &mut Client| {
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO cursors (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
                &[&name],
            )
            .await?;
            let n = tx
                .execute(
                    "UPDATE cursors SET seq = $3 WHERE name = $1 AND seq = $2",
                    &[&name, &from, &to],
                )
                .await?;
            if n != 1 {
                // The placeholder row of a cursor never moved goes with the rollback.
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn lease_acquire(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let who = holder.to_string();
        self.take_lease(release, holder, ttl, now, move |row| {
            lease::acquire(row, &who, now)
        })
    }

    fn lease_take_over(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let old = old.to_string();
        self.take_lease(release, holder, ttl, now, move |row| {
            lease::take_over(row, &old)
        })
    }

    fn release_lease(&mut self, release: &str, holder: &str) -> Result<()> {
        let (release, holder) = (release.to_string(), holder.to_string());
        self.run(async move |c: &mut Client| {
            c.execute(
                "UPDATE leases SET holder = NULL WHERE release = $1 AND holder = $2",
                &[&release, &holder],
            )
            .await?;
            Ok(())
        })
    }

    fn renew_leases(
        &mut self,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        let holder = holder.to_string();
        self.run(async move |c: &mut Client| {
            let rows = c
                .query(
                    "UPDATE leases SET expires_at = $3 WHERE holder = $1 AND expires_at > $2
                     RETURNING release, token",
                    &[&holder, &ts(now), &ts(lease::lease_end(now, ttl))],
                )
                .await?;
            let mut out = vec![];
            for r in &rows {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            out.sort();
            Ok(out)
        })
    }

    fn lease(&self, release: &str, now: DateTime<Utc>) -> Result<Option<Lease>> {
        let release = release.to_string();
        let row = self.run(async move |c: &mut Client| lease_row(c, &release, "").await)?;
        Ok(row.and_then(|r| r.live(now)))
    }

    fn leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<Vec<(String, Lease)>> {
        let prefix = prefix.to_string();
        let raw = self.run(async move |c: &mut Client| {
            let rows = c
                .query(
                    "SELECT release, holder, token, expires_at FROM leases
                     WHERE holder IS NOT NULL AND expires_at > $2 AND left(release, length($1)) = $1
                     ORDER BY release",
                    &[&prefix, &ts(now)],
                )
                .await?;
            let mut out: Vec<(String, String, i64, String)> = vec![];
            for r in &rows {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
            Ok(out)
        })?;
        raw.into_iter()
            .map(|(release, holder, token, exp)| {
                let expires_at = parse_ts(&exp)?;
                Ok((
                    release,
                    Lease {
                        holder,
                        token,
                        expires_at,
                    },
                ))
            })
            .collect()
    }

    fn push_command(
        &mut self,
        release: &str,
        command: &Input,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let (release, text, command, by) = (
            release.to_string(),
            column(command)?,
            command.clone(),
            by.to_string(),
        );
        self.run(async move |c: &mut Client| {
            let tx = c.transaction().await?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO commands (release, at, command) VALUES ($1, $2, $3) RETURNING id",
                    &[&release, &ts(at), &text],
                )
                .await?
                .try_get(0)?;
            let queued = Event::CommandQueued(CommandQueued { id, command, by });
            append(&tx, &release, &queued, at).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn next_command(&self, release: &str) -> Result<Option<QueuedCommand>> {
        let release = release.to_string();
        let row = self.run(async move |c: &mut Client| {
            let row = c
                .query_typed_opt(
                    "SELECT id, command FROM commands WHERE release = $1 AND taken_at IS NULL ORDER BY id LIMIT 1",
                    &[(&release, Type::TEXT)],
                )
                .await?;
            Ok(match row {
                Some(r) => Some((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)),
                None => None,
            })
        })?;
        Ok(row.map(|(id, c)| rows::decode_command(id, &c)))
    }

    fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.run(async move |c: &mut Client| {
            c.execute(
                "UPDATE commands SET taken_at = $2 WHERE id = $1",
                &[&id, &ts(at)],
            )
            .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
