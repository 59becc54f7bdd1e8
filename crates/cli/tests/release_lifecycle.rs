//! `ship release new --stage …` (stages overridden for one release) and `ship release withdraw`.

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

    let r = ws.ship(&[
        "release",
        "new",
        "web",
        "--stage",
        "canary=10%:1s",
        "--stage",
        "early-adopters=30%:1s",
        "--stage",
        "ga=1s:60%",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(
        r.stdout.contains(
            "stages (--stage): canary 10 % for 1s, early-adopters 30 % for 1s, ga 60 % for 1s"
        ),
        "{}",
        r.stdout
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
    let r = ws.ship(&["release", "submit", "web", "--as", "agent@example.com"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let r = ws.ship(&[
        "release",
        "approve",
        "web",
        "--key",
        alice.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 0, "{}", r.text());
    // The stages as given, then 100 % (and the promotion, which sets 100 again).
    assert!(
        ws.read("weights.log").starts_with("10\n30\n60\n100\n"),
        "{}",
        r.stdout
    );
}
