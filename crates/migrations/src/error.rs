//! Errors that stop linting, as opposed to findings.

use std::path::PathBuf;

use serde::Serialize;

/// SQL that squawk cannot parse. The caller should exit with status 2: we
/// cannot vouch for a migration we cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}:{column}: cannot parse SQL: {message}")]
pub struct ParseFailure {
    /// The migration file.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// squawk's explanation.
    pub message: String,
}

/// Why [`crate::lint_paths`] could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("no migration paths given")]
    /// Nothing to lint.
    NoPaths,
    #[error("cannot read {}: {source}", path.display())]
    /// A path could not be read.
    Read {
        /// The path.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("no .sql files found under {}", path.display())]
    /// A folder without `.sql` files.
    NoSqlFiles {
        /// The folder.
        path: PathBuf,
    },
    #[error(transparent)]
    /// A file squawk cannot parse.
    Parse(#[from] ParseFailure),
}
