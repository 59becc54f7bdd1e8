//! `ship signal new` and `ship signal list` with the built binary.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn people_write_signals_and_list_them_by_type() {
    let ws = Ws::with_contract();
    ws.ship_exits(
        &[
            "signal",
            "new",
            "--type",
            "customer-feedback",
            "--severity",
            "high",
            "--title",
            "Customers cannot find the saved card",
            "--release",
            "checkout-speedups",
            "--mission",
            "checkout",
            "--body",
            "# Saved cards\n\n12 tickets this week: ZD-1042, ZD-1057.\n",
        ],
        0,
    );
    let file = "work/signals/2026-11-27-customers-cannot-find-the-saved-card.md";
    let text = ws.read(file);
    assert!(text.contains("type: customer-feedback"), "{text}");
    assert!(
        text.contains("release: 2026-11-27-checkout-speedups"),
        "{text}"
    );
    assert!(text.contains("status: open"), "{text}");
    assert!(text.contains("ZD-1042"), "{text}");
    ws.ship_exits(
        &[
            "signal",
            "new",
            "--type",
            "process-friction",
            "--title",
            "Approvals wait a day",
        ],
        0,
    );

    let all = ws.ship(&["signal", "list", "--json"]).json();
    assert_eq!(all["signals"].as_array().unwrap().len(), 2, "{all}");
    let fb = ws
        .ship(&["signal", "list", "--type", "customer-feedback", "--json"])
        .json();
    assert_eq!(fb["signals"].as_array().unwrap().len(), 1, "{fb}");
    assert_eq!(fb["signals"][0]["file"], file);
    let r = ws.ship(&["signal", "list", "--type", "process-friction"]);
    r.stdout_has("Approvals wait a day");
    assert!(!r.stdout.contains("saved card"), "{}", r.stdout);

    // A broken signal is reported, never hides the others.
    ws.write(
        "work/signals/2026-11-27-broken.md",
        "---\ntitle: x\ntype: rumour\n---\n",
    );
    let r = ws.ship_exits(&["signal", "list"], 0);
    r.stderr_has("2026-11-27-broken.md");
    r.stdout_has("Approvals wait a day");
}

#[test]
fn bad_signal_input_is_refused_with_the_valid_values() {
    let ws = Ws::with_contract();
    let before = ws.snapshot();
    let r = ws.ship_exits(&["signal", "new", "--type", "rumour", "--title", "x"], 2);
    r.text_has("customer-feedback");
    ws.ship_exits(
        &[
            "signal",
            "new",
            "--type",
            "incident",
            "--severity",
            "huge",
            "--title",
            "x",
        ],
        2,
    );
    ws.ship_exits(
        &[
            "signal",
            "new",
            "--type",
            "incident",
            "--title",
            "x",
            "--release",
            "nope",
        ],
        2,
    );
    assert_eq!(ws.snapshot(), before, "nothing written");
}
