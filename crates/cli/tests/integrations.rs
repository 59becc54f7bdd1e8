//! Rollouts measured by real Prometheus and Alertmanager servers (started here on free loopback
//! ports) scraping real `ship-sample` instances. Traffic moves through the command router (a
//! file); the metrics are what Prometheus scraped.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::servers::{self, Server};
use common::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A workspace whose rollouts read Prometheus (and Alertmanager when given), with an approved
/// release `web`. Stages last `stage`; ticks every 250 ms.
fn prom_ws(prom: &Server, am: Option<&Server>, stage: &str) -> Ws {
    let ws = Ws::init();
    let named = ws.read("ship.toml").replacen(
        &format!("name = \"{}\"", ws.service_name()),
        "name = \"checkout\"",
        1,
    );
    let mut cfg = stages(&named, stage)
        .replace("window = \"30m\"", "window = \"2s\"")
        .replace("tick_interval = \"auto\"", "tick_interval = \"250ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"250ms\"")
        .replace(
            "set_weight = \"\"",
            "set_weight = \"echo {weight} > weight\"",
        )
        .replace(
            "kind = \"command\"\n# The window each",
            "kind = \"prometheus\"\n# The window each",
        )
        .replace("window = \"1m\"", "window = \"10s\"")
        .replace(
            "url = \"http://127.0.0.1:9090\"",
            &format!("url = \"{}\"", prom.url()),
        )
        .replace("stable_version = \"stable\"", "stable_version = \"v1\"")
        .replace("canary_version = \"canary\"", "canary_version = \"v2\"");
    match am {
        Some(am) => {
            cfg = cfg
                .replace("kind = \"none\"", "kind = \"alertmanager\"")
                .replace(
                    "url = \"http://127.0.0.1:9093\"",
                    &format!("url = \"{}\"", am.url()),
                );
        }
        None => {
            cfg = cfg.replace(
                "critical_security_alert = true",
                "critical_security_alert = false",
            )
        }
    }
    ws.write("ship.toml", &cfg);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    ws
}

/// Steady traffic to both versions until dropped.
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start(targets: &[std::net::SocketAddr]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = targets
            .iter()
            .map(|t| {
                let (t, stop) = (*t, stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        servers::load(t, 10);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        Load(stop, threads)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// Waits until Prometheus has enough scrapes for a 10 s rate.
fn warm_up(prom: &Server) {
    let started = Instant::now();
    loop {
        let q = "sum(increase(http_requests_total%7Bversion%3D%22v2%22%7D%5B10s%5D))";
        let (_, body) =
            servers::http_get(&format!("{}/api/v1/query?query={q}", prom.url())).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let n = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
        if n > 100.0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus has no data: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn decisions(ws: &Ws) -> Vec<serde_json::Value> {
    let r = ws.ship(&["--json", "rollout", "status", "web"]);
    r.json()["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn phase(ws: &Ws) -> String {
    let r = ws.ship(&["--json", "rollout", "status", "web"]);
    r.json()["state"]["phase"]["phase"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The first finding detail that contains `needle`.
fn finding(ws: &Ws, needle: &str) -> Option<String> {
    decisions(ws)
        .iter()
        .flat_map(|d| d["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["detail"].as_str().map(str::to_string))
        .find(|d| d.contains(needle))
}

/// Waits (30 s at most) until a decision has a finding whose detail contains `needle`; `missing`
/// says what did not come.
fn wait_for_finding(ws: &Ws, needle: &str, missing: &str) {
    let started = Instant::now();
    while finding(ws, needle).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "{missing}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_measures_the_injected_error_rate_and_the_engine_rolls_back() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2", "--error-rate", "0.05"]);
    let prom = servers::prometheus(&[("checkout", v1.addr, "v1"), ("checkout", v2.addr, "v2")]);
    let _load = Load::start(&[v1.addr, v2.addr]);
    warm_up(&prom);
    let ws = prom_ws(&prom, None, "20s");
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 1, "rolled back: {}", r.text());
    assert_eq!(phase(&ws), "rolled-back");
    assert_eq!(ws.read("weight").trim(), "0");
    // "canary errors 41/820 (5.00 %) vs stable 0/800 (0.00 %): …, above the 1 pp margin with
    // 99 % confidence" — the counts Prometheus computed since the stage began.
    let detail =
        finding(&ws, "above the 1 pp margin").expect("the error-rate finding that rolled back");
    let pct: f64 = detail
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {detail}"));
    assert!(
        (pct - 5.0).abs() <= 1.0,
        "measured {pct} %, injected 5 %: {detail}"
    );
}

#[test]
fn a_critical_security_alert_in_alertmanager_rolls_back_within_a_tick_and_is_named() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let prom = servers::prometheus(&[("checkout", v1.addr, "v1"), ("checkout", v2.addr, "v2")]);
    let am = servers::alertmanager();
    // An alert that is critical but not about security must not count.
    servers::post_alert(
        &am,
        r#"{"alertname": "DiskFull", "severity": "critical", "category": "capacity"}"#,
    );
    let _load = Load::start(&[v1.addr, v2.addr]);
    warm_up(&prom);
    let ws = prom_ws(&prom, Some(&am), "60s");
    let mut child = servers::ship_in_background(ws.root(), &start("web"));
    // Wait until the canary is being watched with passing triggers, then raise the alert.
    wait_for_finding(
        &ws,
        "0 active critical security alert",
        "no passing alert finding",
    );
    servers::post_alert(
        &am,
        r#"{"alertname": "CVE-2026-1234", "severity": "critical", "category": "security"}"#,
    );
    let raised = chrono::Utc::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    // Within one tick: the tick under way when the alert arrived may still hold (or may already
    // see it, its decision timed at the tick's start, before the alert); at most one decision
    // comes between the alert and the rollback.
    let all = decisions(&ws);
    let at = |d: &serde_json::Value| {
        d["at"]
            .as_str()
            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
    };
    let rollback = all
        .iter()
        .position(|d| d["kind"] == "rollback")
        .expect("a rollback decision");
    let between = all[..rollback]
        .iter()
        .filter(|d| at(d).is_some_and(|t| t > raised))
        .count();
    let kinds: Vec<&str> = all
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or(""))
        .collect();
    assert!(
        between <= 1,
        "{between} decisions between the alert and the rollback: {kinds:?}"
    );
    let detail = finding(&ws, "CVE-2026-1234").expect("the decision names the alert");
    assert!(
        detail.contains("1 active critical security alert"),
        "{detail}"
    );
    assert!(!detail.contains("DiskFull"), "{detail}");
    assert_eq!(ws.read("weight").trim(), "0");
}

#[test]
fn prometheus_going_away_is_an_error_that_holds_then_rolls_back() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let mut prom = servers::prometheus(&[("checkout", v1.addr, "v1"), ("checkout", v2.addr, "v2")]);
    let _load = Load::start(&[v1.addr, v2.addr]);
    warm_up(&prom);
    let ws = prom_ws(&prom, None, "60s");
    // Every hold recorded, not only a minute's evidence: the test waits for a measured one.
    common::builtin::set_all(&ws, &[("state", "evidence_every", "\"0s\"")]);
    let mut child = servers::ship_in_background(ws.root(), &start("web"));
    wait_for_finding(&ws, "canary errors", "no measurement from Prometheus");
    prom.kill();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "rolled back after the error limit");
    assert_eq!(phase(&ws), "rolled-back");
    let errors = decisions(&ws)
        .iter()
        .filter(|d| d.to_string().contains("cannot connect"))
        .count();
    assert!(
        errors >= 4,
        "the error limit (4 ticks) was reached first: {errors}"
    );
}

/// bcrypt (cost 4) of "prom-test-password", for Prometheus's basic_auth_users.
const PROM_HASH: &str = "$2b$04$ukIZsEA8Cur9EwrmXMIEfu8kQVWUIlm7R88vn16rnOCpLc9efPTiC";

#[test]
fn prometheus_over_tls_with_basic_auth_and_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (
        certs.path().join("cert.pem"),
        certs.path().join("key.pem"),
        certs.path().join("ca.pem"),
    );
    // A private CA and a server certificate it signed, for 127.0.0.1.
    let script = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -days 1 -subj /CN=shiploop-test-ca -keyout ca.key -out ca.pem
openssl req $ec -subj /CN=127.0.0.1 -keyout key.pem -out server.csr
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile ext -out cert.pem"#;
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(certs.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(st.success(), "openssl made the certificates");
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let prom = servers::prometheus_with(
        &[("checkout", v1.addr, "v1"), ("checkout", v2.addr, "v2")],
        Some((&cert, &key, "ship", PROM_HASH)),
    );
    let _load = Load::start(&[v1.addr, v2.addr]);
    let ws = prom_ws(&prom, None, "1s");
    let cfg = ws
        .read("ship.toml")
        .replace(
            &format!("url = \"{}\"", prom.url()),
            &format!("url = \"https://{}\"", prom.addr),
        )
        .replacen("basic_user = \"\"", "basic_user = \"ship\"", 1)
        .replacen(
            "basic_password_env = \"\"",
            "basic_password_env = \"PROM_PASSWORD\"",
            1,
        )
        .replacen(
            "ca_file = \"\"",
            &format!("ca_file = \"{}\"", ca.display()),
            1,
        );
    ws.write("ship.toml", &cfg);
    // Without the password's variable nothing starts, and the message names it.
    let r = ws.sh_exits(
        &format!("env -u PROM_PASSWORD ship rollout start web {WAIVE}"),
        2,
    );
    r.text_has("$PROM_PASSWORD");
    // Give Prometheus a few scrapes; then the rollout completes over TLS with the password.
    std::thread::sleep(Duration::from_secs(4));
    ws.sh_exits(
        &format!("PROM_PASSWORD=prom-test-password ship rollout start web {WAIVE}"),
        0,
    );
}
