//! The set-up the controller's tests share: an approved release in a fresh workspace, and
//! scripted metrics.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use shiploop_rollout::measure::{self, Measurement};
use shiploop_rollout::Observation;
use shiploop_workspace::{NewOptions, Workspace};
use std::process::Command;

/// Counts since the stage began, the same at every tick (the judge counts each stage's first
/// reading and nothing after): 20,000 canary requests with `canary_errors` errors, 100,000
/// stable ones with 0.1 % errors.
pub fn counts(canary_errors: f64) -> Observation {
    let mut o = Observation::new();
    let n = |x: f64| Measurement::value(x, 1);
    o.insert(measure::requests("canary"), n(20_000.0));
    o.insert(measure::errors("canary"), n(canary_errors));
    o.insert(measure::requests("stable"), n(100_000.0));
    o.insert(measure::errors("stable"), n(100.0));
    o.insert(measure::CANARY_SLOW.into(), n(0.0));
    o.insert(measure::CANARY_SLOW_TARGET.into(), n(0.0));
    o.insert(
        measure::CANARY_FAILED_INSTANCES.into(),
        Measurement::value(0.0, 3),
    );
    o.insert(
        measure::CRITICAL_SECURITY_ALERTS.into(),
        Measurement::value(0.0, 1),
    );
    o
}

/// A healthy canary: 0.1 % errors, like stable.
pub fn healthy() -> Observation {
    counts(20.0)
}

/// `s` seconds after the tests' epoch.
pub fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + CDuration::seconds(s)
}

/// An initialised workspace with 10 s stages, 1 s ticks and an approved release `web`.
pub fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    shiploop_workspace::init(dir.path()).unwrap();
    let root = dir.path();
    let cfg = std::fs::read_to_string(root.join("ship.toml"))
        .unwrap()
        .replace("canary_duration = \"10m\"", "canary_duration = \"10s\"")
        .replace(
            "early_adopter_duration = \"30m\"",
            "early_adopter_duration = \"10s\"",
        )
        .replace("ga_duration = \"1h\"", "ga_duration = \"10s\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"1s\"")
        .replace("tick_interval = \"auto\"", "tick_interval = \"1s\"");
    std::fs::write(root.join("ship.toml"), cfg).unwrap();
    std::fs::write(
        root.join("work/evaluations/v1.md"),
        "---\nid: v1\nverdict: PASS\nsummary: Faster\n---\nok\n",
    )
    .unwrap();
    let key = root.join("alice");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen must be installed")
        .success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        root.join("work/allowed_signers"),
        format!("alice@example.com {}\n", fields.join(" ")),
    )
    .unwrap();
    let ws = Workspace::open(root).unwrap();
    ws.release_new("web", &NewOptions::default(), t(0)).unwrap();
    ws.submit("web", "agent@example.com", t(0)).unwrap();
    ws.approve_with_key("web", &key, None, None, t(0)).unwrap();
    (dir, ws)
}
