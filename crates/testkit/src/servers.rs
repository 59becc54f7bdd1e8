//! Real servers for integration tests, each started on a free loopback port with its own
//! temporary config and data, and stopped when dropped. A missing server binary fails the test
//! (the test command installs them); it never skips.

use crate::http::{free_addr, http};
use crate::process::{binary, sibling};
use crate::wait::{wait_ready, wait_until};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process on `addr` with its files in `dir`, killed when dropped.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its config and data, removed with it.
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server now (as if it crashed).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        // 401 without credentials: it is up and enforcing auth.
        wait_until(
            "prometheus (TLS) ready",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                Command::new("curl")
                    .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
                    .arg(format!("https://{addr}/-/ready"))
                    .output()
                    .is_ok_and(|o| o.stdout == b"401")
            },
        );
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

/// `ship-sample`, built with the workspace next to `ship` (the test's
/// `env!("CARGO_BIN_EXE_ship")`), on a free port with `args`, once it answers `/healthz`.
pub fn sample(ship: &Path, args: &[&str]) -> Server {
    let bin = sibling(ship, "ship-sample");
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
