use std::path::PathBuf;

/// Everything that can stop a command. `exit_code` maps each to the CLI's documented codes:
/// 1 when a check, gate or verification failed; 2 for bad input, usage, or unreadable files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no ship.toml in {} or any parent folder: run `ship init` first", dir.display())]
    NotAWorkspace { dir: PathBuf },

    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Bad arguments: an invalid name, an unknown or ambiguous release, a missing file.
    #[error("{0}")]
    Usage(String),

    /// A rule refused the operation: no PASS verdict, self-approval, an unknown signer, …
    #[error("{0}")]
    Refused(String),

    /// Another controller holds the release's lease: refused, and nobody's failure (a server
    /// looks again later). A type of its own so callers never decide by the message's text.
    #[error("{release} is being driven by another controller ({holder})")]
    Held { release: String, holder: String },

    /// The contract is not fit for submission; every problem is listed.
    #[error("{} is not ready for approval:\n{}", file.display(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Incomplete {
        file: PathBuf,
        problems: Vec<String>,
    },
}

impl Error {
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
            Error::Usage(_) => "usage",
            Error::Refused(_) | Error::Held { .. } => "refused",
            Error::Incomplete { .. } => "incomplete",
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
