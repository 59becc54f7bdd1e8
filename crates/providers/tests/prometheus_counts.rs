//! The Prometheus source's counts "since the stage began", against a real Prometheus scraping
//! a target every second, read at ticks of half a second as a rollout does: each tick's
//! request count covers the time since the stage began (not whole seconds of it), and the
//! errors, differenced from tick to tick as the judge does, add up to the error rate the
//! target really had.
//!
//! The target is the new version as a canary stage finds it: a few requests (probes) and no
//! error yet when the stage begins, then 20 requests a second of which every 20th fails.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_providers::cfg::{AdminSettings, BuildContext, Problems};
use shiploop_providers::metrics::prometheus::PrometheusCfg;
use shiploop_providers::metrics::SourceCfg;
use shiploop_providers::{MetricContext, MetricSource};
use shiploop_rollout::Measurement;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Requests a second after the stage began; every 20th fails (5 %).
const RATE: f64 = 20.0;
/// Requests the new version answered before the stage began (probes), none failed.
const BEFORE: u64 = 7;

/// The requests since the stage began at `at`, and how many of them failed (error number k
/// is request 20k − 1: spread evenly, as ship-sample's --error-rate does).
fn truth(stage: SystemTime, at: SystemTime) -> (u64, u64) {
    let n = at
        .duration_since(stage)
        .map_or(0, |d| (d.as_secs_f64() * RATE) as u64);
    (n, n / 20)
}

/// A target whose counters follow [`truth`] once the stage is set, as the Prometheus client
/// libraries expose them (both codes present from the start).
fn serve_target(stage: Arc<OnceLock<SystemTime>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let (n, errors) = stage.get().map_or((0, 0), |s| truth(*s, SystemTime::now()));
            let body = format!(
                "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {errors}\n",
                BEFORE + n - errors
            );
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn source(url: &str) -> Box<dyn MetricSource> {
    let cfg: PrometheusCfg = toml::from_str(&format!(
        "url = \"{url}\"\nselector = 'job=\"web\",version=\"{{{{version}}}}\"'\ncanary_version = \"canary\""
    ))
    .unwrap();
    let mut p = Problems::new(&["metrics", "prometheus"]);
    cfg.check(&mut p);
    assert!(p.found.is_empty(), "{:?}", p.found);
    let admin = AdminSettings {
        addr: String::new(),
        url: String::new(),
        token_env: String::new(),
        fleet: Vec::new(),
    };
    let env = |_: &str| None;
    let cx = BuildContext {
        root: Path::new("."),
        service: "web",
        env: &env,
        admin: &admin,
        asker: None,
    };
    cfg.build(&cx).unwrap()
}

/// The last time Prometheus scraped the target, in seconds since the epoch.
fn last_scrape(url: &str) -> f64 {
    let mut c = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(
        c,
        "GET /api/v1/query?query=timestamp(up) HTTP/1.0\r\nHost: prometheus\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&answer[answer.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn count(m: &Measurement) -> Option<f64> {
    match m {
        Measurement::Value { value, .. } => Some(*value),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_since_the_stage_began_cover_the_stage_to_the_millisecond() {
    let begins = Arc::new(OnceLock::new());
    let target = serve_target(begins.clone());
    // Scraping every second; the target's labels are job="web", version="canary".
    let prom = shiploop_testkit::servers::prometheus(&[("web", target.parse().unwrap(), "canary")]);
    let url = prom.url();
    let src = source(&url);
    // The stage begins once Prometheus has scraped the target as it was before, as in a
    // rollout (a series that first appears after the stage began is another matter).
    let before = MetricContext::window("web", "r", "canary", 0, 15);
    let started = Instant::now();
    loop {
        let obs = src
            .measure(&["canary/failed_instances".to_string()], &before)
            .await;
        if count(&obs["canary/failed_instances"]) == Some(0.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus did not scrape the target: {obs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The stage begins 0.7 s before a scrape, as the example's did: at that scrape the new
    // version has answered 14 requests and no error yet.
    let scrape = std::time::UNIX_EPOCH + Duration::from_secs_f64(last_scrape(&url));
    let mut stage = scrape + Duration::from_millis(2300);
    while stage < SystemTime::now() + Duration::from_millis(500) {
        stage += Duration::from_secs(1);
    }
    begins.set(stage).unwrap();
    tokio::time::sleep(stage.duration_since(SystemTime::now()).unwrap_or_default()).await;

    let keys = vec!["canary/requests".to_string(), "canary/errors".to_string()];
    // Ticks every 500 ms, a quarter of a second off the stage's whole seconds.
    let mut readings = Vec::new();
    for k in 0..36u32 {
        let due = stage + Duration::from_millis(250 + 500 * u64::from(k));
        tokio::time::sleep(due.duration_since(SystemTime::now()).unwrap_or_default()).await;
        let now = SystemTime::now();
        let elapsed = now.duration_since(stage).unwrap();
        let ctx = MetricContext {
            since_secs: elapsed.as_secs().max(1),
            stage_started: Some(stage),
            ..MetricContext::window("web", "r", "canary", 5, 15)
        };
        let obs = src.measure(&keys, &ctx).await;
        let (Some(requests), Some(errors)) =
            (count(&obs["canary/requests"]), count(&obs["canary/errors"]))
        else {
            continue; // the first tick or two: fewer than two scrapes since the stage began
        };
        readings.push((elapsed.as_secs_f64(), requests, errors));
    }
    assert!(readings.len() > 25, "too few readings: {readings:?}");

    // Each tick's request count is the requests since the stage began (within a fifth of a
    // second of traffic: the counters are whole numbers, the target answers a scrape a few
    // milliseconds after Prometheus timestamps it) — not the last whole second's count.
    for (elapsed, requests, _) in &readings {
        let expected = elapsed * RATE;
        assert!(
            (requests - expected).abs() <= 0.2 * RATE,
            "{elapsed:.3} s into the stage: {requests:.1} requests counted, {expected:.1} served\n{readings:?}"
        );
    }

    // Differenced as the judge does (rounded; no more errors than requests in an interval; a
    // count that went down is not subtracted), the errors add up to the target's 5 %.
    let (mut last, mut tallied) = ((0u64, 0u64), (0u64, 0u64));
    for (_, requests, errors) in &readings {
        let (r, e) = (requests.round() as u64, errors.round() as u64);
        if r < last.0 {
            last = (r, e);
            continue;
        }
        let interval = r - last.0;
        tallied.0 += interval;
        tallied.1 += e.saturating_sub(last.1).min(interval);
        last = (r, e.max(last.1));
    }
    let rate = tallied.1 as f64 / tallied.0 as f64;
    assert!(
        (0.04..=0.06).contains(&rate),
        "tallied {} errors in {} requests ({:.2} %), the target failed 5 %\n{readings:?}",
        tallied.1,
        tallied.0,
        rate * 100.0
    );
}
