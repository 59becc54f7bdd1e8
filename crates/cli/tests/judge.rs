//! The judge on the real path: ship's proxy in front of two `ship-sample` versions that fail at
//! random, 20 requests a second, short stages; and `ship judge replay` on traces.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::{
    builtin_config_with, proxy_listen, set_all, ship_env, start_proxy, ADMIN_TOKEN,
};
use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exactly `per_sec` requests a second through the proxy (on a schedule, whatever each one
/// takes), each from a new user, until the flag is set.
fn paced(front: SocketAddr, per_sec: u64) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) {
            n += 1;
            let due = started + Duration::from_micros(n * 1_000_000 / per_sec);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let _ = servers::http("GET", &format!("http://{front}/checkout?u={n}"), None);
        }
    });
    stop
}

/// An approved release `web` through ship's proxy: v1 fails 1 % of requests at random, v2
/// `v2_rate`; stages of 5 s at 50 %, 75 % and 90 % (the traffic of a small service gathers
/// its evidence faster at a larger weight), the error-rate margin 2 pp, the judge's
/// defaults otherwise (α 1 %, β 5 %, a 1 s tick).
fn random_failures(v2_rate: f64) -> (Ws, common::builtin::Proxy) {
    let (ws, _, _) = builtin_config_with(
        "--error-rate 0.01 --random-errors --seed 11",
        &format!("--error-rate {v2_rate} --random-errors --seed 23"),
        "",
    );
    set_all(
        &ws,
        &[
            ("stages", "canary_percentage", "50"),
            ("stages", "early_adopter_percentage", "75"),
            ("stages", "ga_percentage", "90"),
            ("stages", "canary_duration", "\"5s\""),
            ("stages", "early_adopter_duration", "\"5s\""),
            ("stages", "ga_duration", "\"5s\""),
            ("rollback", "max_error_rate_increase", "2.0"),
            ("rollout", "tick_interval", "\"auto\""),
            ("rollout", "max_tick_gap", "\"5s\""),
            ("rollout", "max_hold", "\"4m\""),
        ],
    );
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    let proxy = start_proxy(&ws, proxy_listen(&ws));
    (ws, proxy)
}

/// Runs `ship rollout start web` and returns its output, killing it after `limit`.
fn roll_out(ws: &Ws, limit: Duration) -> Run {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ship"))
        .arg("-C")
        .arg(ws.root())
        .args(start("web"))
        .env("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// A rollout of [`random_failures`] (`v2_rate`) under 20 requests a second, within `limit`:
/// the workspace, its proxy, how `ship rollout start` ended, and `rollout status --json` after it.
fn roll_out_at_20_a_second(
    v2_rate: f64,
    limit: Duration,
) -> (Ws, common::builtin::Proxy, Run, serde_json::Value) {
    let (ws, proxy) = random_failures(v2_rate);
    let stop = paced(proxy.listen, 20);
    let r = roll_out(&ws, limit);
    stop.store(true, Ordering::Relaxed);
    let s = ship_env(&ws, &[], &["--json", "rollout", "status", "web"]).json();
    (ws, proxy, r, s)
}

#[test]
fn two_versions_failing_one_percent_at_random_ship_at_20_requests_a_second() {
    let (_ws, proxy, r, s) = roll_out_at_20_a_second(0.01, Duration::from_secs(480));
    assert_eq!(r.code, 0, "completed and validated: {}", r.text());
    // Every promotion was on evidence: the counts ruled a 2 pp regression out.
    let promotions: Vec<&serde_json::Value> = s["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "promote" || d["kind"] == "complete")
        .collect();
    assert_eq!(promotions.len(), 3, "{s}");
    for d in promotions {
        let error_rate = d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "trigger:error-rate")
            .unwrap();
        assert_eq!(error_rate["outcome"], "pass", "{d}");
        assert!(
            error_rate["detail"]
                .as_str()
                .unwrap()
                .contains("below the 2 pp margin with 95 % confidence"),
            "{d}"
        );
    }
    assert!(!s.to_string().contains("\"kind\":\"rollback\""), "{s}");
    drop(proxy);
}

#[test]
fn a_canary_failing_six_percent_at_random_is_rolled_back_naming_the_counts() {
    let (_ws, proxy, r, s) = roll_out_at_20_a_second(0.06, Duration::from_secs(300));
    assert_eq!(r.code, 1, "rolled back: {}", r.text());
    let rollback = s["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "rollback")
        .cloned()
        .unwrap_or_else(|| panic!("no rollback: {s}"));
    assert_eq!(rollback["rollback_cause"], "error-rate", "{rollback}");
    let reason = rollback["reason"].as_str().unwrap();
    // "automatic rollback (error-rate): canary errors 31/412 (7.52 %) vs stable 4/390 (1.03 %):
    // +6.50 pp, above the 2 pp margin with 99 % confidence"
    assert!(
        reason.starts_with("automatic rollback (error-rate): canary errors "),
        "{reason}"
    );
    assert!(reason.contains(" vs stable "), "{reason}");
    assert!(
        reason.ends_with("above the 2 pp margin with 99 % confidence"),
        "{reason}"
    );
    let counts = reason
        .trim_start_matches("automatic rollback (error-rate): canary errors ")
        .split(' ')
        .next()
        .unwrap();
    let (errors, requests) = counts.split_once('/').unwrap();
    let (errors, requests): (u64, u64) = (
        errors.replace(',', "").parse().unwrap(),
        requests.replace(',', "").parse().unwrap(),
    );
    assert!(requests > 0 && errors * 100 > 3 * requests, "{reason}");
    assert_eq!(servers::versions(proxy.listen, 10), vec!["v1"]);
    drop(proxy);
}

const HEADER: &str = "t,stable_requests,stable_errors,canary_requests,canary_errors\n";

#[test]
fn replay_says_what_the_judge_would_have_done_with_a_trace() {
    let ws = Ws::init();
    // 10 s intervals at 200 req/s, 5 % to a canary failing 10 % from t=60 on.
    let mut trace = String::from(HEADER);
    for i in 1..=30 {
        let canary_errors = if i > 6 { 10 } else { 0 };
        trace.push_str(&format!("{},1900,2,100,{canary_errors}\n", i * 10));
    }
    ws.write("trace.csv", &trace);
    let r = ws.ship(&["--json", "judge", "replay", "trace.csv"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let j = r.json();
    assert_eq!(j["verdict"], "rollback", "{j}");
    assert_eq!(j["trigger"], "error-rate", "{j}");
    let at = j["at"].as_f64().unwrap();
    assert!((70.0..=120.0).contains(&at), "{j}");
    assert!(
        j["detail"]
            .as_str()
            .unwrap()
            .contains("above the 1 pp margin with 99 % confidence"),
        "{j}"
    );
    let errors = j["canary_errors_before_decision"].as_u64().unwrap();
    assert_eq!(errors, ((at as u64) / 10 - 6) * 10, "{j}");
    // Without --json: each change of verdict, then the decision.
    let r = ws.ship(&["judge", "replay", "trace.csv"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(
        r.stdout.contains("judging the trace as the canary stage"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("error-rate   regression"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("rollback at t={at} (error-rate)")),
        "{}",
        r.stdout
    );
}

#[test]
fn replay_promotes_a_healthy_trace_and_holds_a_thin_one() {
    let ws = Ws::init();
    let mut healthy = String::from(HEADER);
    for i in 1..=60 {
        healthy.push_str(&format!("{},1900,10,100,0\n", i * 10));
    }
    ws.write("healthy.csv", &healthy);
    let j = ws
        .ship(&["--json", "judge", "replay", "healthy.csv"])
        .json();
    assert_eq!(j["verdict"], "promote", "{j}");
    assert_eq!(j["at"], 600.0, "{j}");
    let mut thin = String::from(HEADER);
    for i in 1..=10 {
        thin.push_str(&format!("{},19,0,1,0\n", i * 60));
    }
    ws.write("thin.csv", &thin);
    let j = ws.ship(&["--json", "judge", "replay", "thin.csv"]).json();
    assert_eq!(j["verdict"], "inconclusive", "{j}");
    assert_eq!(j["trigger"], "error-rate", "{j}");
}

#[test]
fn a_malformed_trace_is_refused_with_its_line_and_column() {
    let ws = Ws::init();
    ws.write(
        "bad.csv",
        &format!("{HEADER}10,100,0,5,0\n20,100,0,5,lots\n"),
    );
    let r = ws.ship(&["judge", "replay", "bad.csv"]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(
        r.text()
            .contains("bad.csv:3:5: canary_errors \"lots\" is not a count"),
        "{}",
        r.text()
    );
    let r = ws.ship(&["--json", "judge", "replay", "missing.csv"]);
    assert_eq!(r.code, 2, "{}", r.text());
    let r = ws.ship(&["judge", "replay", "bad.csv", "--stage", "nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.text()
            .contains("no stage \"nope\": the plan's stages are canary, early-adopters, ga, full"),
        "{}",
        r.text()
    );
}
