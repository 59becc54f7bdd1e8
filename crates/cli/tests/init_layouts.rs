//! `ship init --router builtin --stable … --canary … --try`: one command lays out a workspace
//! whose every pre-deployment gate passes against the user's own services — here two tiny HTTP
//! servers on loopback (not ship-sample), behind ship's proxy and its staging proxy.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::{self, set, ship_env, ship_env_exits, Proxy, ADMIN_TOKEN};
use common::servers::{free_addr, http_get};
use common::Ws;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

const STAGING_TOKEN: &str = "staging-token-0123456789ab";

/// A minimal HTTP/1.1 server answering 200 with `name` on every path (keep-alive included), on
/// a free loopback port; its threads end with the test process.
fn backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let body = format!("{name}\n");
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

fn spawn_proxy(ws: &Ws, args: &[&str], listen: SocketAddr, health: &str) -> Proxy {
    builtin::spawn_proxy(ws, args, &env(), listen, health)
}

fn env() -> [(&'static str, &'static str); 2] {
    [
        ("SHIP_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SHIP_STAGING_ADMIN_TOKEN", STAGING_TOKEN),
    ]
}

#[test]
fn a_builtin_layout_passes_every_gate_against_the_users_own_services() {
    let (stable, canary) = (backend("v1"), backend("v2"));
    let ws = Ws {
        dir: tempfile::tempdir().unwrap(),
    };
    let (s, c) = (stable.to_string(), canary.to_string());
    let init = [
        "init", "--router", "builtin", "--stable", &s, "--canary", &c, "--try",
    ];
    let r = ws.ship_exits(&init, 0);
    for want in [
        "created  ship.toml",
        "created  work/flags.yaml",
        "export SHIP_ADMIN_TOKEN=",
        "export SHIP_STAGING_ADMIN_TOKEN=",
        "ship proxy &",
        &format!(
            "production on http://127.0.0.1:8080 → stable {s}, canary {c}; admin 127.0.0.1:9091"
        ),
        "ship proxy --staging &",
        "staging on http://127.0.0.1:8180/",
    ] {
        assert!(r.stdout.contains(want), "{want}:\n{}", r.stdout);
    }
    let cfg = ws.read("ship.toml");
    for want in [
        &format!("# Laid out by `ship init --router builtin --stable {s} --canary {c} --try`."),
        "kind = \"builtin\"",
        "canary_duration = \"20s\"",
        "[[proxy.instances]]\nversion = \"stable\"",
        "point these at your staging instances",
        "notify_command = \"echo {message} >> oncall-inbox.txt\"",
        "# e.g. paths = [\"db/migrations\"]",
        "tags = [\"user-facing\"]",
        "base_url = \"http://127.0.0.1:8080\"",
    ] {
        assert!(cfg.contains(want), "{want}:\n{cfg}");
    }
    // Never overwritten: a second run, with other options too, keeps every file.
    let before = ws.snapshot();
    let r = ws.ship_exits(&["init", "--router", "nginx", "--stable", "10.0.0.1:80"], 0);
    r.stdout_has("already initialised");
    r.stdout_has("kept     ship.toml");
    assert_eq!(ws.snapshot(), before);

    // The layout's fixed ports (8080, 9091, 8180, 9191) may be taken while tests run in
    // parallel: the same layout on free ones.
    let (listen, admin) = (free_addr(), free_addr());
    let (staging, staging_admin) = (free_addr(), free_addr());
    let mut cfg = cfg;
    for (t, k, v) in [
        ("proxy", "listen", listen.to_string()),
        ("proxy", "admin", admin.to_string()),
        ("proxy", "health_interval", "500ms".into()),
        ("staging", "admin", staging_admin.to_string()),
        ("staging", "url", format!("http://{staging}/")),
        ("validation", "base_url", format!("http://{listen}")),
    ] {
        cfg = set(&cfg, t, k, &format!("{v:?}"));
    }
    ws.write("ship.toml", &cfg);

    ws.verdict("v-pass-1", "PASS", "Faster home page");
    let alice = ws.key("alice", "alice@example.com", true);
    let alice = alice.to_str().unwrap();
    for args in [
        &["release", "new", "web"][..],
        &["release", "submit", "web", "--as", "agent@example.com"],
        &["release", "approve", "web", "--key", alice],
    ] {
        let r = ship_env(&ws, &env(), args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.text());
    }

    let _prod = spawn_proxy(&ws, &[], listen, &format!("http://{listen}/healthz"));
    let _staging = spawn_proxy(&ws, &["--staging"], staging, &format!("http://{staging}/"));
    // The stable version's series must answer for the monitoring gate: some traffic.
    for i in 0..60 {
        let (code, body) = http_get(&format!("http://{listen}/page/{i}")).unwrap();
        assert_eq!((code, body.as_str()), (200, "v1\n"));
    }

    let r = ship_env_exits(&ws, &env(), &["rehearse", "web"], 0);
    r.stdout_has("rolled back in");
    // The first check notifies on-call (the layout's notify_command writes a file).
    ship_env_exits(&ws, &env(), &["check", "web"], 1);
    assert!(ws.read("oncall-inbox.txt").contains("is about to start"));
    ship_env_exits(
        &ws,
        &env(),
        &["oncall", "ack", "web", "--as", "bob@example.com"],
        0,
    );
    let r = ship_env_exits(&ws, &env(), &["check", "web"], 0);
    let passed = r
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("PASS "))
        .count();
    assert_eq!(passed, 7, "{}", r.stdout);
    r.stdout_has("may start");
}

#[test]
fn init_options_are_checked_and_each_router_gets_its_sections() {
    let ws = Ws {
        dir: tempfile::tempdir().unwrap(),
    };
    for bad in [
        &["init", "--router", "nginx", "--listen", "127.0.0.1:1"][..],
        &["init", "--router", "nginx", "--metrics", "builtin"],
        &["init", "--router", "builtin", "--stable", "localhost"],
        &["init", "--canary", "127.0.0.1:1"],
    ] {
        let r = ws.ship(bad);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.text());
    }
    assert!(!ws.path("ship.toml").exists());
    let r = ws.ship_exits(&["init", "--router", "haproxy"], 0);
    let cfg = ws.read("ship.toml");
    for want in [
        "kind = \"haproxy\"",
        "kind = \"prometheus\"",
        "# CHANGE: haproxy.cfg's `stats socket",
        "# CHANGE: your Prometheus",
        "canary_duration = \"10m\"",
    ] {
        assert!(cfg.contains(want), "{want}:\n{cfg}");
    }
    r.stdout_has("marked CHANGE");
    // staging.stable is empty without --stable: the staging proxy says what to fill in.
    let r = ship_env_exits(&ws, &env(), &["proxy", "--staging"], 2);
    r.text_has("staging.stable");
}
