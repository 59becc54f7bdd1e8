//! What PostgreSQL's store does inside a transaction: read rows, append to the chain under
//! the append lock, check and write leases, record a step.

use chrono::{DateTime, Utc};
use shiploop_rollout::{Decision, Observation, Rollout};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Row, Transaction};

use super::bridge::Failure;
use crate::chain::{parse_ts, sha256_hex, ts, GENESIS};
use crate::event::{DecisionEvent, Event};
use crate::lease::{self, LeaseRow};
use crate::rows::{self, column, RawEvent, RawRollout};
use crate::stored::LoggedEvent;
use crate::StoreError;

/// The advisory lock every append takes: one writer of the chain at a time.
const APPEND_LOCK: i64 = 0x5348_4950_0002;

/// A call's answer on the driver's thread.
pub type Done<T> = std::result::Result<T, Failure>;

/// A rollouts row as stored.
pub fn raw_rollout(r: &Row) -> Done<RawRollout> {
    let mut out: RawRollout = Default::default();
    for (i, column) in out.iter_mut().enumerate() {
        *column = r.try_get(i)?;
    }
    Ok(out)
}

/// An events row as stored.
pub fn raw_event(r: &Row) -> Done<RawEvent> {
    let mut texts: [String; 6] = Default::default();
    for (i, column) in texts.iter_mut().enumerate() {
        *column = r.try_get(i + 1)?;
    }
    Ok((r.try_get(0)?, texts))
}

/// Appends `event` to the chain inside `tx`, under the append lock.
pub async fn append(
    tx: &Transaction<'_>,
    release: &str,
    event: &Event,
    at: DateTime<Utc>,
) -> Done<LoggedEvent> {
    let last = chain_end(tx).await?;
    let mut logged = insert_chained(tx, last, release, std::slice::from_ref(event), at).await?;
    Ok(logged.remove(0))
}

/// Takes the append lock and reads the chain's last link (seq and hash), in one round trip:
/// the two statements are sent together (tokio-postgres pipelines what is awaited together,
/// and the server runs them in the order sent — `biased`, so they are sent in this order).
pub async fn chain_end(tx: &Transaction<'_>) -> Done<(i64, String)> {
    // The statements of every tick go as typed queries: one round trip each, where a query
    // by text is prepared first (three).
    let lock = tx.query_typed(
        "SELECT pg_advisory_xact_lock($1)",
        &[(&APPEND_LOCK, Type::INT8)],
    );
    let last = tx.query_typed_opt(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
    );
    let (_, last) = tokio::try_join!(biased; lock, last)?;
    Ok(match last {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, GENESIS.to_string()),
    })
}

/// Inserts `events` chained after `last`, in one statement whatever their number.
pub async fn insert_chained(
    tx: &Transaction<'_>,
    mut last: (i64, String),
    release: &str,
    events: &[Event],
    at: DateTime<Utc>,
) -> Done<Vec<LoggedEvent>> {
    let mut logged = Vec::with_capacity(events.len());
    let (mut seqs, mut ats, mut kinds, mut datas, mut prevs, mut hashes) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for event in events {
        let new = rows::chain_next(last, release, event, at)?;
        let e = new.logged;
        last = (e.seq, e.hash.clone());
        seqs.push(e.seq);
        ats.push(new.at);
        kinds.push(event.kind());
        datas.push(new.data);
        prevs.push(e.prev_hash.clone());
        hashes.push(e.hash.clone());
        logged.push(e);
    }
    tx.query_typed(
        "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash)
         SELECT s, a, $3, k, d, p, h
         FROM unnest($1::int8[], $2::text[], $4::text[], $5::text[], $6::text[], $7::text[])
              WITH ORDINALITY AS u(s, a, k, d, p, h, i)
         ORDER BY i",
        &[
            (&seqs, Type::INT8_ARRAY),
            (&ats, Type::TEXT_ARRAY),
            (&release, Type::TEXT),
            (&kinds, Type::TEXT_ARRAY),
            (&datas, Type::TEXT_ARRAY),
            (&prevs, Type::TEXT_ARRAY),
            (&hashes, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    Ok(logged)
}

/// The lease row of `release` (`FOR UPDATE` or `FOR SHARE` when `lock` says so).
pub async fn lease_row(
    c: &impl GenericClient,
    release: &str,
    lock: &str,
) -> Done<Option<LeaseRow>> {
    let sql = format!("SELECT holder, token, expires_at FROM leases WHERE release = $1 {lock}");
    let Some(r) = c.query_typed_opt(&sql, &[(&release, Type::TEXT)]).await? else {
        return Ok(None);
    };
    let expires: String = r.try_get(2)?;
    Ok(Some(LeaseRow {
        holder: r.try_get(0)?,
        token: r.try_get(1)?,
        expires_at: parse_ts(&expires)?,
    }))
}

/// Refuses a write for `holder` with `token` unless the lease row says so; the row stays
/// locked (shared) until the write commits, so no take-over slips in between.
pub async fn check_fence(
    tx: &Transaction<'_>,
    release: &str,
    holder: &str,
    token: Option<i64>,
) -> Done<()> {
    let row = lease_row(tx, release, "FOR SHARE").await?;
    match lease::fence(row.map(|r| (r.holder, r.token)), holder, token) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Writes the lease of `release` to `holder` with `token` until `until` (its row exists).
pub async fn write_lease(
    tx: &Transaction<'_>,
    release: &str,
    holder: &str,
    token: i64,
    until: DateTime<Utc>,
) -> Done<()> {
    tx.query_typed(
        "UPDATE leases SET holder = $2, token = $3, expires_at = $4 WHERE release = $1",
        &[
            (&release, Type::TEXT),
            (&holder, Type::TEXT),
            (&token, Type::INT8),
            (&ts(until), Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// A step's borrowed parts, owned to cross to the driver's thread.
pub struct OwnedStep {
    pub release: String,
    pub holder: Option<String>,
    pub token: Option<i64>,
    pub command: Option<i64>,
    pub state: Rollout,
    pub decision: Decision,
    pub samples: Option<Observation>,
    pub events: Vec<Event>,
}

/// Records one engine step in one transaction (see [`crate::StateStore::record_step`]), in
/// four round trips whatever it holds: BEGIN; the fence check, the command taken, the state,
/// the samples and the chain's end, sent together (the server runs them in order: the fence's
/// row lock comes first, and a refused fence rolls the rest back); the events; COMMIT.
pub async fn record_step(c: &mut Client, s: OwnedStep) -> Done<()> {
    let release = s.release.as_str();
    let at = ts(s.decision.at);
    let state_text = column(&s.state)?;
    let (mut keys, mut measurements) = (vec![], vec![]);
    for (k, m) in s.samples.iter().flatten() {
        keys.push(k.clone());
        measurements.push(serde_json::to_string(m)?);
    }
    let tx = c.transaction().await?;
    let fence = async {
        match &s.holder {
            Some(h) => check_fence(&tx, release, h, s.token).await,
            None => Ok(()),
        }
    };
    let command = async {
        if let Some(id) = s.command {
            tx.query_typed(
                "UPDATE commands SET taken_at = $2 WHERE id = $1",
                &[(&id, Type::INT8), (&at, Type::TEXT)],
            )
            .await?;
        }
        Done::Ok(())
    };
    let update = async {
        let rows = tx
            .query_typed(
                "UPDATE rollouts SET state = $2, updated_at = $3 WHERE release = $1 RETURNING 1",
                &[
                    (&release, Type::TEXT),
                    (&state_text, Type::TEXT),
                    (&at, Type::TEXT),
                ],
            )
            .await?;
        Done::Ok(rows.len())
    };
    let samples = async {
        if !keys.is_empty() {
            tx.query_typed(
                "INSERT INTO samples (release, at, key, measurement)
                 SELECT $1, $2, k, m FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(k, m, i)
                 ORDER BY i",
                &[
                    (&release, Type::TEXT),
                    (&at, Type::TEXT),
                    (&keys, Type::TEXT_ARRAY),
                    (&measurements, Type::TEXT_ARRAY),
                ],
            )
            .await?;
        }
        Done::Ok(())
    };
    let ((), (), updated, (), last) =
        tokio::try_join!(biased; fence, command, update, samples, chain_end(&tx))?;
    if updated != 1 {
        return Err(StoreError::NotFound(format!("no rollout of {release} is recorded")).into());
    }
    // The decision's event carries the hash of the state it left (see the SQLite store).
    let decided = Event::Decision(DecisionEvent {
        decision: s.decision.clone(),
        state_sha256: Some(sha256_hex(&state_text)),
    });
    let mut events = vec![decided];
    events.extend(s.events);
    insert_chained(&tx, last, release, &events, s.decision.at).await?;
    tx.commit().await?;
    Ok(())
}
