//! `ship release list` with one unreadable contract (issue 16): the others are listed and the
//! broken one is named with its error — on stderr, or under `unreadable` with --json — and the
//! exit code is 0, as `ship status` does.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// A workspace with two releases, the second one's contract broken (an unknown status).
fn ws_with_a_broken_contract() -> (Ws, String) {
    let ws = Ws::with_contract();
    ws.verdict("v-pass-3", "PASS", "Gift cards");
    ws.ship_exits(&["release", "new", "gift-cards"], 0);
    let broken = "work/releases/2026-11-27-gift-cards.md".to_string();
    let text = ws.read(&broken);
    assert!(text.contains("status: draft"), "{text}");
    ws.write(
        &broken,
        &text.replacen("status: draft", "status: sideways", 1),
    );
    (ws, broken)
}

#[test]
fn one_unreadable_contract_is_named_and_hides_nothing() {
    let (ws, broken) = ws_with_a_broken_contract();
    let r = ws.ship_exits(&["release", "list"], 0);
    assert!(
        r.stdout.contains(ID),
        "the readable one is listed: {}",
        r.text()
    );
    assert!(
        !r.stdout.contains("gift-cards"),
        "the broken one is not in the table: {}",
        r.stdout
    );
    let warning = r
        .stderr
        .lines()
        .find(|l| l.contains(&broken))
        .unwrap_or_else(|| panic!("not named on stderr: {}", r.stderr));
    assert!(warning.contains("unreadable"), "{warning}");
    assert!(warning.contains("sideways"), "says why: {warning}");
}

#[test]
fn json_lists_the_readable_ones_and_the_unreadable_ones_apart() {
    let (ws, broken) = ws_with_a_broken_contract();
    let r = ws.ship_exits(&["release", "list", "--json"], 0);
    let v = r.json();
    let ids: Vec<&str> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![ID]);
    let bad = v["unreadable"].as_array().unwrap();
    assert_eq!(bad.len(), 1, "{v}");
    assert_eq!(bad[0]["file"], broken.as_str());
    let error = bad[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{broken}:")) && error.contains("sideways"),
        "names file, line and why: {error}"
    );
}

#[test]
fn with_every_contract_readable_nothing_is_reported() {
    let ws = Ws::with_contract();
    let r = ws.ship_exits(&["release", "list"], 0);
    assert!(r.stdout.contains(ID), "{}", r.text());
    assert_eq!(r.stderr, "");
    let v = ws.ship(&["release", "list", "--json"]).json();
    assert_eq!(v["unreadable"], serde_json::json!([]));
}
