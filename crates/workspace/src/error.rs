use std::path::PathBuf;

/// Everything that can stop a command. `exit_code` maps each to the CLI's documented codes:
/// 1 when a check, gate or verification failed; 2 for bad input, usage, or unreadable files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `ship.toml` in the folder or any parent.
    #[error("no ship.toml in {} or any parent folder: run `ship init` first", dir.display())]
    NotAWorkspace {
        /// Where the search started.
        dir: PathBuf,
    },

    /// A file that does not parse; the position is 1-based.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        /// The file that failed to parse.
        file: PathBuf,
        /// Line of the problem (1-based).
        line: usize,
        /// Column of the problem (1-based).
        column: usize,
        /// What is wrong there.
        message: String,
    },

    /// A file or folder that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Bad arguments: an invalid name, an ambiguous release, a missing file.
    #[error("{0}")]
    Usage(String),

    /// The `<release>` argument names no contract: an unknown id or name, or a path with no
    /// contract at it. Bad input like `Usage` (same exit code and `--json` kind), but a type of
    /// its own so the API answers 404 without reading the message.
    #[error("{0}")]
    UnknownRelease(String),

    /// The state database failed (could not be opened, read or written, or holds a record that
    /// does not decode). Exit code 2 like any unreadable file.
    #[error(transparent)]
    Store(#[from] shiploop_store::StoreError),

    /// A rule refused the operation: no PASS verdict, self-approval, an unknown signer, …
    #[error("{0}")]
    Refused(String),

    /// Another controller holds the release's lease: refused, and nobody's failure (a server
    /// looks again later). A type of its own so callers never decide by the message's text.
    #[error("{release} is being driven by another controller ({holder})")]
    Held {
        /// The release whose lease is held.
        release: String,
        /// Who holds it.
        holder: String,
    },

    /// The contract is not fit for submission; every problem is listed.
    #[error("{} is not ready for approval:\n{}", file.display(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Incomplete {
        /// The contract file.
        file: PathBuf,
        /// Every problem found, in order.
        problems: Vec<String>,
    },
}

impl Error {
    /// The CLI's exit code for this error (documented in README.md, "Scripting").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Refused(_) | Error::Held { .. } | Error::Incomplete { .. } => 1,
            _ => 2,
        }
    }

    /// A stable machine-readable kind for `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotAWorkspace { .. } => "not-a-workspace",
            Error::Parse { .. } => "parse",
            Error::Io { .. } => "io",
            Error::Usage(_) | Error::UnknownRelease(_) => "usage",
            Error::Store(_) => "store",
            Error::Refused(_) | Error::Held { .. } => "refused",
            Error::Incomplete { .. } => "incomplete",
        }
    }

    /// A `ship.toml` that does not load: the first problem where it is, and every other one
    /// after it on lines of their own (`file:line:column: message`), so all are printed.
    pub(crate) fn config(file: &std::path::Path, e: shiploop_config::ConfigError) -> Error {
        let mut message = e.message;
        for more in e.more {
            message.push_str(&format!(
                "\n{}:{}:{}: {}",
                file.display(),
                more.line,
                more.column,
                more.message
            ));
        }
        Error::Parse {
            file: file.to_path_buf(),
            line: e.line,
            column: e.column,
            message,
        }
    }

    pub(crate) fn parse(file: &std::path::Path, e: shiploop_artifacts::ParseError) -> Error {
        Error::Parse {
            file: file.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}
