//! Durable rollout state: each rollout's plan and state, every decision with its evidence, the
//! metric samples behind them, leases, queued operator commands, readers' cursors, and an
//! append-only event log in which each event carries the hash of the previous one, so a hand
//! edit anywhere breaks the chain.
//!
//! [`StateStore`] is the contract every backend keeps; [`SqliteStore`] keeps it in SQLite
//! (`.ship/state.db`, WAL). A step of the engine is recorded in one transaction: after a crash
//! the database holds either the state before the step or the state after it, never half.
//! Events are [`event::Event`]s, one variant per kind with typed fields.

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
pub use location::{open, open_existing, Location};
pub use postgres::PgStore;
pub use sqlite::{PooledConnection, SqliteStore};
pub use state_store::StateStore;
pub use stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};

/// What can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed an operation (busy, full, unreadable file).
    #[error("state database: {0}")]
    Database(#[from] rusqlite::Error),
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

/// The store's result.
pub type Result<T> = std::result::Result<T, StoreError>;
