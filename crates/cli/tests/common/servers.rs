//! Real servers for integration tests, each started on a free loopback port with its own
//! temporary config and data, and stopped when dropped. A missing server binary fails the test
//! (the test command installs them); it never skips.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The binary `name` on PATH or in /usr/sbin (Debian puts nginx and haproxy there).
pub fn binary(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed; the test command installs it (apt-get install -y {name})");
}

/// A child process killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server now (as if it crashed).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET url` answers 200.
pub fn wait_ready(url: &str, child: &mut Child, what: &str) {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before it was ready");
        }
        if http_get(url).is_ok_and(|(code, _)| code == 200) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal blocking HTTP/1.1 GET over loopback: (status, body).
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    http("GET", url, None)
}

pub fn http(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Prometheus scraping `targets` (job name, address, version label) every second. The version
/// is a target label, so `up` carries it too, as relabelled pod labels do in Kubernetes.
pub fn prometheus(targets: &[(&str, SocketAddr, &str)]) -> Server {
    prometheus_with(targets, None)
}

/// The same, served over TLS with basic auth: `web` is (cert PEM path, key PEM path, user,
/// bcrypt hash of the password). Readiness is checked with curl, which speaks TLS.
pub fn prometheus_with(
    targets: &[(&str, SocketAddr, &str)],
    web: Option<(&Path, &Path, &str, &str)>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut cfg = String::from(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (i, (job, target, version)) in targets.iter().enumerate() {
        // One scrape config per target (job names must be unique); the job label is set back
        // to `job` so both versions share it.
        cfg.push_str(&format!(
            "  - job_name: {job}-{i}\n    static_configs:\n      - targets: ['{target}']\n        labels: {{version: '{version}'}}\n    relabel_configs:\n      - target_label: job\n        replacement: {job}\n"
        ));
    }
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    let mut cmd = Command::new(binary("prometheus"));
    cmd.arg(format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.path().join("data").display()
    ))
    .arg(format!("--web.listen-address={addr}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some((cert, key, user, hash)) = web {
        let web = dir.path().join("web.yml");
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {user}: '{hash}'\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        cmd.arg(format!("--web.config.file={}", web.display()));
    }
    let mut child = cmd.spawn().expect("prometheus starts");
    if web.is_some() {
        let started = Instant::now();
        loop {
            let up = Command::new("curl")
                .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("https://{addr}/-/ready"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            // 401 without credentials: it is up and enforcing auth.
            if up == "401" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prometheus (TLS) not ready: {up}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        wait_ready(&format!("http://{addr}/-/ready"), &mut child, "prometheus");
    }
    Server { child, addr, dir }
}

/// Alertmanager alone (no cluster), routing every alert to a receiver that does nothing.
pub fn alertmanager() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let mut child = Command::new(binary("prometheus-alertmanager"))
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        // No gossip: it would bind 0.0.0.0:9094.
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    wait_ready(
        &format!("http://{addr}/-/ready"),
        &mut child,
        "alertmanager",
    );
    Server { child, addr, dir }
}

/// Fires an alert with `labels` (JSON object) at Alertmanager.
pub fn post_alert(am: &Server, labels: &str) {
    let body = format!("[{{\"labels\": {labels}}}]");
    let (code, text) = http("POST", &format!("{}/api/v2/alerts", am.url()), Some(&body)).unwrap();
    assert_eq!(code, 200, "{text}");
}

/// `ship-sample`, built with the workspace, next to the `ship` under test.
pub fn sample(args: &[&str]) -> Server {
    let bin = Path::new(env!("CARGO_BIN_EXE_ship")).with_file_name("ship-sample");
    assert!(
        bin.is_file(),
        "{} is missing: cargo build --workspace",
        bin.display()
    );
    let addr = free_addr();
    let mut child = Command::new(bin)
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://{addr}/healthz"), &mut child, "ship-sample");
    Server {
        child,
        addr,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Sends `n` GET requests to `addr`.
pub fn load(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        let _ = http_get(&format!("http://{addr}/checkout"));
    }
}

/// The versions (from ship-sample's JSON body) that answered `n` GETs of `front`, deduplicated.
pub fn versions(front: SocketAddr, n: usize) -> Vec<String> {
    let mut out = vec![];
    for _ in 0..n {
        let (code, body) = http_get(&format!("http://{front}/checkout")).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        out.push(v["version"].as_str().unwrap().to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// `ship -C <ws> args…` running in the background, output discarded.
pub fn ship_in_background(root: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ship"))
        .arg("-C")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
