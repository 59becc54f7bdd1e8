//! Reading the Build loop's verdicts from the evaluations folder.

use crate::{fsutil, Error, Result, Workspace};
use shiploop_artifacts::verdict::Verdict;
use std::collections::BTreeMap;

/// A verdict and the path of its file relative to the workspace root.
#[derive(Debug, Clone)]
pub struct VerdictFile {
    pub rel: String,
    pub verdict: Verdict,
}

impl Workspace {
    /// Every verdict file (`*.md`, not starting with `_` or `.`), sorted by path. A malformed
    /// verdict or two files with one id stop the command: a release must not be compiled from a
    /// partial view of what was evaluated.
    pub fn verdicts(&self) -> Result<Vec<VerdictFile>> {
        let dir = self.path(&self.config.paths.evaluations);
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "the evaluations folder {} does not exist (paths.evaluations in ship.toml)",
                dir.display()
            )));
        }
        let paths = fsutil::markdown_files(&dir)?;
        let mut out = Vec::new();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for p in paths {
            let text = fsutil::read(&p)?;
            let verdict = Verdict::parse(&text).map_err(|e| Error::parse(&p, e))?;
            let rel = self.rel(&p);
            if let Some(other) = ids.insert(verdict.meta.id.clone(), rel.clone()) {
                return Err(Error::Usage(format!(
                    "verdict id `{}` is used by both {other} and {rel}",
                    verdict.meta.id
                )));
            }
            out.push(VerdictFile { rel, verdict });
        }
        Ok(out)
    }
}
