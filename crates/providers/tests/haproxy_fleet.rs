//! A fleet of two real HAProxies (started here under a temp dir), built from ship.toml's
//! `[[router.haproxy.fleet]]`: one runtime API on a unix socket, the other over TCP. The
//! weight reaches both; a HAProxy that is gone is named, and a rollback still reaches the other.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_providers::cfg::{AdminSettings, BuildContext};
use shiploop_providers::routers::haproxy::{HaproxyRouter, RuntimeApi};
use shiploop_providers::routers::RouterCfg;
use shiploop_providers::{ErrorKind, RouteContext, TrafficRouter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ctx() -> RouteContext {
    RouteContext {
        service: "web".into(),
        release: "r".into(),
        stage: "canary".into(),
    }
}

/// HAProxy, stopped when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed; the test command installs it (apt-get install -y {name})");
}

fn free_addr() -> String {
    shiploop_testkit::free_addr().to_string()
}

/// HAProxy in `dir` with backend `web` (stable at 100, canary at 0; servers that are never
/// asked) and its runtime API at `stats` (`ipv4@host:port` or a socket path).
async fn haproxy(dir: &Path, stats: &str, api: &RuntimeApi) -> Haproxy {
    let cfg = format!(
        "global\n  stats socket {stats} mode 600 level admin\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         backend web\n  balance roundrobin\n  server stable 127.0.0.1:9 weight 100\n  server canary 127.0.0.1:9 weight 0\n"
    );
    let file = dir.join(format!(
        "haproxy-{}.cfg",
        free_addr().replace([':', '.'], "-")
    ));
    std::fs::write(&file, cfg).unwrap();
    let child = Command::new(binary("haproxy"))
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let h = Haproxy(child);
    let probe = HaproxyRouter {
        socket: api.clone(),
        backend: "web".into(),
        stable_server: "stable".into(),
        canary_server: "canary".into(),
        state_file: None,
        timeout: Duration::from_secs(2),
    };
    let started = Instant::now();
    while probe.command("show info").await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "haproxy did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h
}

/// The router ship.toml's `[router]` builds for a HAProxy fleet in `root`.
fn router(root: &Path, members: &[&str]) -> Box<dyn TrafficRouter> {
    let fleet: String = members
        .iter()
        .map(|s| format!("[[haproxy.fleet]]\nsocket = {s:?}\n"))
        .collect();
    let cfg: RouterCfg = toml::from_str(&format!(
        "kind = \"haproxy\"\n[haproxy]\nbackend = \"web\"\n{fleet}"
    ))
    .unwrap();
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    let admin = AdminSettings {
        addr: String::new(),
        url: String::new(),
        token_env: String::new(),
        fleet: Vec::new(),
    };
    let cx = BuildContext {
        root,
        service: "web",
        env: &|_| None,
        admin: &admin,
        asker: None,
    };
    cfg.build(&cx).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_reaches_every_haproxy_and_a_lost_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    let tcp = free_addr();
    let a = haproxy(
        dir.path(),
        &sock.display().to_string(),
        &RuntimeApi::Unix(sock.clone()),
    )
    .await;
    let b = haproxy(
        dir.path(),
        &format!("ipv4@{tcp}"),
        &RuntimeApi::Tcp(tcp.clone()),
    )
    .await;
    // The socket relative to the workspace, the TCP one by address.
    let fleet = router(dir.path(), &["a.sock", &tcp]);
    let out = fleet.set_weight(&ctx(), 25).await.unwrap();
    assert_eq!(out.members.len(), 2, "{out:?}");
    assert!(
        out.detail
            .contains("confirmed: haproxy a.sock (web: canary weight 25, stable weight 75)"),
        "{}",
        out.detail
    );
    assert!(
        out.detail
            .contains(&format!("confirmed: haproxy {tcp} (web: canary weight 25")),
        "{}",
        out.detail
    );
    assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(25));

    // The second HAProxy goes away: the weight is not confirmed, and the error names it.
    drop(b);
    let e = fleet.set_weight(&ctx(), 50).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
    let text = e.to_string();
    assert!(text.contains("1 of 2 members confirmed"), "{text}");
    assert!(text.contains("confirmed: haproxy a.sock"), "{text}");
    assert!(
        text.contains(&format!("NOT confirmed: haproxy {tcp} (")),
        "{text}"
    );
    // A rollback still reaches the one that is there.
    assert!(fleet.roll_back(&ctx()).await.is_err());
    let only_a = router(dir.path(), &["a.sock"]);
    assert_eq!(only_a.effective_weight(&ctx()).await.unwrap(), Some(0));
    drop(a);
}
