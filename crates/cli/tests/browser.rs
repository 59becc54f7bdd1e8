//! The dashboard in a real browser: Debian's headless Chromium driven through ChromeDriver's
//! WebDriver API, against `ship serve` with a rollout in flight. The rollout passes its canary
//! into early adopters with p99s of a few milliseconds; an operator logs in, sees the stages and
//! charts that read at a glance (scaled to their data, both lines above the frame, a UTC time
//! axis, a marker per stage entered, a legend), clicks "Roll back", and the new version is
//! rolled back. The screenshot is kept as a test artifact (`target/test-artifacts/dashboard.png`;
//! docs/dashboard.png is one of them). In CI a missing chromium or chromedriver fails the test
//! (scripts/test.sh installs them).

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::ship_env;
use common::servers::{free_addr, http_get};
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPERATOR: &str = "operator-token-0123456789";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One WebDriver call; Err carries WebDriver's error (e.g. a stale element after a reload).
fn wd(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "--max-time",
        "30",
        "-X",
        method,
        url,
        "-H",
        "content-type: application/json",
    ]);
    if let Some(b) = body {
        c.args(["--data-binary", &b.to_string()]);
    }
    let o = c.output().map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&o.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&o.stdout)))?;
    if v["value"].get("error").is_some() {
        return Err(v["value"]["message"]
            .as_str()
            .unwrap_or("error")
            .to_string());
    }
    Ok(v["value"].clone())
}

/// Retries `f` for a few seconds: the page reloads itself on live events.
fn retry<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                eprintln!("  {what}: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Rewrites `metrics.json` every 250 ms until dropped: healthy values that move a little, as
/// real ones do — p99s of a few milliseconds (far under the 600 ms threshold), the stable
/// version at 0 % errors, the canary around 0.1 %.
struct Wobble(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Wobble {
    fn start(ws: &Ws) -> Wobble {
        let stop = Arc::new(AtomicBool::new(false));
        let (file, tmp) = (ws.path("metrics.json"), ws.path("metrics.json.tmp"));
        let flag = stop.clone();
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let t = started.elapsed().as_secs_f64();
                let metrics = HEALTHY
                    .replace(
                        "\"stable/error_rate\": {\"value\": 0.001",
                        "\"stable/error_rate\": {\"value\": 0.0",
                    )
                    .replace(
                        "\"canary/error_rate\": {\"value\": 0.001",
                        &format!(
                            "\"canary/error_rate\": {{\"value\": {:.5}",
                            0.001 + 0.0005 * (t * 1.3).sin()
                        ),
                    )
                    .replace(
                        "\"canary/latency_p99\": {\"value\": 0.12, \"samples\": 500},",
                        &format!(
                            "\"canary/latency_p99\": {{\"value\": {:.5}, \"samples\": 500}}, \"stable/latency_p99\": {{\"value\": {:.5}, \"samples\": 5000}},",
                            0.003 + 0.0012 * (t * 0.7 + 1.0).sin(),
                            0.002 + 0.0004 * (t * 0.9).sin()
                        ),
                    );
                // Whole files only: the metrics command may read at any moment.
                std::fs::write(&tmp, metrics).unwrap();
                std::fs::rename(&tmp, &file).unwrap();
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Wobble(stop, Some(handle))
    }
}

impl Drop for Wobble {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

/// What the page's charts show, read in the browser: for each chart its scale, the top
/// y label, where its lines lie against the frame, time ticks, stage markers and legend.
const CHARTS_JS: &str = r#"
return [...document.querySelectorAll('svg.chart')].map(c => {
  const plot = c.querySelector('rect.plot').getBoundingClientRect();
  const top = c.querySelector('.y-max');
  return {
    chart: c.dataset.chart,
    top: parseFloat(c.dataset.top),
    dataMax: parseFloat(c.dataset.dataMax),
    threshold: parseFloat(c.dataset.threshold),
    thresholdShown: c.dataset.thresholdShown,
    topLabel: top.textContent,
    topValue: parseFloat(top.dataset.value),
    plotBottom: plot.bottom,
    lines: [...c.querySelectorAll('polyline')].map(p => {
      const r = p.getBoundingClientRect();
      return { series: p.dataset.series, bottom: r.bottom, width: r.width };
    }),
    ticks: [...c.querySelectorAll('.time-tick')].map(t => t.textContent),
    caption: c.querySelector('.time-caption').textContent,
    stages: [...c.querySelectorAll('.stage-marker')].map(m => m.dataset.stage),
    events: [...c.querySelectorAll('.event-marker')].map(m => m.dataset.stage),
    legend: [...c.querySelectorAll('.legend-item')].map(l => l.textContent),
    thresholdNote: [...c.querySelectorAll('.threshold')].map(t => t.textContent).join(' '),
  };
});
"#;

/// The charts' structure, checked: each is scaled to its data, both lines lie above the
/// frame's bottom edge, the time axis has UTC ticks, every stage entered has its marker.
fn assert_charts(charts: &Value, stages: &[&str]) {
    let charts = charts.as_array().expect("charts");
    assert_eq!(charts.len(), 2, "{charts:?}");
    for c in charts {
        let f = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
        let (top, data_max) = (f("top"), f("dataMax"));
        // Scaled to the data (or to 0.1 % / 1 ms when it is all smaller), not to the threshold.
        assert!(top >= data_max, "{c}");
        assert!(top <= 2.0 * data_max.max(0.001), "{c}");
        assert_eq!(f("topValue"), top, "{c}");
        let lines = c["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{c}");
        for l in lines {
            assert!(
                l["bottom"].as_f64().unwrap() < f("plotBottom") - 4.0,
                "a line on the frame's bottom edge: {c}"
            );
            assert!(l["width"].as_f64().unwrap() > 50.0, "{c}");
        }
        let ticks = c["ticks"].as_array().unwrap();
        assert!(ticks.len() >= 2, "{c}");
        for t in ticks {
            let t = t.as_str().unwrap();
            assert!(
                t.ends_with('Z') && t.len() >= 6,
                "a tick without its zone: {c}"
            );
        }
        assert!(c["caption"].as_str().unwrap().contains("UTC"), "{c}");
        let marked: Vec<&str> = c["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(marked, stages, "{c}");
        let legend: Vec<&str> = c["legend"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(legend.len(), 3, "{c}");
        assert_eq!(legend[..2], ["stable", "canary"], "{c}");
        assert!(legend[2].starts_with("rollback threshold "), "{c}");
    }
    // The p99 of a few ms reads in ms, under a 600 ms threshold marked off scale.
    let p99 = &charts[1];
    assert_eq!(p99["chart"], "p99 latency");
    let top_ms: f64 = p99["topLabel"]
        .as_str()
        .and_then(|l| l.strip_suffix(" ms"))
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{p99}"));
    assert!((1.0..=10.0).contains(&top_ms), "{p99}");
    assert_eq!(p99["threshold"].as_f64(), Some(0.6), "{p99}");
    assert_eq!(p99["thresholdShown"], "false", "{p99}");
    assert!(
        p99["thresholdNote"]
            .as_str()
            .unwrap()
            .contains("rollback threshold 600 ms (off scale)"),
        "{p99}"
    );
    assert!(p99["legend"][2].as_str().unwrap().ends_with("(off scale)"));
}

#[test]
fn an_operator_rolls_back_the_canary_from_the_dashboard_in_chromium() {
    for tool in ["chromium", "chromedriver"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is missing: apt-get install -y chromium chromium-driver (scripts/test.sh does)"
        );
    }
    // A workspace on the command router whose rollout passes its canary in a few seconds and
    // stays with its early adopters for a while.
    let ws = Ws::init();
    let addr = free_addr();
    let cfg = file_providers(&fast_stages(&ws.read("ship.toml")), "", "cat metrics.json")
        .replace("canary_duration = \"1s\"", "canary_duration = \"5s\"")
        .replace(
            "early_adopter_duration = \"1s\"",
            "early_adopter_duration = \"120s\"",
        )
        .replace("tick_interval = \"100ms\"", "tick_interval = \"500ms\"")
        .replace("max_tick_gap = \"100ms\"", "max_tick_gap = \"500ms\"")
        .replace("min_samples = 50", "min_samples = 10")
        .replace(
            "listen = \"127.0.0.1:8480\"",
            &format!("listen = \"{addr}\""),
        );
    ws.write("ship.toml", &cfg);
    let _wobble = Wobble::start(&ws);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    let _serve = Kill(
        Command::new(env!("CARGO_BIN_EXE_ship"))
            .arg("-C")
            .arg(ws.root())
            .arg("serve")
            .env("SHIP_API_TOKENS", format!("operator:{OPERATOR}"))
            .stdout(std::fs::File::create(ws.path("serve.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{addr}");
    retry("ship serve answers", || {
        http_get(&format!("{base}/healthz")).map_err(|e| e.to_string())
    });
    let mut args = start("web");
    args.push("--detach");
    let r = ship_env(&ws, &[], &args);
    assert_eq!(r.code, 0, "{}", r.text());
    let id = "2026-11-27-web";
    let rollout = || -> Value {
        let o = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "10",
                "-H",
                &format!("authorization: Bearer {OPERATOR}"),
            ])
            .arg(format!("{base}/api/v1/rollouts/{id}"))
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let phase = || -> String { rollout()["phase"].as_str().unwrap_or_default().to_string() };
    let stage = || -> String {
        let v = rollout();
        format!("{} {}", v["phase"].as_str().unwrap_or_default(), v["stage"])
    };
    let started = Instant::now();
    while stage() != "progressing \"early-adopters\"" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached early adopters: {}\n{}",
            stage(),
            ws.read("serve.log")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(4)); // a few samples of early adopters

    let port = free_addr().port();
    let _driver = Kill(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let wdurl = format!("http://127.0.0.1:{port}");
    retry("chromedriver answers", || {
        wd("GET", &format!("{wdurl}/status"), None)
    });
    let profile = tempfile::tempdir().unwrap();
    let session = wd(
        "POST",
        &format!("{wdurl}/session"),
        Some(json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1400",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}})),
    )
    .expect("a Chromium session starts");
    let sid = session["sessionId"].as_str().unwrap().to_string();
    let s = format!("{wdurl}/session/{sid}");
    // Ends the browser with the session, even when an assertion fails (chromedriver alone
    // going away would leave Chromium running).
    struct Session(String);
    impl Drop for Session {
        fn drop(&mut self) {
            let _ = wd("DELETE", &self.0, None);
        }
    }
    let _session = Session(s.clone());
    eprintln!("chromium session {sid}");
    let find = |css: &str| -> Result<String, String> {
        let v = wd(
            "POST",
            &format!("{s}/element"),
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element for {css}: {v}"))
    };

    eprintln!("logging in");
    // Log in as the operator.
    wd(
        "POST",
        &format!("{s}/url"),
        Some(json!({ "url": format!("{base}/login") })),
    )
    .unwrap();
    let input = retry("the login form", || find("input[name=token]"));
    wd(
        "POST",
        &format!("{s}/element/{input}/value"),
        Some(json!({ "text": OPERATOR })),
    )
    .unwrap();
    let button = find("form button").unwrap();
    wd(
        "POST",
        &format!("{s}/element/{button}/click"),
        Some(json!({})),
    )
    .unwrap();
    retry("logged in", || {
        let url = wd("GET", &format!("{s}/url"), None)?;
        (!url.as_str().unwrap_or("").ends_with("/login"))
            .then_some(())
            .ok_or_else(|| format!("still at {url}"))
    });

    eprintln!("release page");
    // The release page: four stages, early adopters current, charts that read at a glance.
    wd(
        "POST",
        &format!("{s}/url"),
        Some(json!({ "url": format!("{base}/releases/{id}") })),
    )
    .unwrap();
    let stages = retry("the stages", || {
        let v = wd(
            "POST",
            &format!("{s}/elements"),
            Some(json!({ "using": "css selector", "value": ".stages .stage" })),
        )?;
        let n = v.as_array().map(Vec::len).unwrap_or(0);
        (n == 4).then_some(n).ok_or_else(|| format!("{n} stages"))
    });
    assert_eq!(stages, 4);
    retry("early adopters is the current stage", || {
        find(".stage.current[data-stage=early-adopters]")
    });
    let rect = retry("a chart with a line", || {
        let chart = find("svg.chart[data-chart='error rate']")?;
        find("svg.chart[data-chart='error rate'] polyline")?;
        wd("GET", &format!("{s}/element/{chart}/rect"), None)
    });
    assert!(rect["width"].as_f64().unwrap() > 100.0, "{rect}");
    assert!(rect["height"].as_f64().unwrap() > 50.0, "{rect}");
    let charts = retry("the charts", || {
        wd(
            "POST",
            &format!("{s}/execute/sync"),
            Some(json!({ "script": CHARTS_JS, "args": [] })),
        )
    });
    assert_charts(&charts, &["canary", "early-adopters"]);
    // Times carry their zone; the decision log says what it shows and links to all of it.
    let times = wd(
        "POST",
        &format!("{s}/execute/sync"),
        Some(json!({ "script": "return [document.querySelector('#decisions td').textContent, document.querySelector('.decisions-nav').textContent, document.querySelector('a.all-decisions').href]", "args": [] })),
    )
    .unwrap();
    assert!(times[0].as_str().unwrap().ends_with(" UTC"), "{times}");
    assert!(
        times[1]
            .as_str()
            .unwrap()
            .contains("decisions, newest first"),
        "{times}"
    );
    let all_decisions = times[2].as_str().unwrap().to_string();
    assert!(
        all_decisions.ends_with(&format!("/api/v1/rollouts/{id}/decisions")),
        "{times}"
    );

    // The live-update script parsed and runs.
    let live = wd(
        "POST",
        &format!("{s}/execute/sync"),
        Some(json!({ "script": "return typeof later + ' ' + es.readyState", "args": [] })),
    )
    .unwrap();
    assert!(live.as_str().unwrap().starts_with("function"), "{live}");
    eprintln!("rolling back");
    // Roll back: type a reason (the page stops reloading itself while one is typed), click.
    retry("the roll back form", || {
        let reason = find("form[action$='/abort'] input[name=reason]")?;
        wd(
            "POST",
            &format!("{s}/element/{reason}/value"),
            Some(json!({ "text": "canary looks wrong in the browser" })),
        )?;
        let button = find("form[action$='/abort'] button")?;
        wd(
            "POST",
            &format!("{s}/element/{button}/click"),
            Some(json!({})),
        )
    });
    retry("the canary is rolled back", || {
        (phase() == "rolled-back")
            .then_some(())
            .ok_or_else(|| format!("{}\n{}", phase(), ws.read("serve.log")))
    });
    assert_eq!(ws.read("weight").trim(), "0");
    eprintln!("rolled back; reloading the page");

    // The page after the rollback, kept as the artifact.
    wd(
        "POST",
        &format!("{s}/url"),
        Some(json!({ "url": format!("{base}/releases/{id}") })),
    )
    .unwrap();
    retry("the page shows rolled-back", || find(".pill.rolled-back"));
    // The charts now mark the rollback too.
    let charts = wd(
        "POST",
        &format!("{s}/execute/sync"),
        Some(json!({ "script": CHARTS_JS, "args": [] })),
    )
    .unwrap();
    assert_charts(&charts, &["canary", "early-adopters"]);
    assert_eq!(charts[0]["events"], json!(["rollback"]), "{charts}");
    eprintln!("screenshot");
    let png = wd("GET", &format!("{s}/screenshot"), None).unwrap();
    // target/test-artifacts, beside CARGO_TARGET_TMPDIR (target/tmp).
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let artifact = artifacts.join("dashboard.png");
    // Through a file: piping both ways at once would fill one pipe while writing the other.
    let b64 = ws.path("dashboard.b64");
    std::fs::write(&b64, png.as_str().unwrap()).unwrap();
    let out = Command::new("base64").arg("-d").arg(&b64).output().unwrap();

    assert!(out.stdout.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(&artifact, &out.stdout).unwrap();
    println!("screenshot: {}", artifact.display());

    // "All decisions" works: the browser's cookie reads the API's JSON.
    wd(
        "POST",
        &format!("{s}/url"),
        Some(json!({ "url": all_decisions })),
    )
    .unwrap();
    let text = retry("all decisions", || {
        let body = find("body")?;
        wd("GET", &format!("{s}/element/{body}/text"), None)
    });
    let v: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert!(v["decisions"].as_array().unwrap().len() > 3, "{v}");
}
