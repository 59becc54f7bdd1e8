//! Finding, loading and saving release contracts.

use crate::{fsutil, Error, Result, Workspace};
use serde::Serialize;
use shiploop_artifacts::release::ReleaseContract;
use std::path::{Path, PathBuf};

/// A loaded contract with its file.
#[derive(Debug, Clone)]
pub struct LoadedRelease {
    /// The contract file.
    pub path: PathBuf,
    /// The parsed contract.
    pub contract: ReleaseContract,
}

#[derive(Debug, Clone, Serialize)]
/// One line of `ship release list`.
pub struct ReleaseSummary {
    /// The release's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// `standard` or `hotfix`.
    pub kind: String,
    /// The mission it belongs to.
    pub mission: Option<String>,
    /// How many changes it ships.
    pub changes: usize,
    /// How many approvals it has.
    pub approvals: usize,
    /// Who submitted it.
    pub submitted_by: Option<String>,
    /// Submitted, but the approved content no longer matches the recorded digest.
    pub modified_since_submission: bool,
    /// Its contract file.
    pub file: String,
}

/// Release and mission names become file and folder names: letters, digits, `.`, `_`, `-`;
/// no path separators, no `..`, not starting with `.` or `-`.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && !name.contains("..")
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid {what} name {name:?}: use letters, digits, `.`, `_` and `-` (no path separators, no `..`, not starting with `.` or `-`)"
        )))
    }
}

fn is_dated_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 11
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[10] == b'-'
}

/// A file that could not be read as what it should be, and why (file and line).
pub type Unreadable = (PathBuf, String);

impl Workspace {
    /// Contract files in the releases folder (not the template), sorted by name.
    pub fn release_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.releases_dir();
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        // The template's name starts with `_`, so it is never taken for a contract.
        fsutil::markdown_files(&dir)
    }

    /// Reads and parses the contract at `path`.
    pub fn load_release(&self, path: &Path) -> Result<LoadedRelease> {
        let text = fsutil::read(path)?;
        let contract = ReleaseContract::parse(&text).map_err(|e| Error::parse(path, e))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if contract.meta.id != stem {
            return Err(Error::Parse {
                file: path.to_path_buf(),
                line: 2,
                column: 1,
                message: format!(
                    "the contract's id `{}` does not match its file name `{stem}.md`",
                    contract.meta.id
                ),
            });
        }
        Ok(LoadedRelease {
            path: path.to_path_buf(),
            contract,
        })
    }

    /// Every release contract; one that cannot be read fails the whole call (see `release_set`).
    pub fn releases(&self) -> Result<Vec<LoadedRelease>> {
        self.release_files()?
            .iter()
            .map(|p| self.load_release(p))
            .collect()
    }

    /// Every release that can be read, and every contract that cannot with why (file and
    /// line): a list shows the others and names the broken one, rather than failing whole.
    pub fn release_set(&self) -> Result<(Vec<LoadedRelease>, Vec<Unreadable>)> {
        let (mut good, mut bad) = (vec![], vec![]);
        for p in self.release_files()? {
            match self.load_release(&p) {
                Ok(r) => good.push(r),
                Err(e) => bad.push((p, e.to_string())),
            }
        }
        Ok((good, bad))
    }

    /// Resolves a `<release>` argument: a contract path, a release id (`YYYY-MM-DD-<name>`), or a
    /// name that only one release has.
    pub fn resolve(&self, arg: &str) -> Result<LoadedRelease> {
        let as_path = Path::new(arg);
        if arg.ends_with(".md") || arg.contains(['/', '\\']) {
            let p = if as_path.is_absolute() {
                as_path.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(as_path))
                    .unwrap_or_else(|_| as_path.to_path_buf())
            };
            let p = if p.is_file() {
                p
            } else {
                self.root.join(as_path)
            };
            if p.is_file() {
                return self.load_release(&p);
            }
            return Err(Error::UnknownRelease(format!(
                "no release contract at {arg}"
            )));
        }
        // An id names its file: read it without listing the folder (a server resolving each of
        // thousands of rollouts would otherwise list, stat and sort every contract each time).
        if is_dated_id(arg) {
            let p = self.releases_dir().join(format!("{arg}.md"));
            if p.is_file() {
                return self.load_release(&p);
            }
        }
        let files = self.release_files()?;
        let stem = |p: &PathBuf| {
            p.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        if let Some(p) = files.iter().find(|p| stem(p) == arg) {
            return self.load_release(p);
        }
        let by_name: Vec<&PathBuf> = files
            .iter()
            .filter(|p| {
                let s = stem(p);
                is_dated_id(&s) && &s[11..] == arg
            })
            .collect();
        match by_name.as_slice() {
            [one] => self.load_release(one),
            [] => {
                let known: Vec<String> = files.iter().map(stem).collect();
                Err(Error::UnknownRelease(if known.is_empty() {
                    format!("unknown release `{arg}`: there are no release contracts yet (`ship release new <name>`)")
                } else {
                    format!("unknown release `{arg}`; known: {}", known.join(", "))
                }))
            }
            many => Err(Error::Usage(format!(
                "release name `{arg}` is ambiguous: {}; give the full id",
                many.iter().map(|p| stem(p)).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Writes the contract back to its file.
    pub fn save_release(&self, r: &LoadedRelease) -> Result<()> {
        fsutil::write_atomic(&r.path, &r.contract.render(), false)
    }

    /// The release's `ship release list` line.
    pub fn summary(&self, r: &LoadedRelease) -> ReleaseSummary {
        let m = &r.contract.meta;
        ReleaseSummary {
            id: m.id.clone(),
            name: m.name.clone(),
            status: m.status.to_string(),
            kind: match m.kind {
                shiploop_artifacts::release::Kind::Standard => "standard".into(),
                shiploop_artifacts::release::Kind::Hotfix => "hotfix".into(),
            },
            mission: m.mission.clone(),
            changes: m.changes.len(),
            approvals: m.approvals.len(),
            submitted_by: m.submitted_by.clone(),
            // A withdrawn contract's id was renamed with its file: it never ships either way.
            modified_since_submission: m.withdrawn.is_none()
                && m.digest
                    .as_ref()
                    .is_some_and(|d| *d != shiploop_artifacts::digest::compute(&r.contract).digest),
            file: self.rel(&r.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["checkout", "v1.2", "a_b-c"] {
            validate_name("release", ok).unwrap();
        }
        for bad in ["", "../x", "a/b", "..", ".hidden", "-x", "a b", "a\\b"] {
            assert!(validate_name("release", bad).is_err(), "{bad}");
        }
        assert!(is_dated_id("2026-11-27-x"));
        assert!(!is_dated_id("2026-11-27"));
        assert!(!is_dated_id("checkout-fast"));
    }
}
