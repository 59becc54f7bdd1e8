//! A data-integrity check is judged by how its command ended, never by what it printed
//! (issue 16): one that exits non-zero has failed — the immediate rollback — even when its
//! output says "timed out"; one that really times out is a source error, handled as every
//! metric error is (rollout.error_limit ticks in a row), never the check's answer.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// A workspace whose approved release `web` names `[integrity.orders]` (running `command`
/// under `timeout`) as its data-integrity trigger; 3 s stages, 100 ms ticks, file providers.
fn ws_with_integrity(command: &str, timeout: &str) -> Ws {
    let ws = Ws::init();
    let cfg = ws
        .read("ship.toml")
        .replace(
            "data_integrity_check = \"\"",
            "data_integrity_check = \"orders\"",
        )
        .replace("canary_duration = \"10m\"", "canary_duration = \"3s\"")
        .replace(
            "early_adopter_duration = \"30m\"",
            "early_adopter_duration = \"3s\"",
        )
        .replace("ga_duration = \"1h\"", "ga_duration = \"3s\"")
        .replace("tick_interval = \"auto\"", "tick_interval = \"100ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"100ms\"")
        .replace("min_samples = 50", "min_samples = 10")
        + &format!("\n[integrity.orders]\ncommand = {command:?}\ntimeout = \"{timeout}\"\n");
    let cfg = file_providers(&cfg, "", "cat metrics.json");
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    ws
}

#[test]
fn a_failing_check_that_prints_timed_out_rolls_back_at_once() {
    let ws = ws_with_integrity(
        "echo 'orders: lock wait timed out; 3 orders unbalanced' >&2; exit 1",
        "5s",
    );
    let r = ws.ship_exits(&start("web"), 1);
    assert!(
        r.stdout.contains("data-integrity check `orders` failed"),
        "{}",
        r.text()
    );
    assert!(
        r.stdout.contains("automatic rollback (data-integrity)"),
        "{}",
        r.text()
    );
    assert!(!r.stdout.contains("metric errors"), "{}", r.text());
    assert_eq!(ws.read("weight").trim(), "0");
}

#[test]
fn a_check_that_really_times_out_is_a_source_error_not_a_failure() {
    let ws = ws_with_integrity("sleep 5", "200ms");
    let r = ws.ship(&start("web"));
    assert!(
        !r.stdout.contains("data-integrity check `orders` failed"),
        "a timeout is not the check's answer: {}",
        r.text()
    );
    assert!(
        !r.stdout.contains("automatic rollback (data-integrity)"),
        "{}",
        r.text()
    );
    assert!(
        r.stdout.contains("consecutive ticks with metric errors")
            && r.stdout
                .contains("integrity/orders: `sleep 5` timed out after 200ms"),
        "a source error, as any metric's: {}",
        r.text()
    );
}
