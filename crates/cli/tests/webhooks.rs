//! Webhooks end to end: a receiver on a free loopback port gets a rollout's events as signed
//! CloudEvents, in order; a receiver that fails never stops the rollout and is recorded.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// (headers lower-cased, body) of every request received.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A receiver answering every POST with `status`.
fn receiver(status: u16) -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got: Received = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = vec![];
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            keep.lock()
                .unwrap()
                .push((headers, String::from_utf8(body).unwrap()));
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

fn hooked_ws(hooks: &str) -> Ws {
    let ws = Ws::init();
    let cfg = fast_stages(&ws.read("ship.toml"))
        .replace(
            "set_weight = \"\"",
            "set_weight = \"echo {weight} > weight\"",
        )
        .replace(
            "command = \"\"\ntimeout = \"10s\"",
            "command = \"cat metrics.json\"\ntimeout = \"10s\"",
        );
    ws.write("ship.toml", &format!("{cfg}\n{hooks}\n"));
    ws.write("metrics.json", HEALTHY);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws
}

#[test]
fn a_rollout_reaches_the_receiver_as_ordered_signed_cloud_events() {
    let (url, got) = receiver(200);
    let ws = hooked_ws(&format!(
        "[[webhooks]]\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n"
    ));
    std::env::set_var("HOOK_SECRET", "s3cret-key");
    ws.sh_exits("HOOK_SECRET=s3cret-key ship release new web >/dev/null && HOOK_SECRET=s3cret-key ship release submit web --as agent@example.com >/dev/null", 0);
    let alice = ws.key("alice", "alice@example.com", true);
    ws.ship_exits(
        &[
            "release",
            "approve",
            "web",
            "--key",
            alice.to_str().unwrap(),
        ],
        0,
    );
    ws.sh_exits(
        &format!("HOOK_SECRET=s3cret-key ship rollout start web {WAIVE}"),
        0,
    );

    let got = got.lock().unwrap().clone();
    let mut types = vec![];
    for (headers, body) in &got {
        let h = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(
            h("content-type").as_deref(),
            Some("application/cloudevents+json")
        );
        assert_eq!(
            h("x-ship-signature").unwrap(),
            shiploop_controller::notify::signature(b"s3cret-key", body.as_bytes()),
            "the signature covers the body"
        );
        let ce: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(h("x-ship-event-id").unwrap(), ce["id"].as_str().unwrap());
        types.push(
            ce["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("dev.shiploop.")
                .to_string(),
        );
    }
    assert_eq!(
        types,
        [
            "release.approval-needed",
            "oncall.notified",
            "rollout.started",
            "rollout.stage-entered",
            "rollout.stage-entered",
            "rollout.stage-entered",
            "rollout.completed",
            "validation.passed"
        ],
        "in the order they happened, each once"
    );
}

#[test]
fn a_failing_receiver_never_stops_the_rollout_and_is_recorded() {
    let (url, got) = receiver(500);
    let ws = hooked_ws(&format!(
        "[[webhooks]]\nurl = \"{url}\"\nmax_attempts = 2\nevents = [\"rollout.started\", \"rollout.completed\"]\n"
    ));
    ws.approve_web();
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 0, "completed despite the receiver: {}", r.text());
    // Two events wanted, each tried max_attempts = 2 times.
    assert_eq!(got.lock().unwrap().len(), 4);
    let r = ws.ship(&["--json", "audit", "log"]);
    let failed: Vec<serde_json::Value> = r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "webhook-failed")
        .cloned()
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0]["data"]["error"]
        .as_str()
        .unwrap()
        .contains("answered 500"));
    ws.ship_exits(&["audit", "verify"], 0);
}
