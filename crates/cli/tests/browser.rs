//! The dashboard in a real browser: Debian's headless Chromium driven through ChromeDriver's
//! WebDriver API, against `ship serve` with a rollout in flight. An operator logs in, sees the
//! stages and a rendered chart, clicks "Roll back", and the canary is rolled back. The
//! screenshot is kept as a test artifact (`$CARGO_TARGET_TMPDIR/dashboard.png`).
//! In CI a missing chromium or chromedriver fails the test (scripts/test.sh installs them).

mod common;
use common::builtin::ship_env;
use common::servers::{free_addr, http_get};
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
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

#[test]
fn an_operator_rolls_back_the_canary_from_the_dashboard_in_chromium() {
    for tool in ["chromium", "chromedriver"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is missing: apt-get install -y chromium chromium-driver (scripts/test.sh does)"
        );
    }
    // A workspace on the command router whose rollout stays in its canary for a while.
    let ws = Ws::init();
    let addr = free_addr();
    let cfg = file_providers(&fast_stages(&ws.read("ship.toml")), "", "cat metrics.json")
        .replace("canary_duration = \"1s\"", "canary_duration = \"60s\"")
        .replace("tick_interval = \"100ms\"", "tick_interval = \"500ms\"")
        .replace("max_tick_gap = \"100ms\"", "max_tick_gap = \"500ms\"")
        .replace("min_samples = 50", "min_samples = 10")
        .replace(
            "listen = \"127.0.0.1:8480\"",
            &format!("listen = \"{addr}\""),
        );
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
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
    let phase = || -> String {
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
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["phase"].as_str().unwrap_or_default().to_string()
    };
    retry("the rollout is in flight", || {
        (phase() == "progressing").then_some(()).ok_or_else(&phase)
    });
    std::thread::sleep(Duration::from_secs(2)); // a few samples for the chart

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
    // The release page: four stages, the canary current, a chart that rendered.
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
    retry("the canary is the current stage", || {
        find(".stage.current[data-stage=canary]")
    });
    let rect = retry("a chart with a line", || {
        let chart = find("svg.chart[data-chart='error rate']")?;
        find("svg.chart[data-chart='error rate'] polyline")?;
        wd("GET", &format!("{s}/element/{chart}/rect"), None)
    });
    assert!(rect["width"].as_f64().unwrap() > 100.0, "{rect}");
    assert!(rect["height"].as_f64().unwrap() > 50.0, "{rect}");

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
    eprintln!("screenshot");
    let png = wd("GET", &format!("{s}/screenshot"), None).unwrap();
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    // Through a file: piping both ways at once would fill one pipe while writing the other.
    let b64 = ws.path("dashboard.b64");
    std::fs::write(&b64, png.as_str().unwrap()).unwrap();
    let out = Command::new("base64").arg("-d").arg(&b64).output().unwrap();

    assert!(out.stdout.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(&artifact, &out.stdout).unwrap();
    println!("screenshot: {}", artifact.display());
}
