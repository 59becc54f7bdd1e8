//! What a verified approval and a verified audit log prove, tried as someone with write access
//! to the state database and ship.toml would try to get around them.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use sha2::{Digest, Sha256};
use shiploop_store::SqliteStore;

/// An approved release `web` on file providers, 1 s stages, 100 ms ticks, 1 s validation;
/// `edit` applied to ship.toml before the release is compiled.
fn approved_ws(edit: impl Fn(String) -> String) -> Ws {
    rollout_ws_with("1s", "100ms", edit)
}

fn db(ws: &Ws) -> SqliteStore {
    SqliteStore::open(&ws.path(".ship/state.db")).unwrap()
}

/// `ship rollout resume web` is refused saying `why`, no traffic moves, and `ship audit verify`
/// fails: both runs.
fn refused_and_caught(ws: &Ws, why: &str) -> (Run, Run) {
    let resume = ws.ship(&["rollout", "resume", "web"]);
    assert_ne!(resume.code, 0, "{}", resume.text());
    assert!(resume.text().contains(why), "{}", resume.text());
    assert!(!ws.path("weight").exists(), "no traffic was moved");
    let audit = ws.ship(&["audit", "verify"]);
    assert_eq!(audit.code, 1, "{}", audit.text());
    (resume, audit)
}

#[test]
fn a_plan_edited_in_the_state_database_is_refused_on_resume_and_by_audit_verify() {
    let ws = approved_ws(|c| c);
    // Recorded for a server to pick up, not started: the plan is in the database.
    ws.ship_exits(&[start("web"), vec!["--detach"]].concat(), 0);
    let plan: String = db(&ws)
        .connection()
        .query_row("SELECT plan FROM rollouts", [], |r| r.get(0))
        .unwrap();
    assert!(plan.contains("\"max_increase_pp\":1.0"), "{plan}");
    assert!(plan.contains("\"digest\":\"sha256:"), "{plan}");
    db(&ws)
        .connection()
        .execute_batch(
            "UPDATE rollouts SET plan = replace(plan, '\"max_increase_pp\":1.0', '\"max_increase_pp\":99.0')",
        )
        .unwrap();
    // A canary at 7 % errors that the edited plan would wave through.
    ws.write("metrics.json", &failing(7.0));

    let (resume, audit) = refused_and_caught(&ws, "will not be driven");
    let text = resume.text();
    assert!(
        text.contains("max_increase_pp: approved 1.0, recorded 99.0"),
        "{text}"
    );
    assert!(audit.text().contains("max_increase_pp"), "{}", audit.text());
    let j = ws.ship(&["audit", "verify", "--json"]).json();
    assert_eq!(j["ok"], false);
    assert!(j["problems"].as_array().unwrap().len() >= 2, "{j}");
}

#[test]
fn validation_decides_with_the_approved_margin_not_todays_ship_toml() {
    let ws = approved_ws(|c| c);
    // After approval: a 50 pp margin in ship.toml, and a canary failing 7 % of its requests
    // once it serves everyone.
    let cfg = ws.read("ship.toml").replace(
        "max_error_rate_increase = 1.0",
        "max_error_rate_increase = 50.0",
    );
    assert!(cfg.contains("max_error_rate_increase = 50.0"));
    ws.write("ship.toml", &cfg);
    ws.write("metrics-validation.json", &failing(7.0));

    let r = ws.ship(&start("web"));
    let text = r.text();
    assert!(text.contains("ship.toml changed after"), "{text}");
    assert!(text.contains("approved"), "{text}");
    let contract = ws.read("work/releases/2026-11-27-web.md");
    assert!(
        contract.contains("status: rolled-back"),
        "validation must fail on the approved 1 pp margin: {text}\n{contract}"
    );
    assert!(!contract.contains("status: shipped"), "{contract}");
    let log = ws.ship(&["audit", "log", "--json"]).json();
    let drift = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "settings-drift")
        .expect("the change of ship.toml is recorded");
    assert!(
        drift["data"]
            .to_string()
            .contains("max_increase_pp: approved 1.0, ship.toml now 50.0"),
        "{drift}"
    );
}

fn completed_ws() -> Ws {
    let ws = approved_ws(|c| c);
    ws.ship_exits(&start("web"), 0);
    let r = ws.ship_exits(&["audit", "verify", "--json"], 0);
    let j = r.json();
    assert!(j["anchors"].as_u64().unwrap() >= 4, "{j}");
    assert_eq!(j["anchors"], j["anchors_matched"]);
    assert_eq!(
        j["unanchored_events"], 0,
        "the final event is anchored: {j}"
    );
    ws
}

#[test]
fn the_last_event_deleted_is_missing_from_the_anchors() {
    let ws = completed_ws();
    db(&ws)
        .connection()
        .execute_batch(
            "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events);",
        )
        .unwrap();
    let r = ws.ship_exits(&["audit", "verify"], 1);
    r.text_has("are missing");
}

#[test]
fn an_emptied_or_deleted_database_fails_and_is_not_recreated() {
    let ws = completed_ws();
    let path = ws.path(".ship/state.db");
    std::fs::write(&path, b"").unwrap();
    let r = ws.ship_exits(&["audit", "verify"], 1);
    r.text_has("no event log");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "verify wrote to it"
    );

    std::fs::remove_file(&path).unwrap();
    let r = ws.ship_exits(&["audit", "verify"], 1);
    r.text_has("whole event log is missing");
    assert!(!path.exists(), "verify created a database");
}

/// The chain as `ship` computes it: SHA-256 over the previous hash and the columns, each
/// followed by a newline.
fn rehash(store: &SqliteStore) {
    let c = store.connection();
    c.execute_batch("DROP TRIGGER events_no_update;").unwrap();
    let rows: Vec<(i64, String, String, String, String)> = c
        .prepare("SELECT seq, at, release, kind, data FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = "0".repeat(64);
    for (seq, at, release, kind, data) in rows {
        let mut h = Sha256::new();
        for part in [prev.as_str(), &seq.to_string(), &at, &release, &kind, &data] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        let hash = hex(&h.finalize());
        c.execute(
            "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_chain_recomputed_after_an_edit_no_longer_matches_its_anchors() {
    let ws = completed_ws();
    let store = db(&ws);
    store
        .connection()
        .execute_batch(
            "DROP TRIGGER events_no_update; UPDATE events SET data = replace(data, 'every check passing', 'checks skipped') WHERE kind = 'decision';",
        )
        .unwrap();
    store
        .connection()
        .execute_batch(
            "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",
        )
        .unwrap();
    rehash(&store);
    drop(store);
    let r = ws.ship_exits(&["audit", "verify"], 1);
    let text = r.text();
    assert!(
        !text.contains("hash chain:"),
        "the chain itself is consistent: {text}"
    );
    assert!(text.contains("hash differs"), "{text}");
}

#[test]
fn a_state_edited_in_the_state_database_is_refused() {
    // The finding: a stage index and its elapsed time edited by hand skipped the canary.
    let ws = approved_ws(|c| c);
    ws.ship_exits(&[start("web"), vec!["--detach"]].concat(), 0);
    db(&ws)
        .connection()
        .execute_batch(
            "UPDATE rollouts SET state = json_set(state, '$.stage', 2, '$.weight', 50, '$.stage_elapsed_ms', 999999)",
        )
        .unwrap();
    let (_, audit) = refused_and_caught(&ws, "the state was edited");
    assert!(
        audit.text().contains("the state was edited"),
        "{}",
        audit.text()
    );
}

#[test]
fn a_rollout_whose_contract_lost_its_approval_is_not_driven() {
    // The finding: resubmitted after a change (approvals dropped), plan and first event
    // rewritten to match, chain recomputed — the rollout still ran to 100 %.
    let ws = approved_ws(|c| c);
    ws.ship_exits(&[start("web"), vec!["--detach"]].concat(), 0);
    let path = "work/releases/2026-11-27-web.md";
    ws.write(
        path,
        &ws.read(path)
            .replace("max_increase_pp: 1.0", "max_increase_pp: 99.0"),
    );
    ws.ship_exits(
        &["release", "submit", "web", "--as", "agent@example.com"],
        0,
    );
    refused_and_caught(&ws, "not approved");
}

#[test]
fn a_rollout_deleted_from_the_database_with_its_contract_is_missed() {
    let ws = completed_ws();
    std::fs::remove_file(ws.path("work/releases/2026-11-27-web.md")).unwrap();
    db(&ws)
        .connection()
        .execute_batch("DELETE FROM samples; DELETE FROM rollouts;")
        .unwrap();
    let r = ws.ship_exits(&["audit", "verify"], 1);
    let text = r.text();
    assert!(text.contains("no longer has it"), "{text}");
    assert!(text.contains("has no contract for it"), "{text}");
}
