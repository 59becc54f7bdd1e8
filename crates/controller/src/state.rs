//! The state database of a workspace: SQLite in `paths.state` by default, or the database
//! `[state] url` (or the variable `state.url_env` names) points at — PostgreSQL, shared by
//! several `ship serve` replicas. Every part of ship opens it here, so a workspace never has
//! two ideas of where its state lives.

use crate::{store_err, Result};
use shiploop_store::{Location, StateStore};
use shiploop_workspace::Workspace;

/// Where the state of `ws` lives. A relative `sqlite://` path is the workspace's, not the
/// working directory's.
pub fn state_location(ws: &Workspace) -> Result<Location> {
    let url = ws.config.state.effective_url();
    match Location::parse(&url, &ws.state_db()).map_err(store_err)? {
        Location::Sqlite(p) if p.is_relative() => Ok(Location::Sqlite(ws.root.join(p))),
        loc => Ok(loc),
    }
}

/// The state store of `ws`, created (and migrated) if it does not exist yet.
pub fn open_store(ws: &Workspace) -> Result<Box<dyn StateStore + Send>> {
    shiploop_store::open(&state_location(ws)?).map_err(store_err)
}

/// The state store of `ws` if it exists (a SQLite file not created yet is None), for readers
/// that must not create one (`ship audit verify`).
pub fn open_existing_store(ws: &Workspace) -> Result<Option<Box<dyn StateStore + Send>>> {
    shiploop_store::open_existing(&state_location(ws)?).map_err(store_err)
}
