//! SQLite's schema and migrations, versioned with its user_version.

use rusqlite::Connection;

const V1: &str = "
CREATE TABLE rollouts (
    release    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    plan       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE decisions (
    id       INTEGER PRIMARY KEY,
    release  TEXT NOT NULL REFERENCES rollouts(release),
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX decisions_release ON decisions(release, id);
CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    release     TEXT NOT NULL,
    at          TEXT NOT NULL,
    key         TEXT NOT NULL,
    measurement TEXT NOT NULL
);
CREATE INDEX samples_release ON samples(release, key, at);
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    release   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX events_release ON events(release, seq);
-- The log is append-only for ship itself; a hand edit that drops these triggers is still
-- caught by `ship audit verify`, which recomputes the hash chain.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE leases (
    release    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE commands (
    id       INTEGER PRIMARY KEY,
    release  TEXT NOT NULL,
    at       TEXT NOT NULL,
    command  TEXT NOT NULL,
    taken_at TEXT
);
";

/// Version 2: how far each reader of the event log (webhook delivery per release) has got.
const V2: &str = "
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
";

/// Version 3: leases carry a fencing token and stay as rows when released (holder NULL), so a
/// lease's tokens never go backwards; samples are pruned by time.
const V3: &str = "
CREATE TABLE leases_v3 (
    release    TEXT PRIMARY KEY,
    holder     TEXT,
    token      INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
INSERT INTO leases_v3 (release, holder, token, expires_at) SELECT release, holder, 1, expires_at FROM leases;
DROP TABLE leases;
ALTER TABLE leases_v3 RENAME TO leases;
CREATE INDEX leases_holder ON leases(holder);
CREATE INDEX samples_at ON samples(at);
";

/// Version 4: a decision is stored once, as its `decision` event (which the hash chain
/// covers); the `decisions` table held the same JSON a second time — half of what a recorded
/// tick added. Every row of it has its event (both were written in one transaction since
/// version 1), so nothing is lost.
const V4: &str = "
DROP TABLE decisions;
";

/// The schema version this build writes.
const CURRENT: i64 = 4;

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    // Up to date (every open but the first few): no write lock, so readers — the server's
    // requests, `ship rollout watch` — never queue behind a tick's write.
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= CURRENT {
        return Ok(());
    }
    // Read the version again inside the write transaction: two processes opening a new database at
    // once (a controller starting, `ship rollout status` polling) must not both create tables.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < 1 {
            conn.execute_batch(&format!("{V1} PRAGMA user_version = 1;"))?;
        }
        if version < 2 {
            conn.execute_batch(&format!("{V2} PRAGMA user_version = 2;"))?;
        }
        if version < 3 {
            conn.execute_batch(&format!("{V3} PRAGMA user_version = 3;"))?;
        }
        if version < 4 {
            conn.execute_batch(&format!("{V4} PRAGMA user_version = 4;"))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn concurrent_first_opens_do_not_race() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || crate::SqliteStore::open(&p).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    }

    /// A database of schema version 2 (leases without tokens) migrates to 3: its leases keep
    /// their holder and expiry, with token 1, and the next holder's token is greater.
    #[test]
    fn version_2_leases_migrate_with_a_token() {
        use crate::StateStore;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "{} {} PRAGMA user_version = 2;",
                super::V1,
                super::V2
            ))
            .unwrap();
            conn.execute(
                "INSERT INTO leases (release, holder, expires_at) VALUES ('r1', 'a', ?1)",
                [crate::chain::ts(crate::contract::at(30))],
            )
            .unwrap();
        }
        let mut st = crate::SqliteStore::open(&path).unwrap();
        let version: i64 = st
            .connection()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::CURRENT);
        let lease = st.lease("r1", crate::contract::at(0)).unwrap().unwrap();
        assert_eq!((lease.holder.as_str(), lease.token), ("a", 1));
        assert_eq!(lease.expires_at, crate::contract::at(30));
        let ttl = std::time::Duration::from_secs(30);
        let next = st.lease_acquire("r1", "b", ttl, crate::contract::at(31));
        assert_eq!(next.unwrap(), Some(2));
    }

    /// A database of schema version 3 (each decision stored twice: a `decisions` row and its
    /// event) migrates to 4: the rows are dropped and the decisions read back from the events.
    #[test]
    fn version_3_decisions_are_read_from_their_events() {
        use crate::StateStore;
        use shiploop_rollout::DecisionKind;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let d = crate::contract::decision(DecisionKind::Promote, crate::contract::at(5), 25);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "{} {} {} PRAGMA user_version = 3;",
                super::V1,
                super::V2,
                super::V3
            ))
            .unwrap();
            conn.execute_batch(
                "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES ('r1', 'standard', '{}', '{}', 't', 't')",
            )
            .unwrap();
            let json = serde_json::to_string(&d).unwrap();
            let event = serde_json::to_string(&crate::event::DecisionEvent {
                decision: d.clone(),
                state_sha256: None,
            })
            .unwrap();
            conn.execute(
                "INSERT INTO decisions (release, at, kind, decision) VALUES ('r1', 't', 'promote', ?1)",
                [&json],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (7, 't', 'r1', 'decision', ?1, '', '')",
                [&event],
            )
            .unwrap();
        }
        let st = crate::SqliteStore::open(&path).unwrap();
        let version: i64 = st
            .connection()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 4);
        let tables: i64 = st
            .connection()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'decisions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        let back = st.decisions("r1").unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].id, &back[0].decision), (7, &d));
    }
}
