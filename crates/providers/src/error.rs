//! What went wrong in a provider, by kind: callers decide by the kind, never by the text.

use std::fmt;

/// The kinds of failure a provider reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing answered: no connection, no socket, a refused connection.
    Unreachable,
    /// It did not answer in time.
    Timeout,
    /// It answered, but not what was asked for (a refusal, an error status, not JSON, the
    /// wrong weight).
    BadAnswer,
    /// ship.toml does not say enough to build the provider, or a secret it names is missing.
    Config,
    /// A user command failed or could not run.
    CommandFailed,
    /// A local file could not be read or written.
    Io,
    /// The provider cannot answer this kind of question (e.g. a past value).
    Unsupported,
    /// The controller's own resource trouble, not the provider's: too many open files, out of
    /// memory, no process or thread could be started. It says nothing about the release, so
    /// it must never count against one. Found from the OS error behind the failure
    /// ([`crate::local`]), never from a message.
    Local,
}

/// A provider's failure: which provider, what kind, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// The provider ("nginx router"); empty for a failure not yet attributed to one (an HTTP
    /// call's), whose message names what it talked to.
    pub provider: String,
    /// What kind of failure: what callers decide by.
    pub kind: ErrorKind,
    /// For people: what failed and why, naming what was called.
    pub message: String,
}

impl ProviderError {
    /// A failure of `kind`, not yet attributed to a provider.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError {
            provider: String::new(),
            kind,
            message: message.into(),
        }
    }

    /// A problem with the configuration (ship.toml, or a secret it names).
    pub fn config(message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::Config, message)
    }

    /// The answer was not what was asked for.
    pub fn bad_answer(message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::BadAnswer, message)
    }

    /// `provider` cannot answer this question.
    pub fn unsupported(provider: &str, message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::Unsupported, message).by(provider)
    }

    /// Whether the failure is the controller's own resource trouble ([`ErrorKind::Local`]).
    pub fn is_local(&self) -> bool {
        self.kind == ErrorKind::Local
    }

    /// The failure as a metric source's answer for a key: a failed measurement, marked local
    /// when it was the controller's own trouble.
    pub fn measurement(&self) -> shiploop_rollout::measure::Measurement {
        use shiploop_rollout::measure::Measurement;
        if self.is_local() {
            Measurement::local_error(self.to_string())
        } else {
            Measurement::error(self.to_string())
        }
    }

    /// A failure of an I/O call: [`ErrorKind::Local`] when `e` is the controller's own
    /// resource trouble, else `kind`.
    pub fn io(kind: ErrorKind, e: &std::io::Error, message: impl Into<String>) -> ProviderError {
        let kind = if crate::local::io_is_local(e) {
            ErrorKind::Local
        } else {
            kind
        };
        ProviderError::new(kind, message)
    }

    /// The same failure, attributed to `provider`.
    pub fn by(mut self, provider: &str) -> ProviderError {
        self.provider = provider.to_string();
        self
    }

    /// The same failure with `context` before its message.
    pub fn context(mut self, context: impl fmt::Display) -> ProviderError {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.provider.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.provider, self.message)
        }
    }
}

impl std::error::Error for ProviderError {}
