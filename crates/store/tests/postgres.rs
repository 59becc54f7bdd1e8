//! The store contract on a real PostgreSQL (a throw-away cluster: testkit's
//! `postgres::Cluster`), and what only a shared database must keep: one hash chain with no gap
//! whoever appends at once, migrations by replicas starting together, a database that cannot
//! be reached told apart from a refused statement.
//!
//! Needs Debian's `postgresql` package (scripts/test.sh installs it); outside CI,
//! `SHIP_SKIP_POSTGRES=1` skips these tests on a machine without it.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use shiploop_store::contract;
use shiploop_store::event::{Event, OncallAcked};
use shiploop_store::{Location, PgStore, SqliteStore, StateStore, StoreError};
use shiploop_testkit::postgres::Cluster;

/// Empties every table (identities from 1 again): a fresh store without a database per case.
const EMPTY: &str =
    "TRUNCATE rollouts, samples, events, leases, commands, cursors RESTART IDENTITY CASCADE";

fn emptied(url: &str) -> PgStore {
    let st = PgStore::open(url).unwrap();
    st.batch_execute(EMPTY).unwrap();
    st
}

fn ack(by: &str) -> Event {
    Event::OncallAcked(OncallAcked { by: by.into() })
}

#[test]
fn postgres_keeps_the_store_contract() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("contract");
    contract::run_all(|| emptied(&url));
}

#[test]
fn postgres_matches_the_model() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("model");
    // Each comparison is some forty round trips to the server: fewer cases than SQLite's
    // (about 30 s on the 2-core CI machine); SHIP_TEST_SEED replays a run.
    contract::model::run(contract::model::seed(), 25, || emptied(&url));
}

/// Threads of one pool and of pools of their own append at once: one chain, no gap.
#[test]
fn concurrent_appends_keep_one_chain() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("chain");
    let shared = PgStore::open(&url).unwrap();
    let per_thread = 40;
    std::thread::scope(|s| {
        for t in 0..6 {
            let mut st = if t % 2 == 0 {
                shared.clone()
            } else {
                PgStore::open_unshared(&url).unwrap()
            };
            s.spawn(move || {
                for i in 0..per_thread {
                    let release = format!("r{t}");
                    st.append(&release, &ack(&i.to_string()), Utc::now())
                        .unwrap();
                }
            });
        }
    });
    let events = shared.events(None).unwrap();
    assert_eq!(events.len(), 6 * per_thread);
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6 * per_thread as i64).collect::<Vec<_>>());
    let report = shared.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 6 * per_thread);
    for t in 0..6 {
        assert_eq!(
            shared.events(Some(&format!("r{t}"))).unwrap().len(),
            per_thread
        );
    }
}

/// Replicas starting at once on an empty database: one migrates, the others find it done.
#[test]
fn pools_starting_at_once_migrate_once() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("migrate");
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let started: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PgStore::open_unshared(&url).unwrap()))
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let versions = stores[0].schema_versions().unwrap();
    assert_eq!(versions, (1..=PgStore::SCHEMA_VERSION).collect::<Vec<_>>());
    // Opening again migrates nothing more.
    drop(stores);
    let again = PgStore::open_unshared(&url).unwrap();
    assert_eq!(again.schema_versions().unwrap(), versions);
}

/// An event's hash is the same whichever backend stored it: the bytes are the same.
#[test]
fn events_hash_the_same_in_sqlite_and_postgres() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let mut pg_store = PgStore::open(&pg.database("hashes")).unwrap();
    let mut sqlite = SqliteStore::in_memory().unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    for st in [&mut pg_store as &mut dyn StateStore, &mut sqlite] {
        st.create_rollout("r1", &contract::plan("d"), &contract::state(0), at)
            .unwrap();
        for (i, e) in contract::one_of_each().iter().enumerate() {
            st.append("r1", e, at + chrono::Duration::milliseconds(i as i64))
                .unwrap();
        }
    }
    let hashes = |st: &dyn StateStore| -> Vec<String> {
        st.events(None)
            .unwrap()
            .into_iter()
            .map(|e| e.hash)
            .collect()
    };
    assert_eq!(hashes(&pg_store), hashes(&sqlite));
    assert_eq!(pg_store.head().unwrap(), sqlite.head().unwrap());
}

/// `[state] url` opens either backend behind one boxed store; `ship audit` opens without
/// creating.
#[test]
fn a_location_opens_its_backend() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("state.db");
    let empty = Location::parse(&pg.database("never_migrated"), &default).unwrap();
    let found = shiploop_store::open_existing(&empty).map(|s| s.is_some());
    assert!(matches!(found, Err(StoreError::Corrupt(_))), "{found:?}");
    let loc = Location::parse(&pg.database("located"), &default).unwrap();
    let mut st = shiploop_store::open(&loc).unwrap();
    st.append("r1", &ack("a"), Utc::now()).unwrap();
    let dyn_st: &mut dyn StateStore = &mut *st;
    assert_eq!(dyn_st.last_seq(None).unwrap(), 1);
    let existing = shiploop_store::open_existing(&loc).unwrap().unwrap();
    assert!(existing.verify_chain().unwrap().ok);
    let sqlite = shiploop_store::open(&Location::parse("", &default).unwrap()).unwrap();
    assert_eq!(sqlite.last_seq(None).unwrap(), 0);
    assert!(default.exists());
    // Called from inside a runtime, as `ship serve` does from its current-thread LocalSet:
    // the driver's own thread answers (blocking on a runtime here would panic).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let seq = local.block_on(&runtime, async {
        let mut st = shiploop_store::open(&loc).unwrap();
        st.append("r1", &ack("b"), Utc::now()).unwrap();
        st.last_seq(None).unwrap()
    });
    assert_eq!(seq, 2);
}

/// A server that cannot be reached is Unavailable, named by host:port, never by its password;
/// a statement it refuses is not.
#[test]
fn an_unreachable_database_is_unavailable() {
    let port = shiploop_testkit::free_addr().port();
    let url = format!("postgres://ship:s3cret@127.0.0.1:{port}/ship");
    let e = PgStore::open(&url).err().unwrap();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let st = PgStore::open(&pg.database("refused")).unwrap();
    let refused = st.batch_execute("UPDATE events SET data = '{}'; SELECT nonsense FROM nowhere");
    assert!(
        matches!(refused, Err(StoreError::Postgres(_))),
        "{refused:?}"
    );
    // The log is append-only for ship itself here too.
    let mut st = st;
    st.append("r1", &ack("a"), Utc::now()).unwrap();
    let edit = st.batch_execute("UPDATE events SET data = '{}' WHERE seq = 1");
    assert!(
        matches!(&edit, Err(StoreError::Postgres(m)) if m.contains("append-only")),
        "{edit:?}"
    );
    // The server going away mid-life: Unavailable, and back once it is back.
    drop(pg);
    let gone = st.last_seq(None);
    assert!(matches!(gone, Err(StoreError::Unavailable(_))), "{gone:?}");
}

/// A replica recording steps while another takes its lease over: once the take-over commits,
/// nothing more of the old holder's is recorded — its fenced steps lock the lease row, so the
/// take-over waits for the one in flight, and every later one is refused.
#[test]
fn nothing_is_recorded_after_a_take_over() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("takeover");
    let mut a = PgStore::open_unshared(&url).unwrap();
    let mut b = PgStore::open_unshared(&url).unwrap();
    let ttl = std::time::Duration::from_secs(60);
    let now = Utc::now();
    a.create_rollout("r1", &contract::plan("d"), &contract::state(0), now)
        .unwrap();
    let old = a.lease_acquire("r1", "a", ttl, now).unwrap().unwrap();
    let stepping = std::thread::spawn(move || {
        let s0 = contract::state(0);
        for i in 0.. {
            let d = contract::decision(shiploop_rollout::DecisionKind::Hold, Utc::now(), 0);
            let step = shiploop_store::Step {
                release: "r1",
                holder: Some("a"),
                token: Some(old),
                command: None,
                state: &s0,
                decision: &d,
                samples: None,
                events: &[],
            };
            match a.record_step(step) {
                Ok(()) => {}
                Err(StoreError::LeaseLost(h)) => return (i, h),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let new = b
        .lease_take_over("r1", "a", "b", ttl, Utc::now())
        .unwrap()
        .unwrap();
    assert!(new > old);
    let fence = shiploop_store::Fence {
        holder: "b",
        token: new,
    };
    let marker = b
        .append_fenced("r1", &ack("b took over"), Utc::now(), Some(fence))
        .unwrap();
    let (recorded, holder) = stepping.join().unwrap();
    assert_eq!(holder, "b");
    assert!(recorded > 0, "a recorded before the take-over");
    let late: Vec<_> = b
        .events(Some("r1"))
        .unwrap()
        .into_iter()
        .filter(|e| e.seq > marker.seq && e.kind() == "decision")
        .collect();
    assert!(late.is_empty(), "recorded after the take-over: {late:?}");
    assert_eq!(b.decisions("r1").unwrap().len(), recorded);
    assert!(b.verify_chain().unwrap().ok);
}
