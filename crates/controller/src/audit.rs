//! `ship audit verify`: what the state database's event log and the recorded plans prove.
//!
//! The hash chain alone proves only that the events it holds were not edited one by one: a log
//! cut short, emptied, or re-hashed after an edit is still a valid chain. So each contract
//! records the head of the chain at its milestones (its `anchors`, outside the database and in
//! git with the contract), and verification requires every anchored event to be there with the
//! anchored hash. It also requires every recorded rollout's plan to be its approved contract's.
//! It opens the database only if it exists and never creates or migrates one.

use crate::binding::plan_problems;
use serde::Serialize;
use shiploop_store::event::Event;
use shiploop_store::{ChainReport, StateStore, StoreError};
use shiploop_workspace::Workspace;

/// What `ship audit verify` found: whether the event log and the recorded plans verify.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// True when everything verifies.
    pub ok: bool,
    /// The state database, relative to the workspace.
    pub database: String,
    /// Events in the log.
    pub events: usize,
    /// The newest event's sequence number and hash.
    pub head_seq: i64,
    /// The newest event's hash.
    pub head: String,
    /// The hash chain's check; None when there was no database to read.
    pub chain: Option<ChainReport>,
    /// Anchors found in the contracts, and how many of them matched.
    pub anchors: usize,
    /// Anchored events found in the log with the anchored hash.
    pub anchors_matched: usize,
    /// Events after the newest anchor: proven by the chain only, until the next milestone.
    pub unanchored_events: i64,
    /// Recorded rollouts whose plan was checked against their approved contract.
    pub rollouts_checked: usize,
    /// Everything that does not verify, each naming what is missing or changed.
    pub problems: Vec<String>,
}

struct Anchored {
    file: String,
    seq: i64,
    hash: String,
    at: chrono::DateTime<chrono::Utc>,
}

/// Checks the event log's hash chain and anchors, and each recorded plan against its contract.
pub fn verify(ws: &Workspace) -> shiploop_workspace::Result<AuditReport> {
    let loc = crate::state_location(ws)?;
    let mut report = AuditReport {
        ok: false,
        database: match &loc {
            shiploop_store::Location::Sqlite(db) => ws.rel(db),
            other => other.to_string(),
        },
        events: 0,
        head_seq: 0,
        head: String::new(),
        chain: None,
        anchors: 0,
        anchors_matched: 0,
        unanchored_events: 0,
        rollouts_checked: 0,
        problems: vec![],
    };
    let (releases, unreadable) = ws.release_set()?;
    for (path, why) in &unreadable {
        report.problems.push(format!(
            "{} cannot be read, so its anchors and plan cannot be checked: {why}",
            ws.rel(path)
        ));
    }
    let mut anchors: Vec<Anchored> = vec![];
    for r in &releases {
        for a in &r.contract.meta.anchors {
            anchors.push(Anchored {
                file: ws.rel(&r.path),
                seq: a.seq,
                hash: a.hash.clone(),
                at: a.at,
            });
        }
    }
    anchors.sort_by_key(|a| a.seq);
    report.anchors = anchors.len();
    let newest = anchors.last().map(|a| (a.seq, a.file.clone()));

    let store = match shiploop_store::open_existing(&loc) {
        Ok(Some(s)) => s,
        Ok(None) => {
            if let Some((seq, file)) = newest {
                report.problems.push(format!(
                    "there is no state database at {}, but {file} anchors event {seq}: the whole event log is missing",
                    report.database
                ));
            }
            report.ok = report.problems.is_empty();
            return Ok(report);
        }
        Err(e) => {
            let lost = match newest {
                Some((seq, file)) => format!(" ({file} anchors event {seq})"),
                None => String::new(),
            };
            report.problems.push(format!("{e}{lost}"));
            return Ok(report);
        }
    };
    let err = shiploop_workspace::Error::Store;
    let chain = store.verify_chain().map_err(err)?;
    let (head_seq, head) = store.head().map_err(err)?;
    report.events = chain.events;
    report.head_seq = head_seq;
    report.head = head;
    if let Some(p) = &chain.problem {
        report.problems.push(format!("hash chain: {p}"));
    }
    report.chain = Some(chain);

    for a in &anchors {
        let at = a.at.format("%Y-%m-%d %H:%M:%S%.3fZ");
        match store.hash_of(a.seq).map_err(err)? {
            Some(h) if h == a.hash => report.anchors_matched += 1,
            Some(_) => report.problems.push(format!(
                "event {} is not the one {} anchored at {at}: its hash differs, so the log was rewritten up to there",
                a.seq, a.file
            )),
            None if a.seq > head_seq => report.problems.push(format!(
                "{} anchors event {} (at {at}), but the log ends at event {head_seq}: events {} to {} are missing",
                a.file,
                a.seq,
                head_seq + 1,
                a.seq
            )),
            None => report.problems.push(format!(
                "{} anchors event {} (at {at}), which is missing from the log",
                a.file, a.seq
            )),
        }
    }
    if let Some((seq, _)) = &newest {
        report.unanchored_events = (head_seq - seq).max(0);
    } else {
        report.unanchored_events = head_seq;
    }

    let rows = store.releases().map_err(err)?;
    for release in &rows {
        report.rollouts_checked += 1;
        // A plan or state that no longer parses was edited: reported, and the others checked.
        let row = match store.rollout(release) {
            Ok(Some(row)) => row,
            Ok(None) => continue,
            Err(StoreError::Corrupt(e)) => {
                report.problems.push(format!("rollout of {release}: {e}"));
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        let Some(r) = releases.iter().find(|r| r.contract.meta.id == row.release) else {
            if !unreadable.is_empty() {
                continue; // named above
            }
            report.problems.push(format!(
                "the rollout of {} has no release contract in {}",
                row.release, ws.config.paths.releases
            ));
            continue;
        };
        let created = match store.rollout_created(&row.release).map_err(err)? {
            Some(shiploop_store::LoggedEvent {
                event: Event::RolloutCreated(c),
                ..
            }) => Some(c.plan),
            _ => None,
        };
        let mut problems = plan_problems(ws, r, &row.plan, created.as_ref(), row.created_at);
        problems.extend(store.state_problem(&row.release).map_err(err)?);
        for p in problems {
            report
                .problems
                .push(format!("rollout of {}: {p}", row.release));
        }
    }
    // A rollout the log records must still be there, with its contract: deleting both would
    // otherwise take every anchor with them.
    for release in store.created_rollouts().map_err(err)? {
        if rows.contains(&release) {
            continue; // checked above
        }
        report.problems.push(format!(
            "the event log records a rollout of {release}, but the state database no longer has it"
        ));
        let has_contract = releases.iter().any(|r| r.contract.meta.id == release);
        if !has_contract && unreadable.is_empty() {
            report.problems.push(format!(
                "the event log records a rollout of {release}, but {} has no contract for it (its anchors went with it)",
                ws.config.paths.releases
            ));
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}
