//! Errors that stop linting, as opposed to findings.

use std::path::PathBuf;

use serde::Serialize;

/// SQL that squawk cannot parse. The caller should exit with status 2: we
/// cannot vouch for a migration we cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}:{column}: cannot parse SQL: {message}")]
pub struct ParseFailure {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Why [`crate::lint_paths`] could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("no migration paths given")]
    NoPaths,
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no .sql files found under {}", path.display())]
    NoSqlFiles { path: PathBuf },
    #[error(transparent)]
    Parse(#[from] ParseFailure),
}
