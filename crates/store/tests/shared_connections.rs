//! However many handles are open on one database, its files are the pool's: `ship serve` holds
//! a handle per rollout, and a thousand rollouts must not exhaust a 1,024-file limit.
#![allow(clippy::unwrap_used)]

use shiploop_store::{SqliteStore, StateStore};

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_thousand_handles_use_only_the_pools_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let before = open_files();
    let handles: Vec<SqliteStore> = (0..2000)
        .map(|_| SqliteStore::open(&path).unwrap())
        .collect();
    // Used from several threads at once, so the pool opens all the connections it may.
    std::thread::scope(|s| {
        for chunk in handles.chunks(250) {
            s.spawn(move || {
                for st in chunk {
                    st.releases().unwrap();
                    st.verify_chain().unwrap();
                }
            });
        }
    });
    let mut writer = handles[7].clone();
    let ack =
        shiploop_store::Event::OncallAcked(shiploop_store::event::OncallAcked { by: "a".into() });
    writer.append("r1", &ack, chrono::Utc::now()).unwrap();
    assert_eq!(handles[1999].last_seq(None).unwrap(), 1);
    // A connection holds the database, its WAL and (shared) its index: three files at most.
    let used = open_files().saturating_sub(before);
    assert!(
        used <= 3 * SqliteStore::MAX_CONNECTIONS,
        "{used} files open for 2,000 handles (pool of {})",
        SqliteStore::MAX_CONNECTIONS
    );
    drop(handles);
    drop(writer);
    assert!(
        open_files() <= before,
        "the pool's files close with its last handle"
    );
}
