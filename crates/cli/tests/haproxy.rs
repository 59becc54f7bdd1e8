//! The HAProxy router against a real HAProxy (started here on free loopback ports with its own
//! admin socket and state file): rollouts move real traffic between two `ship-sample` versions,
//! and the weights survive a HAProxy restart.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::servers::{self, Server};
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Haproxy {
    child: Child,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy with backend `checkout` (stable at weight 100, canary at 0), reading its server
/// state file at start.
fn haproxy(dir: &Path, front: SocketAddr, v1: &Server, v2: &Server) -> Haproxy {
    let d = dir.display();
    let cfg = format!(
        "global\n  stats socket {d}/admin.sock mode 600 level admin\n  server-state-file {d}/servers.state\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n  load-server-state-from-file global\n\
         frontend fe\n  bind {front}\n  default_backend checkout\n\
         backend checkout\n  balance roundrobin\n  server stable {} weight 100\n  server canary {} weight 0\n",
        v1.addr, v2.addr
    );
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let _ = std::fs::remove_file(dir.join("admin.sock"));
    let child = Command::new(servers::binary("haproxy"))
        .arg("-db")
        .arg("-f")
        .arg(dir.join("haproxy.cfg"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let started = Instant::now();
    while servers::http_get(&format!("http://{front}/healthz")).is_err()
        || !dir.join("admin.sock").exists()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "haproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Haproxy { child }
}

fn haproxy_ws(metrics: &str) -> Ws {
    let ws = Ws::init();
    let cfg = fast_stages(&ws.read("ship.toml"))
        .replace(
            "# What moves traffic: \"builtin\"",
            "kind = \"haproxy\"\n# What moves traffic: \"builtin\"",
        )
        .replacen(
            "kind = \"command\"\n\n[router.command]",
            "\n[router.command]",
            1,
        )
        .replace("socket = \"\"", "socket = \"haproxy/admin.sock\"")
        .replace("backend = \"\"", "backend = \"checkout\"")
        .replace(
            "state_file = \"\"",
            "state_file = \"haproxy/servers.state\"",
        )
        .replace(
            "command = \"\"\ntimeout = \"10s\"",
            "command = \"cat metrics.json\"\ntimeout = \"10s\"",
        );
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", metrics);
    std::fs::create_dir_all(ws.path("haproxy")).unwrap();
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    ws
}

#[test]
fn a_good_release_ends_on_the_new_version_and_survives_a_restart() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let ws = haproxy_ws(HEALTHY);
    let front = servers::free_addr();
    let hp = haproxy(&ws.path("haproxy"), front, &v1, &v2);
    assert_eq!(servers::versions(front, 10), ["v1"]);
    ws.ship_exits(&start("web"), 0);
    assert_eq!(
        servers::versions(front, 20),
        ["v2"],
        "HAProxy serves only v2"
    );
    // A restart reads the weights back from the state file ship keeps.
    drop(hp);
    let _hp = haproxy(&ws.path("haproxy"), front, &v1, &v2);
    assert_eq!(
        servers::versions(front, 20),
        ["v2"],
        "still only v2 after a restart"
    );
}

#[test]
fn a_bad_release_rolls_back_to_the_old_version() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let ws = haproxy_ws(&HEALTHY.replacen("0.001", "0.08", 1));
    let front = servers::free_addr();
    let _hp = haproxy(&ws.path("haproxy"), front, &v1, &v2);
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 1, "rolled back: {}", r.text());
    assert_eq!(
        servers::versions(front, 20),
        ["v1"],
        "HAProxy serves only v1"
    );
    let state = ws.read("haproxy/servers.state");
    assert!(state.contains("checkout"), "{state}");
}
