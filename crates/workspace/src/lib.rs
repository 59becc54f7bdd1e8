//! The files of a shiploop workspace: finding and loading `ship.toml`, `ship init`, reading
//! verdicts, and every release-contract operation (compile, submit, approve, verify, list).
//!
//! This is the I/O layer over the domain crates. Every write is atomic (temp file + rename) and
//! happens only after all checks passed, so a refused command leaves every file as it was.

mod compile;
mod error;
mod fsutil;
mod index;
mod init;
mod lifecycle;
mod missions;
mod releases;
mod signals;
mod template;
mod verdicts;

pub use compile::{NewOptions, NewReport, StageOverride, StageOverrideError, OVERRIDABLE_STAGES};
pub use error::Error;
pub use init::{init, init_with, InitReport};
pub use lifecycle::{
    ApprovalCheck, ApproveReport, SubmitReport, VerifyReport, VerifyState, WithdrawReport,
};
pub use missions::OUTCOME_FILE;
pub use releases::{validate_name, LoadedRelease, ReleaseSummary};
pub use template::DEFAULT_RELEASE_TEMPLATE;

use shiploop_config::Config;
use std::path::{Path, PathBuf};

/// A workspace operation's result.
pub type Result<T> = std::result::Result<T, Error>;

/// An opened workspace: the folder holding `ship.toml`, and its configuration.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace's root: the folder with `ship.toml`.
    pub root: PathBuf,
    /// Its configuration.
    pub config: Config,
    /// An allowed-signers file given on the command line (`--allowed-signers`), which takes
    /// precedence over `paths.allowed_signers`: CI can pin the trust root to a protected copy
    /// that the workspace's own files cannot redirect.
    pub signers_override: Option<PathBuf>,
    /// Set by `ship serve` ([`Workspace::batch_status`]): STATUS.md updates are collected and
    /// written together by [`Workspace::flush_status`], instead of one rewrite of the whole file
    /// per milestone of each of thousands of rollouts.
    status_batch: Option<std::sync::Arc<std::sync::Mutex<Vec<StatusUpdate>>>>,
}

/// A STATUS.md update waiting in a batch.
#[derive(Debug, Clone)]
struct StatusUpdate {
    release: LoadedRelease,
    at: chrono::DateTime<chrono::Utc>,
}

impl Workspace {
    /// Opens the workspace at `dir` or the nearest parent holding a `ship.toml`, like git does.
    pub fn open(dir: &Path) -> Result<Workspace> {
        let start = fsutil::absolute(dir)?;
        let mut cur = Some(start.as_path());
        while let Some(d) = cur {
            let file = d.join("ship.toml");
            if file.is_file() {
                let text = fsutil::read(&file)?;
                let config = Config::parse(&text).map_err(|e| Error::config(&file, e))?;
                return Ok(Workspace {
                    root: d.to_path_buf(),
                    config,
                    signers_override: None,
                    status_batch: None,
                });
            }
            cur = d.parent();
        }
        Err(Error::NotAWorkspace { dir: start })
    }

    /// `rel` under the workspace root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A path relative to the workspace root, with `/` separators, for records and messages.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// The release contracts' folder (`paths.releases`).
    pub fn releases_dir(&self) -> PathBuf {
        self.path(&self.config.paths.releases)
    }

    /// The allowed-signers file in force.
    pub fn signers_path(&self) -> PathBuf {
        match &self.signers_override {
            Some(p) => p.clone(),
            None => self.path(&self.config.paths.allowed_signers),
        }
    }

    /// The rollout state database.
    pub fn state_db(&self) -> PathBuf {
        self.path(&self.config.paths.state).join("state.db")
    }

    /// The release contract template.
    pub fn template_path(&self) -> PathBuf {
        self.releases_dir().join(template::TEMPLATE_FILE)
    }
}
