//! `ship demo`: the Ship loop end to end on one machine — two versions of the sample service
//! behind ship's proxy, real traffic, a release signed with a throwaway demo key, and the real
//! rollout engine with its stages compressed to seconds.

use crate::output::Out;
use chrono::Utc;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shiploop_controller::{Controller, Providers};
use shiploop_providers::builtin::{AdminClient, BuiltinRouter, BuiltinSource};
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
        .replace("tick_interval = \"10s\"", "tick_interval = \"500ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"1s\"")
        .replace("min_samples = 50", "min_samples = 20")
        .replace("window = \"1m\"", "window = \"3s\"")
        .replace("max_hold = \"15m\"", "max_hold = \"20s\"")
        // The demo has no alert source (no Alertmanager): a trigger without data would hold
        // the rollout for ever, so it is switched off here — and the contract says so.
        .replace(
            "critical_security_alert = true",
            "critical_security_alert = false",
        );
    write(
        &cfg_path,
        &format!("# ship demo: stages compressed to seconds.\n{cfg}"),
    )?;
    let verdict = |id: &str, v: &str, summary: &str| {
        format!("---\nid: {id}\nverdict: {v}\nmission: checkout\nsummary: {summary}\nevaluated_at: 2026-11-27\nevaluator: demo-quality-layer\n---\n# Evaluation of {id}\n")
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

    let ws = Workspace::open(dir)?;
    let now = Utc::now();
    let opts = NewOptions {
        mission: Some("checkout".into()),
        ..NewOptions::default()
    };
    let new = ws.release_new("checkout-v2", &opts, now)?;
    ws.submit(&new.id, AGENT, now)?;
    ws.approve_with_key(&new.id, &key, None, None, now)?;
    Ok(new.id)
}

pub fn run(out: &Out, scenario: &str, dir: Option<&Path>) -> Result<u8, Error> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("ship-demo-{}-{}", scenario, std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(usage)?;
    let dir = std::path::absolute(&dir).map_err(usage)?;
    let bin = sample_binary()?;
    if !out.json {
        println!("ship demo ({scenario}) in {}", dir.display());
    }
    let id = prepare(&dir)?;
    let ws = Workspace::open(&dir)?;

    let v2_args: Vec<&str> = match scenario {
        "bad" => vec!["--version", "v2", "--error-rate", "0.05"],
        "slow" => vec!["--version", "v2", "--latency-ms", "700"],
        _ => vec!["--version", "v2"],
    };
    let v1 = start_sample(&bin, &["--version", "v1"])?;
    let v2 = start_sample(&bin, &v2_args)?;

    // The data plane runs on its own threads; the engine drives it like any router.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(usage)?;
    let token = format!("demo-{:x}", Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (admin_base, proxy_addr) = rt
        .block_on(async {
            let cfg = ProxyConfig {
                stable: vec![v1.1],
                canary: vec![v2.1],
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
            let (health, _checks) =
                spawn_health(vec![(v1.1, Version::Stable), (v2.1, Version::Canary)], hc);
            let routing = proxy.clone();
            health.observe(Arc::new(move |addr, ok| routing.set_healthy(addr, ok)));
            // The demo started both versions, so their memory and CPU are measured too.
            let resources = Arc::new(Resources::default());
            resources.watch(v1.1, Version::Stable, v1.0.id());
            resources.watch(v2.1, Version::Canary, v2.0.id());
            spawn_resources(resources.clone(), Duration::from_secs(1));
            let pl = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let al = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let (pa, aa) = (pl.local_addr()?, al.local_addr()?);
            tokio::spawn(serve(proxy.clone(), pl));
            let admin = Arc::new(Admin {
                proxy,
                health: Some(health),
                resources: Some(resources),
                token: token.clone(),
                state_file: None,
                fingerprint: String::new(),
            });
            tokio::spawn(serve_admin(admin, al));
            Ok::<_, std::io::Error>((format!("http://{aa}"), pa))
        })
        .map_err(usage)?;
    // Load: eight clients, each a stream of users, until the rollout ends.
    for worker in 0..8u64 {
        let stop = stop.clone();
        rt.spawn(async move {
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += 8;
                let req = hyper::Request::get(format!("http://{proxy_addr}/checkout"))
                    .header("x-user-id", format!("user-{}", n % 5000))
                    .body(Empty::new());
                if let Ok(req) = req {
                    let _ = client.request(req).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    if !out.json {
        println!(
            "stable v1 at {}, canary v2 at {}, proxy at {proxy_addr}, admin at {admin_base}",
            v1.1, v2.1
        );
        println!("release {id}: compiled from 2 PASS verdicts, submitted by {AGENT}, approved by {APPROVER} (demo-only key)\n");
    }
    // Let the first measurements exist before the engine looks.
    std::thread::sleep(Duration::from_secs(2));
    let admin = AdminClient::new(&admin_base, &token, Duration::from_secs(5));
    let providers = Providers::new(
        Box::new(BuiltinRouter {
            admin: admin.clone(),
        }),
        Box::new(BuiltinSource { admin }),
    );
    let mut c = Controller::open_with(&ws, &id, Utc::now(), providers)?;
    let code = crate::rollout::drive(out, &mut c)?;
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(2));
    drop((v1, v2));

    let expected = if scenario == "good" { 0 } else { 1 };
    let ok = code == expected;
    if !out.json {
        println!();
        println!("artifacts in {}:", dir.display());
        println!("  work/releases/{id}.md   the signed contract with its rollout log");
        println!("  work/signals/              incident signals (bad, slow)");
        println!("  STATUS.md, .ship/state.db  status and the decision log");
        println!(
            "inspect: ship -C {} rollout status {id} --json | ship -C {} audit verify",
            dir.display(),
            dir.display()
        );
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
