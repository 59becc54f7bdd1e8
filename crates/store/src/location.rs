//! Where the state database is (`[state] url`): SQLite's file by default, or a PostgreSQL
//! server shared by several `ship serve` replicas.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::state_store::StateStore;
use crate::{PgStore, Result, SqliteStore, StoreError};

/// A state database's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// The location `url` names: empty for `default_sqlite` (the workspace's
    /// `.ship/state.db`); `sqlite:///abs/path` or `sqlite://relative/path` (relative to the
    /// working directory); a `postgres://` or `postgresql://` URL. Anything else is
    /// [`StoreError::BadLocation`] naming its scheme.
    pub fn parse(url: &str, default_sqlite: &Path) -> Result<Location> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(Location::Sqlite(default_sqlite.to_path_buf()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadLocation(
                    "sqlite:// names no file (sqlite:///abs/path or sqlite://relative/path)".into(),
                ));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        Err(StoreError::BadLocation(format!(
            "ship stores its state in SQLite (sqlite:///path, the default) or PostgreSQL (postgres://…), not {scheme:?}"
        )))
    }
}

/// Shows the location without a password (`postgres://ship:***@db:5432/ship`).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Location::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

/// `url` with the password of its user info replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match user_info.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// Opens (creating and migrating) the state database at `loc`.
pub fn open(loc: &Location) -> Result<Box<dyn StateStore + Send>> {
    Ok(match loc {
        Location::Sqlite(path) => Box::new(SqliteStore::open(path)?),
        Location::Postgres(url) => Box::new(PgStore::open(url)?),
    })
}

/// Opens the state database at `loc` only if it exists, without creating or migrating
/// anything (`ship audit verify`); None when there is no SQLite file.
pub fn open_existing(loc: &Location) -> Result<Option<Box<dyn StateStore + Send>>> {
    Ok(match loc {
        Location::Sqlite(path) => {
            SqliteStore::open_existing(path)?.map(|s| Box::new(s) as Box<dyn StateStore + Send>)
        }
        Location::Postgres(url) => Some(Box::new(PgStore::open_existing(url)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_by_scheme() {
        let default = Path::new("/ws/.ship/state.db");
        let parse = |u| Location::parse(u, default);
        assert_eq!(parse("").unwrap(), Location::Sqlite(default.into()));
        assert_eq!(
            parse("sqlite:///var/ship/state.db").unwrap(),
            Location::Sqlite("/var/ship/state.db".into())
        );
        assert_eq!(
            parse("sqlite://state/ship.db").unwrap(),
            Location::Sqlite("state/ship.db".into())
        );
        let pg = "postgres://ship:secret@db:5432/ship";
        assert_eq!(parse(pg).unwrap(), Location::Postgres(pg.into()));
        assert!(matches!(
            parse("postgresql://db/ship"),
            Ok(Location::Postgres(_))
        ));
        let e = parse("mysql://db/ship").unwrap_err().to_string();
        assert!(e.contains("\"mysql\""), "{e}");
        assert!(parse("sqlite://").is_err());
        assert_eq!(
            parse(pg).unwrap().to_string(),
            "postgres://ship:***@db:5432/ship"
        );
        assert_eq!(
            parse("postgres://db/ship").unwrap().to_string(),
            "postgres://db/ship"
        );
    }
}
