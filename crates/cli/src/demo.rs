//! `ship demo`: the Ship loop end to end on one machine — two versions of the sample service
//! behind ship's proxy, real traffic, a release signed with a throwaway demo key, and the real
//! rollout engine with its stages compressed to seconds.

use crate::output::Out;
use chrono::Utc;
use shiploop_controller::Controller;
use shiploop_proxy::admin::{serve as serve_admin, Admin};
use shiploop_proxy::health::{spawn as spawn_health, HealthConfig};
use shiploop_proxy::resources::{spawn as spawn_resources, Resources};
use shiploop_proxy::server::{serve, Proxy, ProxyConfig, StickyKey};
use shiploop_proxy::split::Version;
use shiploop_workspace::{Error, NewOptions, Workspace};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AGENT: &str = "demo-agent@shiploop.invalid";
const APPROVER: &str = "demo-approver@shiploop.invalid";
const ONCALL: &str = "demo-oncall@shiploop.invalid";

/// The demo's smoke tests: what users see after the full rollout.
const SMOKE: &str = r#"
# The new version's memory stays bounded while it serves everything.
[checks.resource-usage]
metric = "memory_rss_bytes"
condition = "< 500000000"

[[smoke]]
name = "checkout serves v2"
path = "/checkout"
headers = { "x-user-id" = "smoke-test" }
json_pointer = "/version"
json_equals = "v2"
max_latency = "1s"
tags = ["user-facing"]

[[smoke]]
name = "cart"
path = "/cart"
headers = { "x-user-id" = "smoke-test" }
tags = ["user-facing"]
"#;

fn usage(e: impl std::fmt::Display) -> Error {
    Error::Usage(e.to_string())
}

/// A sample-service process, killed when dropped.
struct Service(Child, SocketAddr);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sample_binary() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(usage)?;
    let p = exe.with_file_name("ship-sample");
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Usage(format!(
            "ship demo needs the sample service next to ship ({}): build the workspace (cargo build) or install both binaries",
            p.display()
        )))
    }
}

fn start_sample(bin: &Path, args: &[&str]) -> Result<Service, Error> {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(usage)?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or_else(|| usage("no stdout"))?)
        .read_line(&mut line)
        .map_err(usage)?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| usage(format!("ship-sample said {line:?}")))?;
    Ok(Service(child, addr))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(usage)?;
    }
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Lays out the demo workspace: compressed stages, three verdicts, a demo-only approver key,
/// and an approved release. Returns the release id.
fn prepare(dir: &Path) -> Result<String, Error> {
    shiploop_workspace::init(dir)?;
    let cfg_path = dir.join("ship.toml");
    let cfg = std::fs::read_to_string(&cfg_path)
        .map_err(usage)?
        .replace("name = \"", "name = \"demo-checkout\"\n# was: name = \"")
        .replace("canary_duration = \"10m\"", "canary_duration = \"5s\"")
        .replace(
            "early_adopter_duration = \"30m\"",
            "early_adopter_duration = \"5s\"",
        )
        .replace("ga_duration = \"1h\"", "ga_duration = \"5s\"")
        .replace("tick_interval = \"auto\"", "tick_interval = \"500ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"1s\"")
        .replace("min_samples = 50", "min_samples = 20")
        .replace("window = \"1m\"", "window = \"3s\"")
        // Time for the judge to gather its evidence at the demo's traffic (about 40 canary
        // requests a second at 5 %: a 1 pp regression is ruled out after about 500).
        .replace("max_hold = \"15m\"", "max_hold = \"1m\"")
        // The demo has no alert source (no Alertmanager): a trigger without data would hold
        // the rollout for ever, so it is switched off here — and the contract says so.
        .replace(
            "critical_security_alert = true",
            "critical_security_alert = false",
        );
    let mut cfg = cfg;
    for (table, key, value) in [
        ("migrations", "paths", "[\"db/migrations\"]"),
        ("validation", "window", "\"8s\""),
        ("oncall", "team", "\"checkout-oncall\""),
        (
            "oncall",
            "notify_command",
            "\"echo {message} >> oncall-inbox.txt\"",
        ),
    ] {
        cfg = shiploop_config::set_key(&cfg, table, key, value)
            .ok_or_else(|| usage(format!("demo: ship.toml has no {table}.{key}")))?;
    }
    write(
        &cfg_path,
        &format!("# ship demo: stages compressed to seconds.\n{cfg}"),
    )?;
    // Dates relative to today: the demo tells the same story whatever day it runs.
    let day = |d: i64| (Utc::now() + chrono::Duration::days(d)).date_naive();
    // The flag the release relies on, and its migration: expand-only, so v1 keeps working.
    write(
        &dir.join("work/flags.yaml"),
        &format!(
            "flags:\n- name: saved-cards\n  owner: payments-team@shiploop.invalid\n  type: release\n  default: false\n  description: Customers can save a card at checkout\n  created: {}\n  cleanup_by: {}\n",
            day(-7),
            day(33)
        ),
    )?;
    write(
        &dir.join("db/migrations/001_saved_cards.sql"),
        "-- Expand: a new nullable column and a concurrent index; v1 never reads them.\nSET lock_timeout = '2s';\nSET statement_timeout = '60s';\nALTER TABLE customers ADD COLUMN IF NOT EXISTS saved_card_token text;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS customers_saved_card ON customers (saved_card_token);\n",
    )?;
    let evaluated = day(-1);
    let verdict = |id: &str, v: &str, summary: &str| {
        format!("---\nid: {id}\nverdict: {v}\nmission: checkout\nsummary: {summary}\nevaluated_at: {evaluated}\nevaluator: demo-quality-layer\n---\n# Evaluation of {id}\n")
    };
    let ev = dir.join("work/evaluations");
    write(
        &ev.join("faster-checkout.md"),
        &verdict("faster-checkout", "PASS", "Checkout answers faster"),
    )?;
    write(
        &ev.join("saved-cards.md"),
        &verdict("saved-cards", "PASS", "Customers can save a card"),
    )?;
    write(
        &ev.join("coupon-rework.md"),
        &verdict("coupon-rework", "FAIL", "Coupons applied twice on refresh"),
    )?;

    // A throwaway key, clearly labelled: the demo approves its own release only to show the flow.
    let key = dir.join(".ship/demo-keys/DEMO-ONLY-approver");
    std::fs::create_dir_all(key.parent().unwrap_or(dir)).map_err(usage)?;
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "DEMO ONLY - never use for real approvals",
            "-f",
        ])
        .arg(&key)
        .status()
        .map_err(|e| {
            usage(format!(
                "ssh-keygen is needed for the demo's throwaway key: {e}"
            ))
        })?;
    if !st.success() {
        return Err(usage("ssh-keygen could not make the demo key"));
    }
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).map_err(usage)?;
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let signers = dir.join("work/allowed_signers");
    let mut text = std::fs::read_to_string(&signers).map_err(usage)?;
    text.push_str(&format!("# DEMO ONLY: a throwaway key made by `ship demo`.\n{APPROVER} namespaces=\"shiploop-release\" {}\n", fields.join(" ")));
    write(&signers, &text)?;

    // The mission's outcome contract, measured by the proxy (the demo has no Prometheus): the
    // first checkpoint is today so the demo can show the Operate loop's first measurement.
    write(
        &dir.join("work/missions/checkout/OUTCOME-CONTRACT.md"),
        &format!(
            "---\nmission: checkout\nmetrics:\n- name: new-version-error-rate\n  source: builtin\n  query: canary/error_rate\n  comparison: '<='\n  target: 0.01\n  baseline: 0.004\n- name: checkout-p99-seconds\n  source: builtin\n  query: canary/latency_p99\n  comparison: '<='\n  target: 0.3\n  baseline: 0.412\nmeasurement_schedule:\n- name: launch\n  date: {}\n- name: week-1\n  date: {}\n- name: day-30\n  date: {}\n---\n# Outcome contract: checkout\n\nCheckout must get faster at p99 without failing more often.\n",
            day(0),
            day(7),
            day(30)
        ),
    )?;
    let ws = Workspace::open(dir)?;
    let now = Utc::now();
    let opts = NewOptions {
        mission: Some("checkout".into()),
        flags: vec!["saved-cards".into()],
        ..NewOptions::default()
    };
    let new = ws.release_new("checkout-v2", &opts, now)?;
    ws.submit(&new.id, AGENT, now)?;
    ws.approve_with_key(&new.id, &key, None, None, now)?;
    Ok(new.id)
}

/// One of ship's proxies in this process (production or staging), on free loopback ports.
/// Returns (proxy address, admin URL).
async fn start_proxy(
    stable: &Service,
    canary: &Service,
    token: &str,
) -> std::io::Result<(SocketAddr, SocketAddr)> {
    let cfg = ProxyConfig {
        stable: vec![stable.1],
        canary: vec![canary.1],
        sticky: StickyKey::Header(hyper::header::HeaderName::from_static("x-user-id")),
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout: Duration::from_secs(5),
        window_secs: 120,
        balance: shiploop_proxy::server::Balance::RoundRobin,
    };
    let proxy = Proxy::new(cfg, 0);
    let hc = HealthConfig {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        ..HealthConfig::default()
    };
    let (health, _checks) = spawn_health(
        vec![(stable.1, Version::Stable), (canary.1, Version::Canary)],
        hc,
    );
    let routing = proxy.clone();
    health.observe(Arc::new(move |addr, ok| routing.set_healthy(addr, ok)));
    // The demo started both versions, so their memory and CPU are measured too.
    let resources = Arc::new(Resources::default());
    resources.watch(stable.1, Version::Stable, stable.0.id());
    resources.watch(canary.1, Version::Canary, canary.0.id());
    spawn_resources(resources.clone(), Duration::from_secs(1));
    let pl = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let al = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (pa, aa) = (pl.local_addr()?, al.local_addr()?);
    tokio::spawn(serve(proxy.clone(), pl));
    let admin = Arc::new(Admin {
        proxy,
        health: Some(health),
        resources: Some(resources),
        token: token.to_string(),
        state_file: None,
        fingerprint: String::new(),
    });
    tokio::spawn(serve_admin(admin, al));
    Ok((pa, aa))
}

/// Points ship.toml at the proxies this run started: the builtin router and metric source for
/// production, the staging proxy for the rehearsal and the flag evaluation.
fn configure(
    dir: &Path,
    prod: (SocketAddr, SocketAddr),
    staging: (SocketAddr, SocketAddr),
) -> Result<(), Error> {
    let path = dir.join("ship.toml");
    let mut cfg = std::fs::read_to_string(&path).map_err(usage)?;
    let q = |v: String| format!("{v:?}");
    for (table, key, value) in [
        ("router", "kind", q("builtin".into())),
        ("metrics", "kind", q("builtin".into())),
        ("proxy", "listen", q(prod.0.to_string())),
        ("proxy", "admin", q(prod.1.to_string())),
        ("staging", "router", q("builtin".into())),
        ("staging", "admin", q(staging.1.to_string())),
        (
            "staging",
            "url",
            q(format!("http://{}/checkout", staging.0)),
        ),
        (
            "flags",
            "staging_http",
            q(format!("http://{}/flags/{{flag}}", staging.0)),
        ),
    ] {
        cfg = shiploop_config::set_key(&cfg, table, key, &value)
            .ok_or_else(|| usage(format!("demo: ship.toml has no {table}.{key}")))?;
    }
    // The smoke tests and the memory bound, now that the router is the builtin proxy (whose
    // listen address the smoke tests' paths go to).
    cfg = shiploop_config::set_key(
        &cfg,
        "validation",
        "resource_checks",
        "[\"resource-usage\"]",
    )
    .ok_or_else(|| usage("demo: ship.toml has no validation.resource_checks"))?;
    write(&path, &format!("{cfg}\n{SMOKE}"))
}

/// Rehearsal, then `ship check` (which notifies on-call), the on-call acknowledgement, and
/// `ship check` again: the gates a real release goes through. Ok(false) when one fails.
fn gates(out: &Out, ws: &Workspace, id: &str) -> Result<bool, Error> {
    let rt = crate::rollout::runtime()?;
    let r = rt.block_on(shiploop_controller::rehearse::rehearse(ws, id, Utc::now()))?;
    if !out.json {
        println!("» ship rehearse {id}");
        println!(
            "  staging shifted to v2 in {} ms, rolled back in {} ms — {}{}",
            r.shift_ms,
            r.rehearsal.rollback_ms,
            r.rehearsal.detail,
            r.flags
                .iter()
                .map(|f| format!("; flag {}: {}", f.flag, f.detail))
                .collect::<String>()
        );
    }
    let (first, _) = rt.block_on(shiploop_controller::check::check(ws, id, &[], Utc::now()))?;
    if !out.json {
        println!(
            "» ship check {id}   → waits for: {}",
            shiploop_controller::check::failing_names(&first)
        );
        println!("» ship oncall ack {id} --as {ONCALL}   # the demo's on-call person");
    }
    shiploop_controller::check::oncall_ack(ws, id, ONCALL, Utc::now())?;
    let (report, notes) =
        rt.block_on(shiploop_controller::check::check(ws, id, &[], Utc::now()))?;
    if !out.json {
        println!("» ship check {id}");
    }
    // In JSON mode the report is the demo's document only when it stops here.
    if !out.json || !report.passed() {
        crate::gates_cmd::print_report(out, &report, &notes);
    }
    if !out.json {
        println!();
    }
    Ok(report.passed())
}

/// `ship handoff` and `ship operate tick` on the validated release; true when the mission is in
/// Operate and its first checkpoint was measured.
fn operate(
    out: &Out,
    rt: &tokio::runtime::Runtime,
    ws: &Workspace,
    id: &str,
) -> Result<(bool, serde_json::Value), Error> {
    if !out.json {
        println!("\n» ship handoff {id} --accept critical-alerts=\"…\"");
    }
    // The demo has no alert source: the critical-alerts criterion cannot be confirmed, and a
    // person says so, on the record.
    let accept = [shiploop_gates::handoff::Acceptance {
        item: "critical-alerts".into(),
        by: "demo-oncall@shiploop.invalid".into(),
        reason: "the demo has no Alertmanager; the proxy's golden metrics were watched".into(),
    }];
    if !out.json {
        println!("  (accepting critical-alerts: the demo has no alert source)");
    }
    let h = shiploop_controller::handoff::handoff(ws, id, &accept, Utc::now())?;
    if !out.json {
        crate::operate_cmd::print_handoff(ws, &h);
    }
    if !h.handed_over {
        return Ok((false, serde_json::json!({ "handoff": h })));
    }
    if !out.json {
        println!("\n» ship operate tick");
    }
    let now = Utc::now();
    let t = rt.block_on(shiploop_controller::operate::tick(ws, now))?;
    if !out.json {
        crate::operate_cmd::print_tick(&t, now);
    }
    let measured = t.ok() && t.measured.len() == 1;
    Ok((measured, serde_json::json!({ "handoff": h, "tick": t })))
}

/// What a demo run leaves behind: its sample services (killed when it is interrupted) and its
/// workspace (removed at the end unless kept).
struct Leftovers {
    dir: PathBuf,
    keep: bool,
    pids: std::sync::Mutex<Vec<u32>>,
    interrupted: AtomicBool,
    /// The exit code of the signal that interrupted the demo (130 or 143).
    code: std::sync::atomic::AtomicI32,
    /// Set by whoever ends the process: the signal's handler, or the main thread when the
    /// handler's runtime ended with the demo before the handler could.
    exiting: AtomicBool,
}

impl Leftovers {
    fn started(&self, s: &Service) {
        if let Ok(mut pids) = self.pids.lock() {
            pids.push(s.0.id());
        }
    }

    fn kill_services(&self) {
        if let Ok(pids) = self.pids.lock() {
            for pid in pids.iter() {
                #[cfg(unix)]
                // SAFETY: kill(2) with a pid this process started and a plain signal.
                unsafe {
                    libc::kill(*pid as i32, libc::SIGTERM);
                }
            }
        }
    }

    /// Removes the workspace unless it is kept; says which.
    fn finish(&self) -> String {
        let dir = self.dir.display();
        if self.keep {
            return format!("the demo workspace is kept in {dir}");
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => format!(
                "removed the demo workspace {dir} (`ship demo --keep` keeps it, `--dir PATH` makes it there)"
            ),
            Err(e) => format!("could not remove the demo workspace {dir}: {e}"),
        }
    }

    /// After a phase that a signal may have cut short: when the demo was interrupted, the
    /// signal's handler ends the process (and says why); nothing more is printed meanwhile. If
    /// the demo returned so soon that its runtime, and the handler with it, is gone, the main
    /// thread ends it the same way.
    fn stop_if_interrupted(&self) {
        if self.interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1000));
            self.exit_interrupted();
        }
    }

    /// Stops the services, says the demo cannot be resumed, cleans up, and exits with the
    /// signal's code — once, whoever gets here first.
    fn exit_interrupted(&self) -> ! {
        if self.exiting.swap(true, Ordering::SeqCst) {
            // The other one is ending the process.
            loop {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.kill_services();
        eprintln!(
            "\nship demo interrupted: its proxies and sample services ran inside this process and have stopped with it, so this demo cannot be resumed (`ship rollout resume` has nothing to drive). Run `ship demo` again to start over."
        );
        eprintln!("{}", self.finish());
        std::process::exit(self.code.load(Ordering::SeqCst));
    }
}

/// Ends the demo on Ctrl-C or SIGTERM, whatever it is doing: its proxies and services live in
/// this process, so nothing of it can be resumed — it says so, stops the services and removes
/// the workspace unless kept.
fn handle_signals(rt: &tokio::runtime::Runtime, leftovers: Arc<Leftovers>) -> Result<(), Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(usage)?;
    rt.spawn(async move {
        let code = tokio::select! {
            _ = term.recv() => 143,
            _ = int.recv() => 130,
        };
        leftovers.code.store(code, Ordering::SeqCst);
        leftovers.interrupted.store(true, Ordering::SeqCst);
        // A rollout in progress stops on the same signal and records where it was.
        tokio::time::sleep(Duration::from_millis(500)).await;
        leftovers.exit_interrupted();
    });
    Ok(())
}

pub fn run(out: &Out, scenario: &str, dir: Option<&Path>, keep: bool) -> Result<u8, Error> {
    // Kept when asked for, or when the user chose where it goes.
    let keep = keep || dir.is_some();
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("ship-demo-{}-{}", scenario, std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(usage)?;
    let dir = std::path::absolute(&dir).map_err(usage)?;
    let leftovers = Arc::new(Leftovers {
        dir: dir.clone(),
        keep,
        pids: std::sync::Mutex::new(vec![]),
        interrupted: AtomicBool::new(false),
        code: std::sync::atomic::AtomicI32::new(130),
        exiting: AtomicBool::new(false),
    });
    let result = demo(out, scenario, &dir, &leftovers);
    leftovers.stop_if_interrupted();
    let note = leftovers.finish();
    if !out.json || result.is_err() {
        if result.is_ok() {
            println!("{note}");
        } else {
            eprintln!("{note}");
        }
    }
    result
}

fn demo(out: &Out, scenario: &str, dir: &Path, leftovers: &Arc<Leftovers>) -> Result<u8, Error> {
    let bin = sample_binary()?;
    // The tokens are set before any thread starts; the builtin router and the rehearsal read
    // them from the environment like in a real workspace.
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let token = format!("demo-{nanos:x}-admin");
    let staging_token = format!("demo-{nanos:x}-staging");
    std::env::set_var("SHIP_ADMIN_TOKEN", &token);
    std::env::set_var("SHIP_STAGING_ADMIN_TOKEN", &staging_token);

    // The data planes run on their own threads; the engine drives them like any router.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(usage)?;
    handle_signals(&rt, leftovers.clone())?;
    if !out.json {
        println!(
            "ship demo ({scenario}) in {}{}",
            dir.display(),
            if leftovers.keep {
                ""
            } else {
                " (removed at the end; --keep keeps it)"
            }
        );
    }
    let id = prepare(dir)?;

    let v2_args: Vec<&str> = match scenario {
        "bad" => vec!["--version", "v2", "--error-rate", "0.05"],
        "slow" => vec!["--version", "v2", "--latency-ms", "700"],
        "broken-cart" => vec!["--version", "v2", "--fail-path", "/cart"],
        _ => vec!["--version", "v2"],
    };
    let start = |args: &[&str]| {
        let s = start_sample(&bin, args)?;
        leftovers.started(&s);
        Ok::<_, Error>(s)
    };
    let v1 = start(&["--version", "v1"])?;
    let v2 = start(&v2_args)?;
    // Staging: its own copies of both versions; v2 knows the release's feature flag.
    let s1 = start(&["--version", "v1"])?;
    let s2 = start(&["--version", "v2", "--flag", "saved-cards=on"])?;

    let (prod, staging) = rt
        .block_on(async {
            let prod = start_proxy(&v1, &v2, &token).await?;
            let staging = start_proxy(&s1, &s2, &staging_token).await?;
            Ok::<_, std::io::Error>((prod, staging))
        })
        .map_err(usage)?;
    configure(dir, prod, staging)?;
    let ws = Workspace::open(dir)?;
    let proxy_addr = prod.0;
    // Load: about 800 requests a second from 5,000 users, until the rollout ends.
    {
        let _guard = rt.enter();
        let uri: hyper::Uri = format!("http://{proxy_addr}/checkout")
            .parse()
            .map_err(usage)?;
        let header = hyper::header::HeaderName::from_static("x-user-id");
        crate::load_cmd::spawn(&uri, &header, 800, 5000, Default::default());
    }
    if !out.json {
        println!(
            "production: v1 at {}, v2 at {}, proxy at {}, admin at {}",
            v1.1, v2.1, prod.0, prod.1
        );
        println!(
            "staging:    v1 at {}, v2 at {}, proxy at {}, admin at {}",
            s1.1, s2.1, staging.0, staging.1
        );
        println!("release {id}: compiled from 2 PASS verdicts, submitted by {AGENT}, approved by {APPROVER} (demo-only key)\n");
    }
    // Let the first measurements exist before anyone looks.
    std::thread::sleep(Duration::from_secs(2));
    let gates_passed = gates(out, &ws, &id)?;
    let code = if !gates_passed {
        if !out.json {
            println!("a pre-deployment gate failed: the rollout does not start");
        }
        1
    } else {
        let mut c = Controller::open(&ws, &id, Utc::now())?;
        let (code, value) = crate::rollout::drive(out, &mut c, false)?;
        leftovers.stop_if_interrupted();
        let mut code = code;
        let mut value = value;
        if code == 0 {
            if !out.json {
                println!("\n» ship validate {id}   # runs by itself after the last stage");
            }
            let (vcode, v) = crate::gates_cmd::validation_outcome(out, &mut c)?;
            leftovers.stop_if_interrupted();
            code = vcode;
            if let (Some(doc), Some(v)) = (value.as_mut(), v) {
                doc["validation"] = v;
                crate::rollout::refresh_doc(doc, &c);
            }
        }
        // Ship ends with the handoff; Operate begins with the first measurement.
        if code == 0 {
            let (handed, doc) = operate(out, &rt, &ws, &id)?;
            if let Some(v) = value.as_mut() {
                v["operate"] = doc;
            }
            if !handed {
                code = 1;
            }
        }
        if let Some(v) = value {
            out.print_json(&v);
        }
        code
    };
    // Shutting the runtime down ends the load with everything else.
    rt.shutdown_timeout(Duration::from_secs(2));
    drop((v1, v2, s1, s2));

    let expected = if scenario == "good" { 0 } else { 1 };
    // Every scenario must pass its gates: a gate failure is never the expected rollback.
    let ok = gates_passed && code == expected;
    if !out.json {
        println!();
        if leftovers.keep {
            println!("artifacts in {}:", dir.display());
            println!(
                "  work/releases/{id}.md   the signed contract: gates, rollout log, validation"
            );
            println!("  work/signals/              incident signals (bad, slow, broken-cart)");
            println!(
                "  work/missions/checkout/    outcome contract and reports with charts (good)"
            );
            println!("  oncall-inbox.txt           what the on-call team was sent");
            println!("  STATUS.md, .ship/state.db  status and the decision log");
            println!("inspect them with two commands:");
            println!("  ship -C {} rollout status {id}", dir.display());
            println!("  ship -C {} audit verify", dir.display());
        }
        println!(
            "demo {scenario}: {}",
            if ok {
                "ended as it should"
            } else {
                "DID NOT end as expected"
            }
        );
    }
    Ok(if ok { 0 } else { 1 })
}
