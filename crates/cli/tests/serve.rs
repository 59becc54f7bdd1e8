//! `ship serve` with the built binary: the API (every endpoint, 401/403, bad JSON, unknown
//! release, problem+json), rollouts handed over with `--detach` and driven to the end, operator
//! commands over the API, and a SIGKILL during two concurrent rollouts.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::{ship_env, ship_env_exits};
use common::serve::{Serve, OPERATOR, VIEWER};
use common::servers::{self, free_addr};
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

impl Serve {
    fn start(ws: &Ws, addr: SocketAddr) -> Serve {
        Serve::spawn(ws, addr, &[])
    }

    fn start_with(ws: &Ws, addr: SocketAddr, env: &[(&str, &str)]) -> Serve {
        Serve::spawn(ws, addr, env)
    }

    /// (status, content-type, headers text, body)
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let mut args = vec![
            "-s".to_string(),
            "-i".into(),
            "-X".into(),
            method.into(),
            format!("http://{}{path}", self.addr),
        ];
        if let Some(t) = token {
            args.push("-H".into());
            args.push(format!("authorization: Bearer {t}"));
        }
        if let Some(b) = body {
            args.push("-H".into());
            args.push("content-type: application/json".into());
            args.push("--data-binary".into());
            args.push(b.into());
        }
        let o = Command::new("curl")
            .args(&args)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Answer {
            status,
            head: head.to_lowercase(),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str) -> Value {
        let a = self.call("GET", path, Some(VIEWER), None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body))
    }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}{}", self.head, self.body);
        assert!(
            self.head.contains("content-type: application/problem+json"),
            "{}",
            self.head
        );
        let v: Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(v["status"], status);
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        v
    }
}

/// Command router and metric source on files, `{release}` in every file name so releases do
/// not share a router; `server.listen` on a free port.
fn serve_ws(stage: &str) -> (Ws, SocketAddr) {
    let ws = Ws::init();
    let addr = free_addr();
    let cfg = file_providers(
        &fast_stages(&ws.read("ship.toml")),
        "-{release}",
        "cat metrics.json",
    )
    .replace(
        "canary_duration = \"1s\"",
        &format!("canary_duration = \"{stage}\""),
    )
    .replace(
        "early_adopter_duration = \"1s\"",
        &format!("early_adopter_duration = \"{stage}\""),
    )
    .replace(
        "ga_duration = \"1s\"",
        &format!("ga_duration = \"{stage}\""),
    )
    .replace("min_samples = 50", "min_samples = 10")
    .replace(
        "listen = \"127.0.0.1:8480\"",
        &format!("listen = \"{addr}\""),
    );
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
    (ws, addr)
}

/// Compiles, submits and approves `name` from the verdict `verdict` (alice's key, made once).
fn approve(ws: &Ws, name: &str, verdict: &str) {
    ws.verdict(verdict, "PASS", &format!("Change {verdict}"));
    let alice = if ws.path("keys/alice").exists() {
        ws.path("keys/alice")
    } else {
        ws.key("alice", "alice@example.com", true)
    };
    for args in [
        vec!["release", "new", name, "--verdict", verdict],
        vec!["release", "submit", name, "--as", "agent@example.com"],
        vec!["release", "approve", name, "--key", alice.to_str().unwrap()],
    ] {
        let r = ws.ship(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.text());
    }
}

fn detach(ws: &Ws, name: &str) {
    let mut args = start(name);
    args.push("--detach");
    ship_env_exits(ws, &[], &args, 0);
}

fn wait_phase(s: &Serve, id: &str, phase: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let a = s.call("GET", &format!("/api/v1/rollouts/{id}"), Some(VIEWER), None);
        if a.status == 200 {
            let v: Value = serde_json::from_str(&a.body).unwrap();
            if v["phase"] == phase {
                return v;
            }
        }
        assert!(
            started.elapsed() < within,
            "{id} never reached {phase}: {}",
            a.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_endpoint_answers_json_or_a_problem_and_checks_the_token() {
    let (ws, addr) = serve_ws("1s");
    approve(&ws, "web", "v-pass-1");
    let s = Serve::start(&ws, addr);
    let id = "2026-11-27-web";

    // 401 without a token or with an unknown one; the health check needs none.
    assert_eq!(s.call("GET", "/healthz", None, None).status, 200);
    let a = s.call("GET", "/api/v1/releases", None, None);
    a.problem(401);
    assert!(a.head.contains("www-authenticate: bearer"), "{}", a.head);
    s.call(
        "GET",
        "/api/v1/releases",
        Some("wrong-token-0123456789"),
        None,
    )
    .problem(401);
    s.call("GET", "/metrics", None, None).problem(401);

    // Reads.
    let releases = s.get("/api/v1/releases");
    assert_eq!(releases["releases"][0]["id"], id, "{releases}");
    let one = s.get("/api/v1/releases/web");
    assert_eq!(one["contract"]["status"], "approved", "{one}");
    let gates = s.get(&format!("/api/v1/releases/{id}/gates"));
    assert_eq!(
        gates["approvals"][0]["principal"], "alice@example.com",
        "{gates}"
    );
    assert!(s.get("/api/v1/rollouts")["rollouts"]
        .as_array()
        .unwrap()
        .is_empty());
    s.call("GET", &format!("/api/v1/rollouts/{id}"), Some(VIEWER), None)
        .problem(404);
    assert!(s.get("/api/v1/signals")["signals"]
        .as_array()
        .unwrap()
        .is_empty());
    let openapi = s.get("/api/v1/openapi.json");
    for path in [
        "/api/v1/releases",
        "/api/v1/releases/{id}",
        "/api/v1/releases/{id}/gates",
        "/api/v1/releases/{id}/approve",
        "/api/v1/rollouts",
        "/api/v1/rollouts/{id}",
        "/api/v1/rollouts/{id}/decisions",
        "/api/v1/rollouts/{id}/{action}",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/api/v1/signals",
        "/metrics",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} is not documented"
        );
    }

    // Unknown release, unknown endpoint, wrong method, paths never read: a valid contract
    // outside work/releases is not reachable by a relative or an absolute path.
    s.call("GET", "/api/v1/releases/nope", Some(VIEWER), None)
        .problem(404);
    let outside = ws.root().join("copy.md");
    let contract = ws.read(&format!("work/releases/{id}.md"));
    ws.write("copy.md", &contract.replace(id, "2026-11-27-copy"));
    let absolute: String = outside
        .to_str()
        .unwrap()
        .replace('/', "%2F")
        .trim_end_matches(".md")
        .to_string();
    for path in [
        "..%2F..%2Fcopy.md".to_string(),
        "..%2F..%2Fcopy".to_string(),
        absolute.clone(),
        format!("{absolute}.md"),
    ] {
        let a = s.call(
            "GET",
            &format!("/api/v1/releases/{path}"),
            Some(VIEWER),
            None,
        );
        a.problem(404);
        assert!(!a.body.contains("2026-11-27-copy\""), "{}", a.body);
    }
    // A path segment that is not UTF-8, a form that is not one: axum's own rejections are
    // problem+json too.
    s.call("GET", "/api/v1/releases/%FF", Some(VIEWER), None)
        .problem(400);
    s.call("POST", "/login", None, None).problem(415);
    s.call("GET", "/api/v1/nothing", Some(VIEWER), None)
        .problem(404);
    s.call("GET", "/api/v1/events?after=abc", Some(VIEWER), None)
        .problem(400);
    s.call("DELETE", "/api/v1/releases", Some(OPERATOR), None)
        .problem(405);

    // Commands: operators only, a reason, valid JSON, a rollout to act on.
    let pause = format!("/api/v1/rollouts/{id}/pause");
    s.call("POST", &pause, Some(VIEWER), Some(r#"{"reason":"x"}"#))
        .problem(403);
    s.call("POST", &pause, Some(OPERATOR), Some("{not json"))
        .problem(400);
    s.call("POST", &pause, Some(OPERATOR), Some(r#"{"why":"x"}"#))
        .problem(400);
    s.call("POST", &pause, Some(OPERATOR), Some("{}"))
        .problem(400);
    // A reason is one line of plain text (it goes into the contract and the logs).
    let v = s
        .call("POST", &pause, Some(OPERATOR), Some(r#"{"reason":"a\nb"}"#))
        .problem(400);
    assert!(
        v["detail"].as_str().unwrap().contains("control character"),
        "{v}"
    );
    let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(1001));
    s.call("POST", &pause, Some(OPERATOR), Some(&long))
        .problem(400);
    s.call("POST", &pause, Some(OPERATOR), Some(r#"{"reason":"x"}"#))
        .problem(404);
    // The dashboard's cookie does not reach the API's commands (they take a bearer token).
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
        ])
        .arg(format!("cookie: ship_token={OPERATOR}"))
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"reason":"x"}"#,
        ])
        .arg(format!("http://{addr}{pause}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "401");
    s.call(
        "POST",
        &format!("/api/v1/rollouts/{id}/explode"),
        Some(OPERATOR),
        Some(r#"{"reason":"x"}"#),
    )
    .problem(404);
    // Approvals are never possible over the API, whatever the token.
    let v = s
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/approve"),
            Some(OPERATOR),
            Some("{}"),
        )
        .problem(403);
    assert!(v["detail"].as_str().unwrap().contains("SSH key"), "{v}");

    // A detached rollout is driven by the server; `ship rollout watch` follows it from a
    // terminal through the validation window; its decisions and events are served.
    detach(&ws, "web");
    let w = ship_env(&ws, &[], &["rollout", "watch", "web"]);
    assert_eq!(w.code, 0, "{}", w.text());
    for want in [
        "start",
        "promote",
        "complete",
        "validating",
        "completed (shipped)",
    ] {
        assert!(w.stdout.contains(want), "{want}: {}", w.stdout);
    }
    wait_phase(&s, id, "completed", Duration::from_secs(30));
    let d = s.get(&format!("/api/v1/rollouts/{id}/decisions"));
    assert!(d["decisions"].as_array().unwrap().len() >= 4, "{d}");
    let e = s.get(&format!("/api/v1/events?release={id}"));
    let kinds: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"rollout-created"), "{kinds:?}");
    let after = e["events"].as_array().unwrap().last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    assert!(
        s.get(&format!("/api/v1/events?release={id}&after={after}"))["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The CLI takes the same one-line reasons, and so do waivers.
    for args in [
        vec!["rollout", "pause", "web", "--reason", "a\nb"],
        vec![
            "check",
            "web",
            "--override",
            "rehearsal",
            "--reason",
            "x\u{1b}[2K",
            "--as",
            "a@b",
        ],
    ] {
        let r = ship_env(&ws, &[], &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.text());
        r.stderr_has("control character");
    }
    // A finished rollout has nothing to pause.
    s.call("POST", &pause, Some(OPERATOR), Some(r#"{"reason":"x"}"#))
        .problem(409);
    let m = s.call("GET", "/metrics", Some(VIEWER), None);
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("ship_rollouts{phase=\"completed\"} 1"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("ship_decisions_total{kind=\"complete\"} 1"),
        "{}",
        m.body
    );
    assert!(m.body.contains("ship_state_database_up 1"), "{}", m.body);
    let ticks: u64 = m
        .body
        .lines()
        .find_map(|l| l.strip_prefix("ship_ticks_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ticks > 0, "{}", m.body);

    // The event stream replays from Last-Event-ID and stays open.
    let o = Command::new("curl")
        .args(["-s", "-N", "--max-time", "2", "-H"])
        .arg(format!("authorization: Bearer {VIEWER}"))
        .args(["-H", "last-event-id: 0"])
        .arg(format!("http://{addr}/api/v1/events/stream?release={id}"))
        .output()
        .unwrap();
    let sse = String::from_utf8_lossy(&o.stdout);
    assert!(sse.contains("event: rollout-created"), "{sse}");
    assert!(sse.contains("id: "), "{sse}");
}

#[test]
fn an_operator_pauses_and_resumes_a_served_rollout_over_the_api() {
    let (ws, addr) = serve_ws("2s");
    approve(&ws, "web", "v-pass-1");
    let s = Serve::start(&ws, addr);
    let id = "2026-11-27-web";
    detach(&ws, "web");
    wait_phase(&s, id, "progressing", Duration::from_secs(20));
    let a = s.call(
        "POST",
        &format!("/api/v1/rollouts/{id}/pause"),
        Some(OPERATOR),
        Some(r#"{"reason":"looking at a dashboard"}"#),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let v = wait_phase(&s, id, "paused", Duration::from_secs(10));
    assert_eq!(v["reason"], "looking at a dashboard", "{v}");
    // The event log says through what, and with which role, the command came.
    let e = s.get(&format!("/api/v1/events?release={id}"));
    let queued: Vec<&Value> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "command-queued")
        .collect();
    assert_eq!(queued.len(), 1, "{e}");
    assert_eq!(queued[0]["data"]["by"], "api operator", "{e}");
    let a = s.call(
        "POST",
        &format!("/api/v1/rollouts/{id}/resume"),
        Some(OPERATOR),
        Some("{}"),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    wait_phase(&s, id, "completed", Duration::from_secs(40));
    let mut s = s;
    // The server goes on to the validation window, then the release is shipped.
    let started = Instant::now();
    while s.get(&format!("/api/v1/releases/{id}"))["contract"]["status"] != "shipped" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never validated: {}",
            ws.read(&format!("work/releases/{id}.md"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM with a live event stream open (a dashboard tab): the stream ends, the server
    // exits 0 promptly.
    let mut stream = Command::new("curl")
        .args(["-s", "-N", "-o", "/dev/null", "-H"])
        .arg(format!("authorization: Bearer {VIEWER}"))
        .arg(format!("http://{addr}/api/v1/events/stream"))
        .spawn()
        .unwrap();
    // …and a client that sent half a request and went quiet.
    let mut half = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut half, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(s.proc.child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    let status = loop {
        if let Some(st) = s.proc.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ship serve did not stop with a stream and a half-sent request open"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let _ = stream.kill();
    let _ = stream.wait();
    drop(half);
}

#[test]
fn a_rollout_that_cannot_be_driven_never_stalls_another_and_shows_its_error() {
    let (ws, addr) = serve_ws("1s");
    approve(&ws, "web", "v-pass-1");
    approve(&ws, "api", "v-pass-2");
    let (web, api) = ("2026-11-27-web", "2026-11-27-api");
    detach(&ws, "web");
    detach(&ws, "api");
    // Someone breaks web's contract by hand: every attempt to drive it fails to read it.
    let file = format!("work/releases/{web}.md");
    let contract = ws.read(&file);
    ws.write(&file, &contract.replacen("status:", "status: [", 1));
    let s = Serve::start(&ws, addr);
    let started = Instant::now();
    // The list reads the state database alone; the release's own endpoint names the problem.
    let failing = loop {
        let all = s.get("/api/v1/rollouts");
        let v = all["rollouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["release"] == web)
            .cloned()
            .unwrap();
        if v["last_error"].is_object() {
            break v;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The rollout is still visible by id (from the state database); the release names its
    // problem by the file's place in the workspace.
    let v = s.get(&format!("/api/v1/rollouts/{web}"));
    assert!(v["last_error"].is_object(), "{v}");
    let p = s
        .call(
            "GET",
            &format!("/api/v1/releases/{web}"),
            Some(VIEWER),
            None,
        )
        .problem(500);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("{file}:")), "{p}");
    // A command the failing task could not apply is refused, not queued.
    let v = s
        .call(
            "POST",
            &format!("/api/v1/rollouts/{web}/pause"),
            Some(OPERATOR),
            Some(r#"{"reason":"x"}"#),
        )
        .problem(409);
    assert!(
        v["detail"].as_str().unwrap().contains("cannot drive"),
        "{v}"
    );
    // The lists show the readable releases and name the broken contract.
    let list = s.get("/api/v1/releases");
    assert_eq!(list["releases"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["releases"][0]["id"], api, "{list}");
    assert_eq!(list["unreadable"][0]["file"], file.as_str(), "{list}");
    let home = s.call("GET", "/", Some(VIEWER), None);
    assert_eq!(home.status, 200, "{}", home.body);
    for want in ["Unreadable contracts", file.as_str(), api] {
        assert!(home.body.contains(want), "{want}: {}", home.body);
    }
    let e = &failing["last_error"];
    assert!(e["message"].as_str().unwrap().contains(&file), "{e}");
    let (at, retry) = (e["at"].as_str().unwrap(), e["retry_at"].as_str().unwrap());
    let gap = chrono::DateTime::parse_from_rfc3339(retry).unwrap()
        - chrono::DateTime::parse_from_rfc3339(at).unwrap();
    assert_eq!(gap.num_seconds(), 10, "{e}");
    // The other rollout goes on meanwhile, to the end.
    wait_phase(&s, api, "completed", Duration::from_secs(40));
    assert_eq!(
        entered(&s, api),
        vec!["canary", "early-adopters", "ga", "full"]
    );
    let m = s.call("GET", "/metrics", Some(VIEWER), None);
    let errors: u64 = m
        .body
        .lines()
        .find_map(|l| l.strip_prefix("ship_controller_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(errors >= 1, "{}", m.body);
    // The contract is mended: the next attempt (20 s after the first failure at most) takes
    // the rollout through, and the error is gone.
    ws.write(&file, &contract);
    let v = wait_phase(&s, web, "completed", Duration::from_secs(60));
    assert!(v["last_error"].is_null(), "{v}");
    assert_eq!(
        entered(&s, web),
        vec!["canary", "early-adopters", "ga", "full"]
    );
}

#[test]
fn an_abort_nobody_would_apply_is_refused_not_queued() {
    let (ws, addr) = serve_ws("1s");
    let cfg = ws.read("ship.toml");
    let manual = common::builtin::set(&cfg, "validation", "auto", "false");
    // Rolling back takes a while, so a person's abort can be cut short (below).
    let manual = manual.replace(
        "rollback = \"\"",
        "rollback = \"sleep 2 && echo 0 > weight-{release}\"",
    );
    assert_ne!(cfg, manual);
    ws.write("ship.toml", &manual);
    approve(&ws, "web", "v-pass-1");
    let s = Serve::start(&ws, addr);
    let id = "2026-11-27-web";
    detach(&ws, "web");
    wait_phase(&s, id, "completed", Duration::from_secs(30));
    assert_eq!(
        s.get(&format!("/api/v1/releases/{id}"))["contract"]["status"],
        "validating"
    );
    let v = s
        .call(
            "POST",
            &format!("/api/v1/rollouts/{id}/abort"),
            Some(OPERATOR),
            Some(r#"{"reason":"looks wrong"}"#),
        )
        .problem(409);
    assert!(
        v["detail"].as_str().unwrap().contains("ship rollout abort"),
        "{v}"
    );
    // Nothing was queued: the CLI's abort applies at once. Killed while the router rolls
    // back, it leaves the rollout rolling back — which the server, seeing a completed rollout
    // move again, finishes.
    let mut cli = Command::new(env!("CARGO_BIN_EXE_ship"))
        .arg("-C")
        .arg(ws.root())
        .args(["rollout", "abort", "web", "--reason", "looks wrong"])
        .env_remove("SHIP_NOW")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_phase(&s, id, "rolling-back", Duration::from_secs(10));
    cli.kill().unwrap();
    cli.wait().unwrap();
    let v = wait_phase(&s, id, "rolled-back", Duration::from_secs(30));
    assert!(v["reason"].as_str().unwrap().contains("looks wrong"), "{v}");
    assert_eq!(ws.read(&format!("weight-{id}")).trim(), "0");
}

/// Every stage a rollout entered, in order, from its decision log.
fn entered(s: &Serve, id: &str) -> Vec<String> {
    let d = s.get(&format!("/api/v1/rollouts/{id}/decisions"));
    d["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["decision"])
        .filter(|d| matches!(d["kind"].as_str(), Some("start" | "promote" | "complete")))
        .map(|d| d["stage_name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sigkill_during_two_concurrent_rollouts_then_restart_finishes_both_exactly_once() {
    let (ws, addr) = serve_ws("2s");
    approve(&ws, "web", "v-pass-1");
    approve(&ws, "api", "v-pass-2");
    let mut s = Serve::start(&ws, addr);
    detach(&ws, "web");
    detach(&ws, "api");
    let (web, api) = ("2026-11-27-web", "2026-11-27-api");
    // Both in flight, the web one past its first stage.
    let started = Instant::now();
    loop {
        let w = s.get(&format!("/api/v1/rollouts/{web}"));
        let a = s.call(
            "GET",
            &format!("/api/v1/rollouts/{api}"),
            Some(VIEWER),
            None,
        );
        let a: Value = serde_json::from_str(&a.body).unwrap_or_default();
        if w["stage_index"].as_u64().unwrap_or(0) >= 1 && a["phase"] == "progressing" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{w}");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.proc.child.kill().unwrap();
    s.proc.child.wait().unwrap();
    let s = Serve::start(&ws, addr);
    for id in [web, api] {
        wait_phase(&s, id, "completed", Duration::from_secs(60));
        assert_eq!(
            entered(&s, id),
            vec!["canary", "early-adopters", "ga", "full"],
            "{id}: a stage repeated or skipped"
        );
        let w: Vec<String> = ws
            .read(&format!("weights-{id}.log"))
            .lines()
            .map(str::to_string)
            .collect();
        let mut dedup = w.clone();
        dedup.dedup();
        assert_eq!(dedup, vec!["5", "25", "50", "100"], "{id}: {w:?}");
    }
}

/// curl with a cookie jar: (status, headers, body).
fn browser(jar: &std::path::Path, args: &[&str]) -> (u16, String, String) {
    let o = Command::new("curl")
        .args(["-s", "-i", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// A browser request answered with a redirect (303 or 307); the head, lowercased.
#[track_caller]
fn redirected(jar: &std::path::Path, args: &[&str]) -> String {
    let (code, head, _) = browser(jar, args);
    assert!(code == 303 || code == 307, "{code} {head}");
    head
}

/// A browser request answered with `status`.
#[track_caller]
fn assert_status(jar: &std::path::Path, args: &[&str], status: u16) {
    assert_eq!(browser(jar, args).0, status);
}

#[test]
fn the_dashboard_shows_a_rollout_and_an_operator_rolls_it_back() {
    let (ws, addr) = serve_ws("5s");
    ws.write(
        "metrics.json",
        &HEALTHY.replace(
            "\"canary/latency_p99\"",
            "\"stable/latency_p99\": {\"value\": 0.1, \"samples\": 5000},\n \"canary/latency_p99\"",
        ),
    );
    approve(&ws, "web", "v-pass-1");
    // ship.toml changes after the approval: the charts keep the contract's thresholds, which
    // are what rolls back.
    let cfg = ws.read("ship.toml");
    let loose = cfg.replace(
        "max_error_rate_increase = 1.0",
        "max_error_rate_increase = 3.0",
    );
    assert_ne!(cfg, loose);
    // Every hold recorded (not only every minute's evidence): the charts below need samples.
    ws.write(
        "ship.toml",
        &common::builtin::set(&loose, "state", "evidence_every", "\"0s\""),
    );
    let s = Serve::start(&ws, addr);
    let id = "2026-11-27-web";
    detach(&ws, "web");
    wait_phase(&s, id, "progressing", Duration::from_secs(20));
    // Samples for the charts: a few ticks' worth.
    let started = Instant::now();
    while s.get(&format!("/api/v1/rollouts/{id}/decisions"))["decisions"]
        .as_array()
        .unwrap()
        .len()
        < 4
    {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = format!("http://{addr}");
    let jar = ws.path("viewer.jar");

    // Not logged in: to the login form; a wrong token is refused.
    let head = redirected(&jar, &[&format!("{base}/")]);
    assert!(head.contains("location: /login"), "{head}");
    assert_status(
        &jar,
        &["-d", "token=not-a-token-000000", &format!("{base}/login")],
        401,
    );

    // A viewer reads without JavaScript: the release, its stages, a chart, the decisions.
    let head = redirected(
        &jar,
        &["-d", &format!("token={VIEWER}"), &format!("{base}/login")],
    );
    assert!(head.contains("set-cookie: ship_token="), "{head}");
    assert!(head.contains("httponly"), "{head}");
    let (code, _, index) = browser(&jar, &[&format!("{base}/")]);
    assert_eq!(code, 200);
    assert!(
        index.contains(&format!("href=\"/releases/{id}\"")),
        "{index}"
    );
    let (code, head, page) = browser(&jar, &[&format!("{base}/releases/{id}")]);
    assert_eq!(code, 200, "{page}");
    for want in ["frame-ancestors 'none'", "x-content-type-options: nosniff"] {
        assert!(head.contains(want), "{want}: {head}");
    }
    // Both charts have a stable and a canary line and a threshold.
    let p99 = page.split("data-chart=\"p99 latency\"").nth(1).unwrap();
    let p99 = p99.split("</svg>").next().unwrap();
    assert_eq!(p99.matches("<polyline").count(), 2, "{p99}");
    assert!(p99.contains("class=\"threshold\""), "{p99}");
    for want in [
        "data-stage=\"canary\"",
        "data-stage=\"full\"",
        "stage current",
        "<svg class=\"chart\" data-chart=\"error rate\"",
        "class=\"threshold\"",
        // The stable baseline 0.10 % plus rollback.max_error_rate_increase (1 pp).
        "rollback threshold 1.10 %",
        "<polyline",
        "id=\"decisions\"",
        "EventSource",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    assert!(
        !page.contains("Roll back</button>"),
        "a viewer gets no buttons"
    );
    assert_status(
        &jar,
        &["-d", "reason=nope", &format!("{base}/releases/{id}/abort")],
        403,
    );

    // Pages keep their live-update streams open meanwhile, as browsers do.
    let streams: Vec<Child> = (0..3)
        .map(|_| {
            Command::new("curl")
                .args(["-s", "-N", "-o", "/dev/null", "-H"])
                .arg(format!("authorization: Bearer {VIEWER}"))
                .arg(format!("{base}/api/v1/events/stream?release={id}"))
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // An operator's "roll back" from another site is refused; from the dashboard it works.
    let ojar = ws.path("operator.jar");
    browser(
        &ojar,
        &["-d", &format!("token={OPERATOR}"), &format!("{base}/login")],
    );
    let (_, _, page) = browser(&ojar, &[&format!("{base}/releases/{id}")]);
    assert!(page.contains("Roll back</button>"), "{page}");
    assert_status(
        &ojar,
        &[
            "-H",
            "origin: http://evil.example",
            "-d",
            "reason=x",
            &format!("{base}/releases/{id}/abort"),
        ],
        403,
    );
    // A post that says nowhere where it came from is refused too (fails closed).
    assert_status(
        &ojar,
        &["-d", "reason=x", &format!("{base}/releases/{id}/abort")],
        403,
    );
    redirected(
        &ojar,
        &[
            "-H",
            &format!("origin: {base}"),
            "-d",
            "reason=canary looks wrong on the dashboard",
            &format!("{base}/releases/{id}/abort"),
        ],
    );
    let v = wait_phase(&s, id, "rolled-back", Duration::from_secs(20));
    for mut c in streams {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(
        v["reason"].as_str().unwrap().contains("canary looks wrong"),
        "{v}"
    );
    let m = s.call("GET", "/metrics", Some(VIEWER), None);
    assert!(
        m.body
            .contains("ship_rollbacks_total{trigger=\"manual\"} 1"),
        "{}",
        m.body
    );
}

#[test]
fn the_server_runs_the_builtin_proxy_and_rolls_out_live_traffic_through_it() {
    use common::builtin::{builtin_config, proxy_listen, set, traffic, ADMIN_TOKEN};
    let (ws, _, _) = builtin_config("", "");
    let addr = free_addr();
    let mut cfg = ws.read("ship.toml");
    cfg = set(&cfg, "server", "listen", &format!("\"{addr}\""));
    cfg = set(&cfg, "server", "run_proxy", "true");
    ws.write("ship.toml", &cfg);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    let mut s = Serve::start_with(&ws, addr, &[("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let front = proxy_listen(&ws);
    let started = Instant::now();
    while servers::http_get(&format!("http://{front}/healthz")).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the proxy never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop = traffic(front);
    let mut args = start("web");
    args.push("--detach");
    ship_env_exits(&ws, &[("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)], &args, 0);
    let id = "2026-11-27-web";
    wait_phase(&s, id, "completed", Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let d = s.get(&format!("/api/v1/rollouts/{id}/decisions"));
    assert!(
        d["decisions"]
            .to_string()
            .contains("below the 1 pp margin with 95 % confidence"),
        "judged from the counts of the proxy: {d}"
    );
    // Stopping the server stops its proxy.
    unsafe { libc::kill(s.proc.child.id() as i32, libc::SIGTERM) };
    let status = s.proc.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let started = Instant::now();
    while servers::http_get(&format!("http://{front}/healthz")).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the proxy outlived the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two replicas on one PostgreSQL: the one driving the rollout stalls (SIGSTOP: a pause, a
/// partition — its process lives, so only the lease's expiry tells), the other takes the
/// rollout over once the lease lapses and completes it; the stalled one, woken, finds its token
/// stale and neither records nor moves traffic. Each weight is set once, the chain verifies.
#[test]
fn replicas_on_postgres_take_over_a_stalled_replica_and_fence_it() {
    let pg = shiploop_testkit::postgres::Cluster::start();
    let url = pg.database("replicas");
    let (ws, addr) = serve_ws("3s");
    common::builtin::set_all(&ws, &[("state", "lease_ttl", "\"3s\"")]);
    approve(&ws, "web", "v-pass-1");
    let env = [("SHIP_STATE_URL", url.as_str())];
    let other = free_addr();
    let listen = other.to_string();
    let serves = [
        Serve::start_with(&ws, addr, &env),
        Serve::spawn_args(&ws, other, &["serve", "--listen", &listen], &env),
    ];
    let mut args = start("web");
    args.push("--detach");
    ship_env_exits(&ws, &env, &args, 0);
    let id = "2026-11-27-web";
    // In its second stage, whoever drives it stops (its process stays).
    let started = Instant::now();
    let (holder, stalled) = loop {
        let v = serves[1].get(&format!("/api/v1/rollouts/{id}"));
        if v["stage_index"] == 1 {
            let holder = v["driven_by"].as_str().unwrap_or_default().to_string();
            let pid = holder.rsplit(':').next().unwrap_or_default().to_string();
            if let Some(i) = serves
                .iter()
                .position(|s| s.proc.child.id().to_string() == pid)
            {
                break (holder, i);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid = serves[stalled].proc.child.id().to_string();
    let live = &serves[1 - stalled];
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = Instant::now();
    loop {
        let v = live.get(&format!("/api/v1/rollouts/{id}"));
        let now = v["driven_by"].as_str().unwrap_or_default();
        if !now.is_empty() && now != holder {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "never taken over: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = stopped.elapsed();
    // Not before the lease lapsed: the stalled process is alive, nothing else says it is gone.
    assert!(took >= Duration::from_secs(1), "taken over after {took:?}");
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let done = Instant::now();
    loop {
        let v = live.get(&format!("/api/v1/rollouts/{id}"));
        if v["phase"] == "completed" {
            break;
        }
        assert!(v["phase"] != "rolled-back" && v["phase"] != "failed", "{v}");
        assert!(done.elapsed() < Duration::from_secs(60), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let weights = ws.read(&format!("weights-{id}.log"));
    // The last 100 is the promotion (without router.command.promote, set_weight 100 again).
    assert_eq!(
        weights.split_whitespace().collect::<Vec<_>>(),
        ["5", "25", "50", "100", "100"],
        "each weight set once, in order (taken over after {took:?})"
    );
    let events = live.get(&format!("/api/v1/events?release={id}"));
    let tokens: Vec<i64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "lease-acquired")
        .map(|e| e["data"]["token"].as_i64().unwrap())
        .collect();
    assert!(tokens.len() >= 2, "{tokens:?}");
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
    ship_env_exits(&ws, &env, &["audit", "verify"], 0);
}
