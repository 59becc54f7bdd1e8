//! `ship release new --stage …` (stages overridden for one release) and `ship release withdraw`.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// A workspace on file providers with 100 ms ticks, a 1 s validation window and ship.toml's
/// stages left at 10m/30m/1h, with two PASS verdicts.
fn workspace() -> Ws {
    let ws = Ws::init();
    let cfg = ws
        .read("ship.toml")
        .replace("tick_interval = \"auto\"", "tick_interval = \"100ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"100ms\"")
        .replace("min_samples = 50", "min_samples = 10")
        .replace("window = \"30m\"", "window = \"1s\"");
    ws.write("ship.toml", &file_providers(&cfg, "", "cat metrics.json"));
    ws.write("metrics.json", HEALTHY);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.verdict("v-pass-2", "PASS", "Saved cards");
    ws
}

#[test]
fn stages_given_at_compilation_are_approved_and_rolled_out() {
    let ws = workspace();
    for (bad, says) in [
        (&["--stage", "canary=30%"][..], "must increase"),
        (&["--stage", "full=1m"], "not one of"),
        (&["--stage", "canary=100%"], "between 1 and 99"),
        (&["--stage", "ga=soon"], "neither a percentage"),
        (&["--stage", "ga=1m", "--stage", "ga=60%"], "twice"),
    ] {
        let mut args = vec!["release", "new", "web"];
        args.extend_from_slice(bad);
        let r = ws.ship(&args);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.text());
        assert!(r.text().contains(says), "{bad:?}: {}", r.text());
    }
    assert!(!ws.path("work/releases/2026-11-27-web.md").exists());

    let r = ws.ship_exits(
        &[
            "release",
            "new",
            "web",
            "--stage",
            "canary=10%:1s",
            "--stage",
            "early-adopters=30%:1s",
            "--stage",
            "ga=1s:60%",
        ],
        0,
    );
    r.stdout_has(
        "stages (--stage): canary 10 % for 1s, early-adopters 30 % for 1s, ga 60 % for 1s",
    );
    let contract = ws.read("work/releases/2026-11-27-web.md");
    assert!(
        contract.contains("| 1 Internal / Canary | 10 % | 1s |"),
        "{contract}"
    );
    assert!(
        contract.contains("set for this release with --stage (ship.toml: 5 %, 10m)"),
        "{contract}"
    );
    let alice = ws.key("alice", "alice@example.com", true);
    ws.submit_and_approve_release("web", &alice);
    let r = ws.ship_exits(&start("web"), 0);
    // The stages as given, then 100 % (and the promotion, which sets 100 again).
    assert!(
        ws.read("weights.log").starts_with("10\n30\n60\n100\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_draft_or_pending_release_is_withdrawn_and_its_name_compiled_again() {
    let ws = workspace();
    ws.ship_exits(&["release", "new", "web"], 0);
    ws.ship_exits(
        &["release", "submit", "web", "--as", "agent@example.com"],
        0,
    );
    let r = ws.ship(&["release", "withdraw", "web", "--as", "agent@example.com"]);
    assert_eq!(r.code, 2, "--reason is required: {}", r.text());
    let r = withdraw(&ws, "agent@example.com", "wrong verdicts picked");
    assert_eq!(r.code, 0, "{}", r.text());
    for want in [
        "Withdrew 2026-11-27-web (pending-approval) as agent@example.com: wrong verdicts picked",
        "kept as work/releases/2026-11-27-web.withdrawn-1.md — status cancelled",
        "`ship release new web`",
    ] {
        assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
    }
    assert!(!ws.path("work/releases/2026-11-27-web.md").exists());
    let kept = ws.read("work/releases/2026-11-27-web.withdrawn-1.md");
    assert!(kept.contains("status: cancelled"), "{kept}");
    assert!(
        kept.contains("Withdrawn by agent@example.com at 2026-11-27 10:00:00Z (it was pending-approval, as 2026-11-27-web): wrong verdicts picked"),
        "{kept}"
    );
    let log = ws.ship(&["audit", "log"]);
    assert!(log.stdout.contains("release-withdrawn"), "{}", log.text());
    assert_eq!(ws.ship(&["audit", "verify"]).code, 0);
    let r = ws.ship_exits(&["release", "verify", "2026-11-27-web.withdrawn-1"], 1);
    assert!(r.stdout.starts_with("withdrawn: "), "{}", r.stdout);
    assert!(ws.read("STATUS.md").contains("2026-11-27-web.withdrawn-1"));

    // The same name, the same day: compiled again, with the same changes (they are free).
    let r = ws.ship_exits(&["release", "new", "web"], 0);
    r.stdout_has("changes (2)");
    // A draft is withdrawn too, and the next one is kept under the next number.
    let r = withdraw(&ws, "a@example.com", "again");
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(ws
        .path("work/releases/2026-11-27-web.withdrawn-2.md")
        .exists());
    let j = ws.ship(&["release", "list", "--json"]).json();
    assert_eq!(j["releases"].as_array().map(|a| a.len()), Some(2), "{j}");

    // Approved: refused, nothing changes.
    ws.ship_exits(
        &[
            "release",
            "new",
            "web",
            "--stage",
            "canary=1s",
            "--stage",
            "early-adopters=1s",
            "--stage",
            "ga=1s",
        ],
        0,
    );
    let alice = ws.key("alice", "alice@example.com", true);
    ws.submit_and_approve_release("web", &alice);
    let before = ws.snapshot();
    let r = withdraw(&ws, "a@example.com", "late");
    assert_eq!(r.code, 1, "{}", r.text());
    r.text_has("is approved");
    assert_eq!(ws.snapshot(), before);
    // Shipped: refused too.
    ws.ship_exits(&start("web"), 0);
    let r = withdraw(&ws, "a@example.com", "late");
    assert_eq!(r.code, 1, "{}", r.text());
    r.text_has("is shipped");
}

/// `ship release withdraw web` by `by`, for `reason`.
fn withdraw(ws: &Ws, by: &str, reason: &str) -> Run {
    ws.ship(&["release", "withdraw", "web", "--as", by, "--reason", reason])
}

/// The on-call gate's status in `ship check --json`.
fn oncall_status(ws: &Ws, release: &str) -> String {
    let j = ws.ship(&["check", release, "--json"]).json();
    j["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "oncall"))
        .map(|g| g["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no oncall gate: {j}"))
}

#[test]
fn evidence_gathered_before_a_withdrawal_does_not_count_for_the_release_compiled_again() {
    let ws = workspace();
    let cfg = ws.read("ship.toml").replacen(
        "notify_command = \"\"",
        "notify_command = \"echo {release} >> oncall-inbox.txt\"",
        1,
    );
    ws.write("ship.toml", &cfg);
    assert_eq!(ws.ship(&["release", "new", "web"]).code, 0);
    // The first check notifies on-call; once acknowledged, the gate passes.
    assert_eq!(oncall_status(&ws, "web"), "fail");
    ws.ship_exits(&["oncall", "ack", "web", "--as", "bob@example.com"], 0);
    assert_eq!(oncall_status(&ws, "web"), "pass");
    let r = withdraw(&ws, "agent@example.com", "stages too long");
    assert_eq!(r.code, 0, "{}", r.text());
    // The contract compiled again under the same id is a new release: on-call hears of it
    // again and must acknowledge it again.
    assert_eq!(ws.ship(&["release", "new", "web"]).code, 0);
    // Nobody can acknowledge what on-call has not been told about yet.
    let r = ws.ship_exits(&["oncall", "ack", "web", "--as", "bob@example.com"], 1);
    r.text_has("not been notified yet");
    assert_eq!(oncall_status(&ws, "web"), "fail");
    let inbox = ws.read("oncall-inbox.txt");
    assert_eq!(inbox.lines().count(), 2, "{inbox}");
}
