//! Rollouts end to end with the built binary: the command router writes weights to files, the
//! command metric source reads files (one per stage when present).

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::{Duration, Instant};

/// A workspace whose stages last `stage` each, ticking every `tick`, with an approved release
/// `web` compiled from two PASS verdicts.
fn rollout_ws(stage: &str, tick: &str) -> Ws {
    rollout_ws_with(stage, tick, |t| t)
}

/// The same with 3 s stages and 100 ms ticks, and `edit` applied to ship.toml first.
fn rollout_ws_from(edit: impl Fn(String) -> String) -> Ws {
    rollout_ws_with("3s", "100ms", edit)
}

fn weights(ws: &Ws) -> Vec<u32> {
    let mut out: Vec<u32> = vec![];
    for w in ws
        .read("weights.log")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
    {
        if out.last() != Some(&w) {
            out.push(w);
        }
    }
    out
}

#[test]
fn a_healthy_release_reaches_100_through_every_stage() {
    let ws = rollout_ws("1s", "100ms");
    let r = ws.ship_exits(&[start("web"), vec!["--json"]].concat(), 0);
    let j = r.json();
    assert_eq!(j["outcome"]["outcome"], "completed");
    assert_eq!(j["weights"], serde_json::json!([5, 25, 50, 100]));
    assert_eq!(weights(&ws), vec![5, 25, 50, 100]);
    assert_eq!(ws.read("weight").trim(), "100");
    // The contract records the milestones without breaking its approval.
    assert_eq!(j["validation"]["result"], "passed", "{j}");
    ws.assert_web_contract_has(&[
        "status: shipped",
        "Result: **passed**",
        "| complete | full | 100 % |",
    ]);
    assert_eq!(ws.ship(&["release", "verify", "web"]).code, 0);
    let s = ws.ship(&["rollout", "status", "web", "--json"]).json();
    assert_eq!(s["state"]["phase"]["phase"], "completed");
    assert_eq!(ws.ship(&["audit", "verify"]).code, 0);
    // Starting a finished rollout again changes nothing.
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 0);
    r.stdout_has("already ended");
    assert_eq!(weights(&ws), vec![5, 25, 50, 100]);
}

#[test]
fn an_unhealthy_release_is_rolled_back_in_the_stage_where_it_turns_bad() {
    let ws = rollout_ws("1s", "100ms");
    ws.write("metrics-ga.json", &failing(8.0));
    let r = ws.ship_exits(&start("web"), 1);
    r.stdout_has("ROLLED BACK");
    r.stdout_has("canary errors 1,600/20,000 (8.00 %) vs stable 100/100,000 (0.10 %): +7.90 pp, above the 1 pp margin with 99 % confidence");
    assert_eq!(weights(&ws), vec![5, 25, 50, 0]);
    assert_eq!(ws.read("weight").trim(), "0");
    let s = ws.ship(&["rollout", "status", "web", "--json"]).json();
    assert_eq!(s["state"]["phase"]["phase"], "rolled-back");
    assert_eq!(s["state"]["stage"], 2, "rolled back in the GA stage");
    let signals: Vec<_> = ws.signals(".md");
    assert_eq!(signals.len(), 1, "{signals:?}");
    let text = std::fs::read_to_string(&signals[0]).unwrap();
    assert!(text.contains("type: incident"), "{text}");
    assert!(text.contains("event: rollback:2026-11-27-web"), "{text}");
    assert!(text.contains("trigger:error-rate | Fail"), "{text}");
    assert!(ws
        .read("work/releases/2026-11-27-web.md")
        .contains("status: rolled-back"));
}

#[test]
fn only_approved_releases_start() {
    let ws = rollout_ws("1s", "100ms");
    ws.verdict("v-pass-3", "PASS", "Gift cards");
    assert_eq!(ws.ship(&["release", "new", "draft-one"]).code, 0);
    let r = ws.ship_exits(&start("draft-one"), 1);
    r.stderr_has("may not start");
    assert!(!ws.path("weights.log").exists(), "nothing was routed");
}

#[test]
fn operators_pause_promote_and_abort() {
    let ws = rollout_ws("30s", "100ms");
    let mut child = start_driven(&ws);
    // While it runs, commands are queued for it.
    let r = ws.ship_exits(
        &["rollout", "pause", "web", "--reason", "looking at a ticket"],
        0,
    );
    r.stdout_has("queued");
    ws.ship_exits(
        &[
            "rollout",
            "promote",
            "web",
            "--reason",
            "internal users are happy",
        ],
        0,
    );
    std::thread::sleep(Duration::from_millis(600));
    ws.ship_exits(
        &[
            "rollout",
            "abort",
            "web",
            "--reason",
            "customer reports of broken checkout",
        ],
        0,
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "rolled back");
    assert_eq!(weights(&ws), vec![5, 25, 0]);
    let log = ws.ship(&["audit", "log", "--release", "web"]).stdout;
    assert!(
        log.contains("paused: looking at a ticket") || log.contains("pause"),
        "{log}"
    );
    assert!(
        log.contains("promoted by an operator: internal users are happy"),
        "{log}"
    );
    assert!(
        log.contains("manual rollback: customer reports of broken checkout"),
        "{log}"
    );
    // A finished rollout refuses further commands.
    ws.ship_exits(&["rollout", "promote", "web", "--reason", "x"], 1);
}

#[test]
fn sigkill_at_random_instants_then_resume_gives_the_uninterrupted_result() {
    // The uninterrupted reference run.
    let reference = rollout_ws("1s", "100ms");
    assert_eq!(reference.ship(&start("web")).code, 0);
    let expected = weights(&reference);
    assert_eq!(expected, vec![5, 25, 50, 100]);

    let ws = rollout_ws("1s", "100ms");
    // The kill instants are random: the seed is printed, SHIP_TEST_SEED=<n> replays them.
    let seed = shiploop_testkit::seed("the kill instants");
    let replay = format!("replay with SHIP_TEST_SEED={seed}");
    let mut rng = shiploop_testkit::Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kills = 0;
    let mut final_code = None;
    while final_code.is_none() && Instant::now() < deadline {
        // `resume` once the rollout is recorded; `start` again if a kill came before that.
        let recorded = ws.ship(&["rollout", "status", "web"]).code == 0;
        let args = if recorded {
            vec!["rollout", "resume", "web"]
        } else {
            start("web")
        };
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ship"))
            .args(["-C", ws.root().to_str().unwrap()])
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if kills < 20 {
            std::thread::sleep(Duration::from_millis(rng.below(250)));
            match child.try_wait().unwrap() {
                Some(st) => {
                    let mut err = String::new();
                    use std::io::Read;
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    assert_eq!(
                        st.code(),
                        Some(0),
                        "run {} ended early: {err} ({replay})",
                        kills + 1
                    );
                    final_code = st.code();
                }
                None => {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    kills += 1;
                }
            }
        } else {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.code().is_some(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            final_code = out.status.code();
        }
    }
    assert_eq!(
        kills, 20,
        "the rollout ended before 20 kills; make the stages longer ({replay})"
    );
    assert_eq!(final_code, Some(0), "{replay}");
    assert_eq!(
        weights(&ws),
        expected,
        "same weight sequence as the uninterrupted run ({replay})"
    );
    let s = ws.ship(&["rollout", "status", "web", "--json"]).json();
    assert_eq!(s["state"]["phase"]["phase"], "completed");
    assert_eq!(s["state"]["weight"], 100);
    let decisions = s["decisions"].as_array().unwrap();
    let promotions: Vec<_> = decisions
        .iter()
        .filter(|d| d["kind"] == "promote" || d["kind"] == "complete")
        .map(|d| d["stage"].as_u64().unwrap())
        .collect();
    assert_eq!(
        promotions,
        vec![1, 2, 3],
        "each promotion exactly once, no stage skipped ({replay})"
    );

    // Every traffic change is in the event log, even one whose confirmation a kill lost.
    let router: Vec<serde_json::Value> = ws
        .events("web", "router")
        .into_iter()
        .map(|e| e["data"].clone())
        .collect();
    for w in &expected {
        assert!(
            router.iter().any(|d| d["weight"] == *w),
            "no router event for {w} % ({replay}): {router:?}"
        );
    }

    // The audit chain holds, and a hand-edited event breaks it.
    assert_eq!(ws.ship(&["audit", "verify"]).code, 0);
    let store = shiploop_store::SqliteStore::open(&ws.path(".ship/state.db")).unwrap();
    store
        .connection()
        .execute_batch("DROP TRIGGER events_no_update; UPDATE events SET data = replace(data, '\"weight\":25', '\"weight\":99') WHERE kind = 'router';")
        .unwrap();
    drop(store);
    let r = ws.ship(&["audit", "verify"]);
    assert_eq!(r.code, 1, "{} ({replay})", r.text());
    r.stdout_has("was modified");
}

#[test]
fn the_hotfix_path_skips_stages_keeps_security_mandatory_and_writes_a_post_incident_signal() {
    let ws = rollout_ws("1s", "100ms");
    ws.write(
        "ship.toml",
        &ws.read("ship.toml")
            .replace("validation_window = \"15m\"", "validation_window = \"1s\""),
    );
    // A fix whose verdict has no security result is refused.
    ws.write(
        "work/evaluations/fix-1.md",
        "---\nid: fix-1\nverdict: PASS\nsummary: Stop double-charging on retry\n---\nok\n",
    );
    let r = ws.ship_exits(&HOTFIX_NEW, 1);
    r.stderr_has("security");
    ws.verdict_fix();
    let alice = ws.key("alice2", "alice2@example.com", true);
    for args in [
        HOTFIX_NEW.to_vec(),
        vec!["release", "submit", "fix", "--as", "oncall@example.com"],
        vec![
            "release",
            "approve",
            "fix",
            "--key",
            alice.to_str().unwrap(),
        ],
    ] {
        let r = ws.ship(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.text());
    }
    // A standard release is not a hotfix.
    assert_eq!(ws.ship(&["hotfix", "start", "web"]).code, 1);
    let waive = WAIVERS;
    std::fs::remove_file(ws.path("weights.log")).ok();
    ws.ship_exits(&[&["hotfix", "start", "fix"][..], &waive[..]].concat(), 0);
    assert_eq!(
        weights(&ws),
        vec![5, 100],
        "canary, then 100 % for the validation window"
    );
    let c = ws.read("work/releases/2026-11-27-fix.md");
    assert!(
        c.contains("kind: hotfix") && c.contains("severity: P1"),
        "{c}"
    );
    assert!(c.contains("status: shipped"), "{c}");
    let signal = ws
        .signals("post-incident")
        .into_iter()
        .next()
        .expect("a post-incident signal");
    let text = std::fs::read_to_string(signal).unwrap();
    assert!(
        text.contains("event: hotfix-complete:2026-11-27-fix"),
        "{text}"
    );
    assert!(
        text.contains("fix-1 — Stop double-charging on retry"),
        "{text}"
    );
}

/// A one-endpoint HTTP server on 127.0.0.1 answering `status()` to every request.
fn integrity_server(status: std::sync::Arc<std::sync::atomic::AtomicU16>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let code = status.load(std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    format!("http://{addr}/integrity")
}

#[test]
fn a_failing_data_integrity_probe_rolls_back() {
    let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
    let url = integrity_server(status.clone());
    // The integrity check is one of the approved triggers: configure it before compiling.
    let ws = rollout_ws_from(|text| {
        text.replace(
            "data_integrity_check = \"\"",
            "data_integrity_check = \"orders\"",
        ) + &format!("\n[integrity.orders]\nhttp = \"{url}\"\ntimeout = \"2s\"\n")
    });
    let child = start_cmd(&ws)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("data-integrity check `orders` failed"),
        "{text}"
    );
    assert_eq!(ws.read("weight").trim(), "0");
}

#[test]
fn a_crash_while_completing_or_rolling_back_is_finished_by_the_next_run() {
    // ship is killed by the router command itself at the last step of each rollout.
    let ws = rollout_ws_with("1s", "100ms", |t| {
        t.replace(
            "rollback = \"\"",
            "rollback = \"echo 0 > weight && echo 0 >> weights.log && if [ ! -f killed-rb ]; then touch killed-rb; kill -9 $PPID; fi\"",
        )
    });
    let cfg = ws.read("ship.toml").replace(
        "set_weight = \"echo {weight} > weight && echo {weight} >> weights.log\"",
        "set_weight = \"echo {weight} > weight && echo {weight} >> weights.log && if [ {weight} = 100 ] && [ ! -f killed ]; then touch killed; kill -9 $PPID; fi\"",
    );
    ws.write("ship.toml", &cfg);
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, -1, "killed at 100 %: {}", r.text());
    let s = ws.ship(&["rollout", "status", "web", "--json"]).json();
    assert_eq!(
        s["state"]["phase"]["phase"], "completing",
        "not completed before the router confirmed"
    );
    ws.ship_exits(&["rollout", "resume", "web"], 0);
    assert_eq!(ws.read("weight").trim(), "100");
    assert!(ws
        .read("work/releases/2026-11-27-web.md")
        .contains("status: shipped"));

    // Killed inside the rollback: the next run rolls back again and writes the incident signal.
    ws.verdict("v-pass-3", "PASS", "Gift cards");
    let alice = ws.path("keys/alice");
    for args in [
        vec!["release", "new", "bad"],
        vec!["release", "submit", "bad", "--as", "agent@example.com"],
        vec![
            "release",
            "approve",
            "bad",
            "--key",
            alice.to_str().unwrap(),
        ],
    ] {
        assert_eq!(ws.ship(&args).code, 0, "{args:?}");
    }
    ws.write("metrics.json", &failing(50.0));
    let r = ws.ship(&start("bad"));
    assert_eq!(r.code, -1, "killed while rolling back: {}", r.text());
    assert!(std::fs::read_dir(ws.path("work/signals"))
        .unwrap()
        .all(|e| !e.unwrap().path().to_string_lossy().contains("bad")));
    let r = ws.ship(&["rollout", "resume", "bad"]);
    assert_eq!(r.code, 1, "rolled back: {}", r.text());
    assert_eq!(ws.read("weight").trim(), "0");
    let signals: Vec<_> = ws.signals("rollback-of-2026-11-27-bad");
    assert_eq!(signals.len(), 1);
    // Running it again changes nothing and writes no second signal.
    assert_eq!(ws.ship(&start("bad")).code, 1);
    let n = std::fs::read_dir(ws.path("work/signals"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().to_string_lossy().contains("bad"))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn an_abort_the_router_refuses_is_not_reported_as_done() {
    let ws = rollout_ws_with("30s", "100ms", |t| {
        t.replace(
            "rollback = \"\"",
            "rollback = \"test -f router-ok && echo 0 > weight\"",
        )
        .replace("error_limit = 4", "error_limit = 2")
    });
    // Start, then stop the foreground process with SIGTERM: the rollout stays in flight.
    let mut child = start_driven(&ws);
    unsafe_sigterm(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(3), "interrupted");
    let r = ws.ship_exits(
        &["rollout", "abort", "web", "--reason", "broken checkout"],
        1,
    );
    r.stderr_has("has not confirmed the rollback");
    assert_eq!(
        ws.read("weight").trim(),
        "5",
        "traffic still on the new version, and ship says so"
    );
    // ship retried error_limit times, then handed it to a person.
    let s = ws.ship(&["rollout", "status", "web", "--json"]).json();
    assert_eq!(s["state"]["phase"]["phase"], "failed");
    assert!(
        s["state"]["phase"]["reason"]
            .as_str()
            .unwrap()
            .contains("act by hand"),
        "{s}"
    );
    let failures = ws
        .ship(&["audit", "log", "--release", "web"])
        .stdout
        .matches("roll-back 0 % FAILED")
        .count();
    assert_eq!(failures, 2, "error_limit attempts");
}

fn unsafe_sigterm(pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// The command `ship -C <ws> rollout start web` with the tests' waivers ([`start`]).
fn start_cmd(ws: &Ws) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ship"));
    c.args(["-C", ws.root().to_str().unwrap()])
        .args(start("web"));
    c
}

/// `ship rollout start web` in the background (output discarded), once it drives the rollout.
fn start_driven(ws: &Ws) -> std::process::Child {
    let child = start_cmd(ws)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until_driven(ws);
    child
}

/// Waits until a foreground controller holds the rollout of `web` (its signal handlers are set
/// up before it takes the lease).
fn wait_until_driven(ws: &Ws) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let r = ws.ship(&["rollout", "status", "web", "--json"]);
        if r.code == 0 && r.json()["driven_by"].is_string() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no controller took the rollout within 20 s");
}
