//! The state database of a workspace: SQLite in `paths.state` by default, or the database
//! `[state] url` names (PostgreSQL, shared by several `ship serve` replicas). Every part of
//! ship opens it here, so a workspace never has two ideas of where its state lives.

use crate::{store_err, Result};
use shiploop_store::{SqliteStore, StateStore};
use shiploop_workspace::Workspace;

/// The state store of `ws`, created (and migrated) if it does not exist yet.
pub fn open_store(ws: &Workspace) -> Result<Box<dyn StateStore + Send>> {
    Ok(Box::new(
        SqliteStore::open(&ws.state_db()).map_err(store_err)?,
    ))
}
