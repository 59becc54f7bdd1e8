//! A process-wide pool of SQLite connections per database file: every [`super::SqliteStore`]
//! opened on the same path shares it, so the number of open files does not grow with the number
//! of handles (a `ship serve` driving a thousand rollouts holds a thousand handles). A method
//! checks a connection out for its own duration and gives it back; none is held across calls.

use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use crate::{schema, Result, StoreError};

/// Connections a pool opens at most: enough for the server's readers beside a writer (SQLite
/// writes one at a time anyway), few enough that files stay bounded.
pub const MAX_CONNECTIONS: usize = 4;

/// How a pool opens its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Creating the file when missing, in WAL mode, synchronous FULL, foreign keys on.
    Create,
    /// Only an existing file, as it is (`ship audit verify`).
    Existing,
    /// The one in-memory connection it was given (tests).
    Memory,
}

struct Slots {
    idle: Vec<Connection>,
    open: usize,
}

/// The connections of one database file.
pub struct Pool {
    path: PathBuf,
    mode: Mode,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
}

/// A connection checked out of its pool, given back when dropped.
pub struct PooledConnection<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Some from checkout until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.slots().idle.push(conn);
            self.pool.freed.notify_one();
        }
    }
}

/// The live pools of this process, by canonical path.
fn registry() -> MutexGuard<'static, HashMap<PathBuf, Weak<Pool>>> {
    static POOLS: OnceLock<Mutex<HashMap<PathBuf, Weak<Pool>>>> = OnceLock::new();
    POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The path a database is known by in the registry: its folder canonicalized (created first).
fn canonical(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let dir = std::fs::canonicalize(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    })
}

impl Pool {
    fn new(path: PathBuf, mode: Mode, max: usize) -> Pool {
        Pool {
            path,
            mode,
            max,
            slots: Mutex::new(Slots {
                idle: vec![],
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// The shared pool of the database at `path`, created and migrated when this process has
    /// none yet (migrations run once per pool).
    pub fn shared(path: &Path) -> Result<Arc<Pool>> {
        let key = canonical(path)?;
        // A file deleted since (a test's workspace laid anew) gets a new pool, not the
        // connections to the file that is gone.
        if key.exists() {
            if let Some(pool) = registry().get(&key).and_then(Weak::upgrade) {
                return Ok(pool);
            }
        }
        let pool = Arc::new(Pool::new(key.clone(), Mode::Create, MAX_CONNECTIONS));
        schema::migrate(&*pool.get()?)?;
        let mut pools = registry();
        pools.retain(|_, p| p.strong_count() > 0);
        // Another thread may have opened it meanwhile: one pool per file all the same.
        if let Some(theirs) = pools.get(&key).and_then(Weak::upgrade) {
            return Ok(theirs);
        }
        pools.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }

    /// A pool of its own on an existing file, opened as it is (never created nor migrated).
    pub fn existing(path: &Path) -> Result<Arc<Pool>> {
        let pool = Arc::new(Pool::new(path.to_path_buf(), Mode::Existing, 1));
        drop(pool.get()?);
        Ok(pool)
    }

    /// A pool of the one connection `conn` (an in-memory database, for tests).
    pub fn memory(conn: Connection) -> Arc<Pool> {
        let pool = Pool::new(PathBuf::from(":memory:"), Mode::Memory, 1);
        {
            let mut slots = pool.slots();
            slots.idle.push(conn);
            slots.open = 1;
        }
        Arc::new(pool)
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection: an idle one, a new one while fewer than the maximum are open, or the next
    /// one given back.
    pub fn get(&self) -> Result<PooledConnection<'_>> {
        let mut slots = self.slots();
        loop {
            if let Some(conn) = slots.idle.pop() {
                return Ok(self.pooled(conn));
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match self.connect() {
                    Ok(conn) => Ok(self.pooled(conn)),
                    Err(e) => {
                        self.slots().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            slots = self.freed.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A connection already open (a pool always keeps the first it opened), waiting for one to
    /// be given back: cannot fail.
    pub fn get_open(&self) -> PooledConnection<'_> {
        let mut slots = self.slots();
        loop {
            if let Some(conn) = slots.idle.pop() {
                return self.pooled(conn);
            }
            slots = self.freed.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn pooled(&self, conn: Connection) -> PooledConnection<'_> {
        PooledConnection {
            pool: self,
            conn: Some(conn),
        }
    }

    fn connect(&self) -> Result<Connection> {
        match self.mode {
            Mode::Create => connect_new(&self.path),
            Mode::Existing => connect_existing(&self.path),
            Mode::Memory => Ok(Connection::open_in_memory()?),
        }
    }
}

/// A connection to the database at `path`, created when missing: WAL, synchronous FULL,
/// foreign keys on, waiting up to 10 s for a lock.
fn connect_new(path: &Path) -> Result<Connection> {
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
    Ok(conn)
}

/// A connection to the existing database at `path`, refused when it has no event log.
fn connect_existing(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
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
    Ok(conn)
}
