//! Durable rollout state: each rollout's plan and state, every decision with its evidence, the
//! metric samples behind them, leases, queued operator commands, readers' cursors, and an
//! append-only event log in which each event carries the hash of the previous one, so a hand
//! edit anywhere breaks the chain.
//!
//! [`StateStore`] is the contract every backend keeps; [`SqliteStore`] keeps it in SQLite
//! (`.ship/state.db`, WAL, the default), [`PgStore`] in PostgreSQL for several `ship serve`
//! replicas sharing one database; [`open`] opens either from its [`Location`] (`[state] url`).
//! Either is a cheap handle onto one bounded pool of connections per database and process. A
//! step of the engine is recorded in one transaction: after a crash the database holds either
//! the state before the step or the state after it, never half. A rollout is driven by the
//! holder of its lease, whose fencing token every fenced write checks ([`Step::token`],
//! [`Fence`]). Events are [`event::Event`]s, one variant per kind with typed fields.

mod boxed;
mod chain;
pub mod event;
mod lease;
mod location;
mod postgres;
mod rows;
mod schema;
mod sqlite;
mod state_store;
mod stored;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use event::Event;
pub use lease::lease_end;
pub use location::{open, open_existing, Location};
pub use postgres::PgStore;
pub use sqlite::{PooledConnection, SqliteStore};
pub use state_store::{StateStore, UNREADABLE};
pub use stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};

/// What can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed a statement (full disk, unreadable file, a constraint).
    #[error("state database: {0}")]
    Database(rusqlite::Error),
    /// The database cannot be reached (connection refused or lost, a timeout): nothing was
    /// decided about what was asked, so a controller holds instead of failing a rollout.
    #[error("state database unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL refused or failed a statement (the database's own message).
    #[error("state database (PostgreSQL): {0}")]
    Postgres(String),
    /// The state database's location (`[state] url`) is not one ship can open.
    #[error("state url: {0}")]
    BadLocation(String),
    /// A value could not be encoded for the database.
    #[error("state database: {0}")]
    Encode(#[from] serde_json::Error),
    /// The database's folder could not be created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The folder.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// What was asked for is not recorded (a step for a rollout that was never created).
    #[error("{0}")]
    NotFound(String),
    /// It is recorded already (a second rollout of the same release).
    #[error("{0}")]
    Conflict(String),
    /// What is recorded does not parse, or the file is not ship's database.
    #[error("{0}")]
    Corrupt(String),
    /// Another controller holds the rollout's lease now.
    #[error("this controller lost the rollout's lease (now held by {0}); it stops here")]
    LeaseLost(String),
}

/// SQLite's errors: a database that cannot be opened (no file descriptor left, a folder that
/// went away) or stays locked past the busy timeout is [`StoreError::Unavailable`] — the
/// controller's own trouble, which must not count against a release — anything else
/// [`StoreError::Database`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
        match e.sqlite_error_code() {
            Some(CannotOpen | DatabaseBusy | DatabaseLocked) => {
                StoreError::Unavailable(format!("SQLite: {e}"))
            }
            _ => StoreError::Database(e),
        }
    }
}

/// The store's result.
pub type Result<T> = std::result::Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::StoreError;

    fn sqlite(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// "Too many open files" and a lock held past the busy timeout are the controller's
    /// trouble (Unavailable), not a failed statement.
    #[test]
    fn sqlite_errors_that_mean_unreachable_are_unavailable() {
        for code in [
            rusqlite::ffi::SQLITE_CANTOPEN,
            rusqlite::ffi::SQLITE_BUSY,
            rusqlite::ffi::SQLITE_LOCKED,
        ] {
            let e = StoreError::from(sqlite(code));
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        }
        let e = StoreError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT));
        assert!(matches!(e, StoreError::Database(_)), "{e:?}");
        let e = StoreError::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(matches!(e, StoreError::Database(_)), "{e:?}");
    }
}
