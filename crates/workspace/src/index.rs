//! What `ship release new` needs from every contract and verdict — which changes each contract
//! claims, each verdict's id, mission and outcome — kept in the state folder
//! (`release-index.json`) by each file's size, modification and change times, so that a new
//! release parses only the files that changed since the last one, not a team's whole history
//! (the 1,000th release took 285 ms when every contract was parsed again).
//!
//! The files stay the truth: an entry is used only while its file's stamp is the one it was
//! read with; any write, rename or copy changes the stamp and the file is parsed again, with
//! the same errors as before. A missing or unreadable index is rebuilt; one that cannot be
//! written costs only speed.

use crate::{fsutil, Error, Result, Workspace};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::verdict::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The index file, in `paths.state`.
pub const INDEX_FILE: &str = "release-index.json";

/// Bumped when an entry's meaning changes: an index of another version is rebuilt.
const VERSION: u32 = 1;

/// When a file was last written, as far as the file system says: a file whose stamp is unchanged
/// has not been written since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    modified_ns: i128,
    /// The inode's change time and number (Unix): unlike the modification time, no tool can
    /// set them back, so a file copied or restored over another is seen as changed.
    changed_ns: i128,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let ns = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(-1)
    };
    let modified_ns = ns(m.modified().ok()?);
    #[cfg(unix)]
    let (changed_ns, inode) = {
        use std::os::unix::fs::MetadataExt;
        (
            i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            m.ino(),
        )
    };
    #[cfg(not(unix))]
    let (changed_ns, inode) = (modified_ns, 0);
    Some(Stamp {
        len: m.len(),
        modified_ns,
        changed_ns,
        inode,
    })
}

/// What a contract claims: the ids of its changes, when its status holds them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    stamp: Stamp,
    claims: Vec<String>,
}

/// What release new needs of a verdict to choose it (the chosen ones are parsed whole).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VerdictEntry {
    stamp: Stamp,
    id: String,
    mission: Option<String>,
    passed: bool,
}

/// One verdict file as the index knows it.
#[derive(Debug, Clone)]
pub(crate) struct VerdictKey {
    /// The file.
    pub path: PathBuf,
    /// The verdict's id.
    pub id: String,
    /// Its mission.
    pub mission: Option<String>,
    /// Whether it is a PASS.
    pub passed: bool,
}

/// The index: entries by file name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    version: u32,
    releases: BTreeMap<String, Claims>,
    verdicts: BTreeMap<String, VerdictEntry>,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

impl Workspace {
    fn index_path(&self) -> PathBuf {
        self.path(&self.config.paths.state).join(INDEX_FILE)
    }

    /// The index as last written; an empty one when there is none or it cannot be read.
    pub(crate) fn load_index(&self) -> Index {
        std::fs::read_to_string(self.index_path())
            .ok()
            .and_then(|t| serde_json::from_str::<Index>(&t).ok())
            .filter(|i| i.version == VERSION)
            .unwrap_or_default()
    }

    /// Writes the index back (only into an existing state folder); a failure costs only speed.
    pub(crate) fn save_index(&self, mut index: Index) {
        index.version = VERSION;
        let path = self.index_path();
        if !path.parent().is_some_and(Path::is_dir) {
            return;
        }
        let Ok(text) = serde_json::to_string(&index) else {
            return;
        };
        // Renamed into place, not synced: a cache lost in a crash is rebuilt, and a release
        // should not wait on the disk for it.
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, text).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The change ids every release contract claims (see `ReleaseStatus::claims_changes`), as
    /// [`Workspace::releases`] would find them: a contract that cannot be read fails the call.
    /// Only contracts changed since `index` was written are parsed; `index` is brought up to date.
    pub(crate) fn claimed_changes(&self, index: &mut Index) -> Result<Vec<String>> {
        let mut fresh = BTreeMap::new();
        let mut out = Vec::new();
        for p in self.release_files()? {
            let name = file_name(&p);
            let st = stamp(&p);
            let known = index
                .releases
                .remove(&name)
                .filter(|c| st.as_ref() == Some(&c.stamp));
            let entry = match known {
                Some(c) => c,
                None => {
                    let m = self.load_release(&p)?.contract.meta;
                    let claims = if m.status.claims_changes() {
                        m.changes.into_iter().map(|c| c.id).collect()
                    } else {
                        vec![]
                    };
                    match st {
                        Some(stamp) => Claims { stamp, claims },
                        // Without a stamp it is parsed again next time.
                        None => {
                            out.extend(claims);
                            continue;
                        }
                    }
                }
            };
            out.extend(entry.claims.iter().cloned());
            fresh.insert(name, entry);
        }
        index.releases = fresh;
        Ok(out)
    }

    /// Every verdict file's id, mission and outcome, sorted by path, with the checks of
    /// [`Workspace::verdicts`] (the folder exists, every verdict parses, no id twice); only
    /// verdicts changed since `index` was written are parsed.
    pub(crate) fn verdict_keys(&self, index: &mut Index) -> Result<Vec<VerdictKey>> {
        let dir = self.path(&self.config.paths.evaluations);
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "the evaluations folder {} does not exist (paths.evaluations in ship.toml)",
                dir.display()
            )));
        }
        let mut fresh = BTreeMap::new();
        let mut out = Vec::new();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for p in fsutil::markdown_files(&dir)? {
            let name = file_name(&p);
            let st = stamp(&p);
            let known = index
                .verdicts
                .remove(&name)
                .filter(|v| st.as_ref() == Some(&v.stamp));
            let (id, mission, passed) = match known {
                Some(v) => (v.id, v.mission, v.passed),
                None => {
                    let v = Verdict::parse(&fsutil::read(&p)?).map_err(|e| Error::parse(&p, e))?;
                    (v.meta.id.clone(), v.meta.mission.clone(), v.passed())
                }
            };
            let rel = self.rel(&p);
            if let Some(other) = ids.insert(id.clone(), rel.clone()) {
                return Err(Error::Usage(format!(
                    "verdict id `{id}` is used by both {other} and {rel}"
                )));
            }
            if let Some(stamp) = st {
                let entry = VerdictEntry {
                    stamp,
                    id: id.clone(),
                    mission: mission.clone(),
                    passed,
                };
                fresh.insert(name, entry);
            }
            out.push(VerdictKey {
                path: p,
                id,
                mission,
                passed,
            });
        }
        index.verdicts = fresh;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewOptions;
    use chrono::{DateTime, TimeZone, Utc};

    fn verdict(ws: &Workspace, id: &str, verdict: &str) {
        let text = format!(
            "---\nid: {id}\nverdict: {verdict}\nsummary: change {id}\nevaluated_at: 2026-11-20\nevaluator: quality-layer\n---\n# Evaluation of {id}\n"
        );
        std::fs::write(ws.path(&format!("work/evaluations/{id}.md")), text).unwrap();
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    /// What every contract claims, parsed whole (as release new did before the index).
    fn claimed_by_parsing(ws: &Workspace) -> Vec<String> {
        ws.releases()
            .unwrap()
            .into_iter()
            .filter(|r| r.contract.meta.status.claims_changes())
            .flat_map(|r| r.contract.meta.changes.into_iter().map(|c| c.id))
            .collect()
    }

    #[test]
    fn release_new_picks_what_it_did_and_the_index_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        crate::init(dir.path()).unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let new = |name: &str| ws.release_new(name, &NewOptions::default(), now());
        verdict(&ws, "a", "PASS");
        verdict(&ws, "b", "FAIL");
        let one = new("one").unwrap();
        assert_eq!(one.id, "2026-12-03-one");
        assert_eq!(one.file, "work/releases/2026-12-03-one.md");
        assert_eq!(one.changes, ["a"]);
        assert_eq!(one.excluded, [("b".to_string(), "FAIL".to_string())]);
        assert!(ws.index_path().is_file());

        // The next release: `a` is claimed (the index says so without parsing one.md).
        verdict(&ws, "c", "PASS");
        let two = new("two").unwrap();
        assert_eq!(
            (two.changes, two.already_released),
            (vec!["c".to_string()], vec!["a".to_string()])
        );
        let mut index = ws.load_index();
        assert_eq!(
            index.releases.len(),
            1,
            "two.md is indexed when it is next read"
        );
        let mut claimed = ws.claimed_changes(&mut index).unwrap();
        claimed.sort();
        assert_eq!(claimed, claimed_by_parsing(&ws));
        assert_eq!(claimed, ["a", "c"]);

        // Withdrawn by its command, `c` is free again: the changed file is read again.
        ws.withdraw("two", "alice@example.com", "not yet", now())
            .unwrap();
        verdict(&ws, "d", "PASS");
        let three = new("three").unwrap();
        assert_eq!(three.changes, ["c", "d"]);
        assert_eq!(three.already_released, ["a"]);

        // A contract broken by hand stops release new as before, naming its file; nothing is
        // written.
        let file = ws.path("work/releases/2026-12-03-one.md");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("status:", "status: [", 1)).unwrap();
        verdict(&ws, "e", "PASS");
        let e = new("four").unwrap_err().to_string();
        assert!(e.contains("2026-12-03-one.md"), "{e}");
        assert!(!ws.path("work/releases/2026-12-03-four.md").exists());
        std::fs::write(&file, text).unwrap();

        // Two verdicts with one id stop it too; an index that cannot be read is rebuilt.
        std::fs::write(
            ws.path("work/evaluations/e-copy.md"),
            std::fs::read_to_string(ws.path("work/evaluations/e.md")).unwrap(),
        )
        .unwrap();
        let e = new("four").unwrap_err().to_string();
        assert!(e.contains("verdict id `e` is used by both"), "{e}");
        std::fs::remove_file(ws.path("work/evaluations/e-copy.md")).unwrap();
        std::fs::write(ws.index_path(), "{not json").unwrap();
        let four = new("four").unwrap();
        assert_eq!(four.changes, ["e"]);
        assert_eq!(ws.load_index().releases.len(), 3);
    }
}
