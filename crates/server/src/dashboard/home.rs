//! The dashboard's home page, `/`: the rollouts by phase (counts), the rollouts in flight
//! (first: they are what an operator acts on), and the releases a page at a time, newest first.
//!
//! A team's whole history must not be parsed per page view: only the shown releases' contracts
//! are read (their ids come from the file names). The counts read only every rollout's phase;
//! only the rollouts shown are read whole.

use super::{last_seq, page, pill, release_href, seg, shell};
use crate::problem::Problem;
use crate::AppState;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use shiploop_artifacts::release::Status;
use shiploop_store::StateStore;
use shiploop_workspace::LoadedRelease;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::records::ts;

/// Releases one page shows.
pub const PAGE: usize = 50;

/// Rollouts in flight the page lists (the API lists them all: `?phase=active`).
pub const IN_FLIGHT: usize = 50;

/// The home page's query: which page of the releases (newest first).
#[derive(Debug, Default, Deserialize)]
pub struct HomeQuery {
    /// The releases older than this id.
    pub older: Option<String>,
    /// The releases newer than this id.
    pub newer: Option<String>,
}

/// A rollout as the home page shows it.
struct Brief {
    phase: &'static str,
    stage: String,
    weight: u8,
}

/// Every rollout's phase: the counts by phase and the ids of those in flight (oldest first;
/// an unreadable one counts as in flight: it may carry traffic). Only the phases are read
/// (`StateStore::phases`): decoding every rollout took ~0.7 s at 10,000.
struct Rollouts {
    counts: BTreeMap<String, u64>,
    in_flight: Vec<String>,
}

fn rollouts(st: &dyn StateStore) -> Result<Rollouts, Problem> {
    let mut out = Rollouts {
        counts: BTreeMap::new(),
        in_flight: vec![],
    };
    for (id, phase) in st.phases()? {
        if !is_terminal_name(&phase) {
            out.in_flight.push(id);
        }
        *out.counts.entry(phase).or_default() += 1;
    }
    Ok(out)
}

/// The rollouts of `ids` as the page shows them: None for one that cannot be read, no entry
/// for a release without a rollout.
fn briefs<'a>(
    st: &dyn StateStore,
    ids: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, Option<Brief>> {
    let mut out = BTreeMap::new();
    for id in ids {
        if out.contains_key(id) {
            continue;
        }
        let brief = match st.rollout(id) {
            Ok(None) => continue,
            Ok(Some(row)) => Some(Brief {
                phase: row.state.phase.name(),
                stage: row
                    .plan
                    .plan
                    .stages
                    .get(row.state.stage)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                weight: row.state.weight,
            }),
            Err(_) => None,
        };
        out.insert(id.to_string(), brief);
    }
    out
}

fn is_terminal_name(phase: &str) -> bool {
    matches!(phase, "rolled-back" | "completed" | "failed")
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The page of release files `q` asks for, newest first, and whether newer and older ones
/// exist beyond it. `files` are sorted by id, oldest first.
fn release_page<'a>(files: &'a [PathBuf], q: &HomeQuery) -> (Vec<&'a PathBuf>, bool, bool) {
    let ids: Vec<String> = files.iter().map(|p| stem(p)).collect();
    // [from, to) of `files`, oldest first.
    let (from, to) = match (&q.newer, &q.older) {
        (Some(newer), _) => {
            let from = ids.partition_point(|id| id <= newer);
            (from, (from + PAGE).min(files.len()))
        }
        (None, Some(older)) => {
            let to = ids.partition_point(|id| id < older);
            (to.saturating_sub(PAGE), to)
        }
        (None, None) => (files.len().saturating_sub(PAGE), files.len()),
    };
    let shown = files[from..to].iter().rev().collect();
    (shown, to < files.len(), from > 0)
}

/// `GET /`.
pub fn index_page(s: &AppState, q: &HomeQuery) -> Response {
    let st = match shiploop_controller::open_store(s.ws) {
        Ok(st) => st,
        Err(e) => return Problem::from_ws(e).into_response(),
    };
    let all = match rollouts(&*st) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let mut files = match s.ws.release_files() {
        Ok(f) => f,
        Err(e) => return Problem::from_ws(e).into_response(),
    };
    // By id: `web.md` sorts after `web-2.md`, `web` before `web-2`.
    files.sort_by_cached_key(|p| stem(p));
    let (shown, has_newer, has_older) = release_page(&files, q);
    let mut releases: Vec<LoadedRelease> = vec![];
    let mut unreadable: Vec<(String, String)> = vec![];
    let mut load = |path: &PathBuf, releases: &mut Vec<LoadedRelease>| match load_cached(s, path) {
        Ok(r) => releases.push(r),
        Err(e) => {
            let file = s.ws.rel(path);
            if !unreadable.iter().any(|(f, _)| *f == file) {
                unreadable.push((file, e.to_string()));
            }
        }
    };
    for p in &shown {
        load(p, &mut releases);
    }
    // A rollout in flight whose contract cannot be read may be one nobody can see or stop
    // here: the shown ones' contracts are checked too.
    let mut flying = vec![];
    for id in all.in_flight.iter().take(IN_FLIGHT) {
        // (One without a contract file — withdrawn, renamed — has nothing to fix here.)
        let path = s.ws.releases_dir().join(format!("{id}.md"));
        if !id.contains(['/', '\\']) && !id.starts_with('.') && path.is_file() {
            load(&path, &mut flying);
        }
    }
    let pending = pending_approvals(s);
    let signals = s.ws.signals().unwrap_or_default();
    let open: Vec<_> = signals
        .iter()
        .filter(|(_, sig)| sig.meta.status == shiploop_artifacts::signal::SignalStatus::Open)
        .collect();
    // Only the rollouts shown are read whole.
    let briefs = briefs(
        &*st,
        all.in_flight
            .iter()
            .take(IN_FLIGHT)
            .map(String::as_str)
            .chain(releases.iter().map(|r| r.contract.meta.id.as_str())),
    );
    let rollout = |id: &str| match briefs.get(id) {
        Some(None) => pill("unreadable"),
        Some(Some(b)) => html! {
            (pill(b.phase)) " " (b.stage) " at " (b.weight) " %"
        },
        None => html! { "—" },
    };
    let newer = shown.first().map(|p| stem(p));
    let older = shown.last().map(|p| stem(p));
    let body = html! {
        @if !unreadable.is_empty() {
            // Above everything: a broken contract may be a rollout nobody can see or stop here.
            div class="card warn" {
                b { "Unreadable contracts" }
                " — fix them by hand (" code { "ship status" } " lists them too):"
                ul {
                    @for (file, e) in &unreadable {
                        li { code { (file) } ": " (e) }
                    }
                }
            }
        }
        h1 { "Rollouts" }
        p class="counts" {
            @if all.counts.is_empty() { "None yet." }
            @for (phase, n) in &all.counts {
                (pill(phase)) " " b { (n) } " "
            }
        }
        @if !all.in_flight.is_empty() {
            h2 { "In flight" }
            table {
                tr { th { "release" } th { "rollout" } }
                @for id in all.in_flight.iter().take(IN_FLIGHT) {
                    tr {
                        td { a href=(release_href(id)) { (id) } }
                        td { (rollout(id)) }
                    }
                }
            }
            @if all.in_flight.len() > IN_FLIGHT {
                p {
                    (all.in_flight.len() - IN_FLIGHT) " more in flight: "
                    a href="/api/v1/rollouts?phase=active" { "/api/v1/rollouts?phase=active" }
                }
            }
        }
        h1 { "Releases" }
        table {
            tr { th { "release" } th { "status" } th { "mission" } th { "rollout" } th { "approvals" } }
            @for r in &releases {
                @let m = &r.contract.meta;
                tr {
                    td { a href=(release_href(&m.id)) { (m.id) } }
                    td { (pill(m.status.as_str())) }
                    td { (m.mission.as_deref().unwrap_or("—")) }
                    td { (rollout(&m.id)) }
                    td { (m.approvals.len()) }
                }
            }
            @if files.is_empty() {
                tr { td colspan="5" { "No releases yet." } }
            }
        }
        p class="pages" {
            @if has_newer {
                @if let Some(id) = &newer {
                    a rel="prev" href={ "/?newer=" (seg(id)) } { "← newer" }
                    " "
                }
            }
            @if has_older {
                @if let Some(id) = &older {
                    a rel="next" href={ "/?older=" (seg(id)) } { "older →" }
                }
            }
            " " small { (files.len()) " release(s) in all" }
        }
        h2 { "Pending approvals" }
        @if pending.is_empty() {
            p { "None." }
        } @else {
            ul {
                @for r in &pending {
                    @let m = &r.contract.meta;
                    li {
                        a href=(release_href(&m.id)) { (m.id) }
                        " — submitted by " (m.submitted_by.as_deref().unwrap_or("?"))
                        ": approve with " code { "ship release approve " (m.id) " --key …" }
                    }
                }
            }
        }
        h2 { "Open signals" }
        table {
            tr { th { "created" } th { "type" } th { "title" } th { "file" } }
            @for (p, sig) in &open {
                tr {
                    td { (ts(&sig.meta.created)) }
                    td { (pill(&format!("{:?}", sig.meta.kind).to_lowercase())) }
                    td { (sig.meta.title) }
                    td { (s.ws.rel(p)) }
                }
            }
            @if open.is_empty() {
                tr { td colspan="4" { "None." } }
            }
        }
    };
    page("releases", shell(last_seq(&*st, None), body), Some(""))
}

/// The releases waiting for an approval, newest first: those STATUS.md records as pending
/// (ship records every submission there), each confirmed from its contract — the contract
/// decides, STATUS.md only says which to read.
fn pending_approvals(s: &AppState) -> Vec<LoadedRelease> {
    pending_ids(s)
        .iter()
        .filter_map(|id| {
            let path = s.ws.releases_dir().join(format!("{id}.md"));
            load_cached(s, &path).ok()
        })
        .filter(|r| r.contract.meta.status == Status::PendingApproval)
        .take(PAGE)
        .collect()
}

/// The ids STATUS.md records as pending approval, newest first. STATUS.md lists every release
/// of the workspace: at ten thousand, parsing it took 200 ms a request, so what it says is
/// kept until the file is replaced or changes (ship writes it by renaming a new file over it).
fn pending_ids(s: &AppState) -> Vec<String> {
    type Cached = Option<(FileStamp, Vec<String>)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    let path = s.ws.path(&s.ws.config.paths.status);
    let stamp = FileStamp::of(&path);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let (Some(stamp), Some((cached, ids))) = (&stamp, cache.as_ref()) {
        if stamp == cached {
            return ids.clone();
        }
    }
    let Ok(status) = s.ws.load_status() else {
        return vec![];
    };
    let ids: Vec<String> = status
        .meta
        .releases
        .iter()
        .rev()
        .filter(|e| e.status == Status::PendingApproval.as_str())
        .filter(|e| !e.id.contains(['/', '\\']) && !e.id.starts_with('.'))
        .map(|e| e.id.clone())
        .collect();
    *cache = stamp.map(|st| (st, ids.clone()));
    ids
}

/// A release contract, parsed again only when its file changed: the page shows up to a hundred
/// (a page of releases, the rollouts in flight), and parsing them all on every request was
/// most of its time. A file is stamped before it is read, so what is kept is never older than
/// its stamp; the cache is emptied when it holds `CACHED` contracts.
fn load_cached(s: &AppState, path: &Path) -> shiploop_workspace::Result<LoadedRelease> {
    type Cached = BTreeMap<PathBuf, (FileStamp, LoadedRelease)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(BTreeMap::new());
    const CACHED: usize = 1024;
    let lock = || {
        CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let stamp = FileStamp::of(path);
    if let Some(stamp) = &stamp {
        if let Some((cached, r)) = lock().get(path) {
            if cached == stamp {
                return Ok(r.clone());
            }
        }
    }
    let r = s.ws.load_release(path)?;
    if let Some(stamp) = stamp {
        let mut cache = lock();
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), (stamp, r.clone()));
    }
    Ok(r)
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, PartialEq)]
struct FileStamp {
    path: PathBuf,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            path: path.to_path_buf(),
            inode: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaced_by_one_of_the_same_size_has_another_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (path, next) = (dir.path().join("STATUS.md"), dir.path().join("next"));
        std::fs::write(&path, "same size: a").unwrap();
        let before = FileStamp::of(&path).unwrap();
        assert_eq!(FileStamp::of(&path), Some(before.clone()));
        std::fs::write(&next, "same size: b").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_ne!(FileStamp::of(&path), Some(before));
        assert_eq!(FileStamp::of(&dir.path().join("gone")), None);
    }

    #[test]
    fn pages_of_releases_newest_first_with_links_both_ways() {
        let files: Vec<PathBuf> = (0..120)
            .map(|i| PathBuf::from(format!("r/2026-01-01-x{i:03}.md")))
            .collect();
        let names = |v: &[&PathBuf]| v.iter().map(|p| stem(p)).collect::<Vec<_>>();
        let (first, newer, older) = release_page(&files, &HomeQuery::default());
        assert_eq!(first.len(), PAGE);
        assert_eq!(names(&first)[0], "2026-01-01-x119");
        assert!(!newer && older);
        let q = HomeQuery {
            older: Some(names(&first)[PAGE - 1].clone()),
            newer: None,
        };
        let (second, newer, older) = release_page(&files, &q);
        assert_eq!(names(&second)[0], "2026-01-01-x069");
        assert!(newer && older);
        let q = HomeQuery {
            older: Some(names(&second)[PAGE - 1].clone()),
            newer: None,
        };
        let (third, newer, older) = release_page(&files, &q);
        assert_eq!(third.len(), 20);
        assert!(newer && !older);
        // Back again: the page before the third is the second.
        let q = HomeQuery {
            newer: Some(names(&third)[0].clone()),
            older: None,
        };
        let (back, _, _) = release_page(&files, &q);
        assert_eq!(names(&back), names(&second));
    }
}
