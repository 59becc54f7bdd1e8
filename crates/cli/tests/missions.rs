//! `ship mission new` and `ship mission show` with the built binary.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn a_mission_gets_its_outcome_contract_once_and_shows_its_schedule() {
    let ws = Ws::init();
    ws.ship_exits(&["mission", "new", "checkout"], 0);
    let file = "work/missions/checkout/OUTCOME-CONTRACT.md";
    let text = ws.read(file);
    assert!(text.contains("mission: checkout"), "{text}");
    assert!(!text.contains("MISSION-NAME"), "{text}");
    let r = ws.ship_exits(&["mission", "new", "checkout"], 2);
    r.text_has("never overwrites");
    assert_eq!(ws.read(file), text);

    let j = ws.ship(&["mission", "show", "checkout", "--json"]).json();
    assert_eq!(j["metrics"][0]["name"], "conversion-rate", "{j}");
    // The checkpoints are dated from the day the mission is created (SHIP_NOW, 2026-11-27).
    let dates: Vec<(String, String)> = j["measurement_schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().into(),
                k["date"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        dates,
        [
            ("launch".to_string(), "2026-11-27".to_string()),
            ("week-1".into(), "2026-12-04".into()),
            ("day-30".into(), "2026-12-27".into())
        ],
        "{j}"
    );
    assert_eq!(j["due"], serde_json::json!(["launch"]), "{j}");
    ws.write(file, &text.replace("date: 2026-12-04", "date: 2026-11-20"));
    let r = ws.ship_exits(&["mission", "show", "checkout"], 0);
    r.stdout_has("week-1       2026-11-20  due");
    r.stdout_has(">= 0.031, baseline 0.028");
}

#[test]
fn broken_or_misplaced_outcome_contracts_name_file_and_line() {
    let ws = Ws::init();
    assert_eq!(ws.ship(&["mission", "new", "Bad Name"]).code, 2);
    let r = ws.ship_exits(&["mission", "show", "nowhere"], 2);
    r.text_has("ship mission new nowhere");
    assert_eq!(ws.ship(&["mission", "new", "search"]).code, 0);
    let file = "work/missions/search/OUTCOME-CONTRACT.md";
    let text = ws.read(file);
    ws.write(
        file,
        &text.replace("comparison: '>='", "comparison: 'sometimes'"),
    );
    let r = ws.ship_exits(&["mission", "show", "search", "--json"], 2);
    let e = r.json();
    assert!(e["error"]["file"].as_str().unwrap().ends_with(file), "{e}");
    assert!(e["error"]["line"].as_u64().unwrap() > 1, "{e}");
    ws.write(file, &text.replace("mission: search", "mission: checkout"));
    let r = ws.ship_exits(&["mission", "show", "search"], 2);
    r.text_has("folder of `search`");
}

#[test]
fn status_shows_releases_missions_signals_and_stale_flags() {
    let ws = Ws::with_contract();
    assert_eq!(ws.ship(&["mission", "new", "checkout"]).code, 0);
    ws.ship_exits(
        &[
            "signal",
            "new",
            "--type",
            "performance",
            "--title",
            "Search p99 creeping up",
        ],
        0,
    );
    ws.write(
        "work/flags.yaml",
        "flags:\n- name: old-banner\n  owner: bob@example.com\n  type: experiment\n  default: true\n  created: 2026-09-01\n  cleanup_by: 2026-10-01\n",
    );
    let j = ws.ship(&["status", "--json"]).json();
    assert_eq!(j["releases"]["draft"], 1, "{j}");
    assert_eq!(j["missions"][0]["mission"], "checkout");
    assert_eq!(j["missions"][0]["next_checkpoint"]["name"], "launch");
    assert_eq!(j["open_signals"][0]["type"], "performance");
    assert_eq!(j["stale_flags"][0]["flag"], "old-banner");
    let r = ws.ship_exits(&["status"], 0);
    for want in [
        "Releases: 1 (draft 1)",
        "checkout                 ship: next checkpoint launch on 2026-11-27",
        "Search p99 creeping up",
        "old-banner",
    ] {
        assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
    }
}

#[test]
fn a_release_for_a_mission_is_linked_in_its_outcome_contract() {
    let ws = Ws::init();
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    assert_eq!(ws.ship(&["mission", "new", "checkout"]).code, 0);
    let r = ws.ship_exits(&["release", "new", "speedups", "--mission", "checkout"], 0);
    r.stdout_has("linked in work/missions/checkout/OUTCOME-CONTRACT.md");
    let j = ws.ship(&["mission", "show", "checkout", "--json"]).json();
    let text = ws.read("work/missions/checkout/OUTCOME-CONTRACT.md");
    assert!(text.contains("- 2026-11-27-speedups"), "{text}\n{j}");
    // A broken outcome contract stops the compile with nothing written.
    ws.verdict("v-pass-2", "PASS", "Saved cards");
    ws.write(
        "work/missions/checkout/OUTCOME-CONTRACT.md",
        "---\nmission: [\n---\n",
    );
    let before = ws.snapshot();
    ws.ship_exits(&["release", "new", "cards", "--mission", "checkout"], 2);
    assert_eq!(ws.snapshot(), before);
}
