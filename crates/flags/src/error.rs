use std::path::PathBuf;

/// Everything that stops a registry from being built. Validation findings that still leave a
/// usable registry (a missing owner, a late cleanup date) are [`crate::Problem`]s instead, so
/// `ship flags list` can show every flag and every finding at once.
#[derive(Debug, thiserror::Error)]
pub enum FlagsError {
    /// The registry text is not valid YAML or does not have the registry's shape.
    /// `line` and `column` are 1-based and relative to the whole file.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The registry file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The configured registry file does not exist. Kept apart from other I/O errors because
    /// the caller decides whether a missing registry is fine (not configured) or a failure.
    #[error("flag registry {} not found", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read flag registry {}: {source}", path.display())]
    /// The registry file exists but could not be read.
    Io {
        /// The registry file.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An inline `[flags.registry.<name>]` table in ship.toml that is not a flag definition.
    #[error("ship.toml [flags.registry.{name}]: {source}")]
    Inline {
        /// The flag.
        name: String,
        /// Why it is not a definition (the TOML decoder's error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The same flag name is defined in two registries being merged.
    #[error("flag `{name}` is defined twice: in {first} and in {second}")]
    Conflict {
        /// The flag's name.
        name: String,
        /// Where it was defined first.
        first: String,
        /// Where it was defined again.
        second: String,
    },
}
