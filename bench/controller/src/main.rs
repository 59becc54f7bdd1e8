//! The controller benchmark of issue 19: one `ship serve` — the supervisor and the HTTP API,
//! in this process, wired as `ship serve` wires them — driving N rollouts at once, with an
//! in-memory router and scripted healthy metrics so that only ship's own cost is measured.
//! For each N and each state backend (SQLite, PostgreSQL in a throw-away cluster) it prints:
//! how long until every rollout was driven, then over a measured period decisions/s, tick
//! latency, memory, CPU, open files, state growth, and the API and dashboard latency seen by
//! a client asking a few times a second.
//!
//! `bench-controller --help` for the flags; docs/BENCHMARKS.md records the results.

mod alloc;
mod client;
mod procstat;
mod replicas;
mod setup;
mod telemetry;

use chrono::Utc;
use shiploop_controller::{serve, Controller, Providers, SystemClock};
use shiploop_providers::memory::{MemoryRouter, ScriptedSource};
use shiploop_rollout::measure::{self, Measurement};
use shiploop_rollout::{Observation, Phase};
use shiploop_server::metrics::ServeMetrics;
use shiploop_server::AppState;
use shiploop_store::StateStore;
use shiploop_workspace::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use telemetry::{Bench, Watch};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const TOKEN: &str = "bench-viewer-token-0123456789";

struct Opts {
    sizes: Vec<usize>,
    backends: Vec<String>,
    measure: Duration,
    /// How long to wait after every rollout was driven before measuring: the rollouts started
    /// last tick for the first time a tick interval after their start, so the first interval
    /// still carries the start-up.
    settle: Duration,
    tick: String,
    cache: PathBuf,
    drive_timeout: Duration,
    client_every: Duration,
    direct_submit: bool,
}

const USAGE: &str = "bench-controller [--n 100,1000,10000] [--backends sqlite,postgres] [--measure 180] [--settle 0] [--tick 10s] [--cache DIR (default /dev/shm/ship-bench-controller when it exists)] [--drive-timeout 900] [--client-every-ms 200] [--direct-submit]";

fn opts() -> Res<Opts> {
    let mut o = Opts {
        sizes: vec![100, 1000, 10000],
        backends: vec!["sqlite".into(), "postgres".into()],
        measure: Duration::from_secs(180),
        settle: Duration::ZERO,
        tick: "10s".into(),
        cache: if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm/ship-bench-controller")
        } else {
            std::env::temp_dir().join("ship-bench-controller")
        },
        drive_timeout: Duration::from_secs(900),
        client_every: Duration::from_millis(200),
        direct_submit: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--n" => {
                o.sizes = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--backends" => o.backends = val()?.split(',').map(str::to_string).collect(),
            "--measure" => o.measure = Duration::from_secs(val()?.parse()?),
            "--settle" => o.settle = Duration::from_secs(val()?.parse()?),
            "--tick" => o.tick = val()?,
            "--cache" => o.cache = PathBuf::from(val()?),
            "--drive-timeout" => o.drive_timeout = Duration::from_secs(val()?.parse()?),
            "--client-every-ms" => o.client_every = Duration::from_millis(val()?.parse()?),
            "--direct-submit" => o.direct_submit = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a}\n{USAGE}").into()),
        }
    }
    for b in &o.backends {
        if b != "sqlite" && b != "postgres" {
            return Err(format!("unknown backend {b}: sqlite or postgres").into());
        }
    }
    Ok(o)
}

/// A healthy canary, the same at every tick: 0.1 % errors like stable, fast, no alerts.
fn healthy() -> Observation {
    let mut o = Observation::new();
    let n = |x: f64| Measurement::value(x, 1);
    o.insert(measure::requests("canary"), n(20_000.0));
    o.insert(measure::errors("canary"), n(20.0));
    o.insert(measure::requests("stable"), n(100_000.0));
    o.insert(measure::errors("stable"), n(100.0));
    o.insert(measure::CANARY_SLOW.into(), n(0.0));
    o.insert(measure::CANARY_SLOW_TARGET.into(), n(0.0));
    o.insert(
        measure::CANARY_FAILED_INSTANCES.into(),
        Measurement::value(0.0, 3),
    );
    o.insert(
        measure::CRITICAL_SECURITY_ALERTS.into(),
        Measurement::value(0.0, 1),
    );
    o
}

pub(crate) fn memory_providers(_release: &str) -> Providers {
    Providers::new(
        Box::new(MemoryRouter::new()),
        Box::new(ScriptedSource::new(vec![healthy()])),
    )
}

/// One run's figures.
#[derive(Default)]
struct Row {
    n: usize,
    submit_s: f64,
    driven_s: Option<f64>,
    driven: usize,
    decisions_per_s: f64,
    tick: (f64, f64, f64),
    startup_tick: (f64, f64, f64),
    ticks_per_s: (f64, u32),
    rss_end: u64,
    /// Bytes allocated and not freed when the window ended (`alloc::live`).
    heap_end: u64,
    rss_peak: u64,
    cpu_window: f64,
    cpu_total: f64,
    fds_end: usize,
    fds_max: usize,
    state_before: u64,
    state_after: u64,
    window_s: f64,
    api: Vec<(f64, f64, f64, u64)>,
    api_failures: usize,
    task_errors: u64,
    provider_errors: BTreeMap<&'static str, u64>,
    error_decisions: usize,
    phases: BTreeMap<String, usize>,
    first_errors: Vec<String>,
}

fn psql() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// The state database's size in bytes: SQLite's file and its WAL, or `pg_database_size`.
fn state_size(root: &Path, url: Option<&str>) -> u64 {
    match url {
        None => {
            // The pages in use as SQLite sees them (the WAL's included): the files' sizes
            // would count a WAL that is reused after each checkpoint, never shrunk.
            let db = root.join(".ship/state.db");
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| {
                    c.query_row(
                        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())",
                        [],
                        |r| Ok(r.get::<_, i64>(0)? * r.get::<_, i64>(1)?),
                    )
                })
                .map_or(0, |b| b.max(0) as u64)
        }
        Some(url) => {
            let Some(psql) = psql() else { return 0 };
            std::process::Command::new(psql)
                .args([url, "-Atc", "SELECT pg_database_size(current_database())"])
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
                .unwrap_or(0)
        }
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("replicas-setup") => return replicas::setup_cmd(&args[2..]),
        Some("prepare") => {
            // Only the workspaces: `prepare N TICK CACHE`.
            let n = args.get(2).ok_or("prepare N TICK CACHE")?.parse()?;
            let tick = args.get(3).ok_or("prepare N TICK CACHE")?;
            let cache = PathBuf::from(args.get(4).ok_or("prepare N TICK CACHE")?);
            setup::prepared(&cache, n, tick)?;
            return Ok(());
        }
        Some("replicas-wait") => {
            let ok = replicas::wait_cmd(&args[2..])?;
            std::process::exit(if ok { 0 } else { 1 });
        }
        Some("replicas-check") => {
            let ok = replicas::check_cmd(&args[2..])?;
            std::process::exit(if ok { 0 } else { 1 });
        }
        _ => {}
    }
    #[cfg(feature = "dhat")]
    let _profiler = dhat::Profiler::new_heap();
    let o = opts()?;
    // The viewer token the client uses, through the variable ship.toml names by default; the
    // state database only from ship.toml.
    std::env::set_var("SHIP_API_TOKENS", format!("viewer:{TOKEN}"));
    std::env::remove_var("SHIP_STATE_URL");
    std::fs::create_dir_all(&o.cache)?;
    println!(
        "# bench/controller — {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("- machine: {}", procstat::machine());
    println!(
        "- parameters: N {:?}, backends {:?}, tick {}, measured {} s from {} s after every rollout was driven, client every {} ms ({}), open-files limit {}",
        o.sizes,
        o.backends,
        o.tick,
        o.measure.as_secs(),
        o.settle.as_secs(),
        o.client_every.as_millis(),
        client::PATHS.join(", "),
        procstat::nofile_limit()
    );
    println!("- providers: in-memory router, scripted healthy metrics (deterministic: no seed)");
    let cluster = if o.backends.iter().any(|b| b == "postgres") {
        Some(shiploop_testkit::postgres::Cluster::start())
    } else {
        None
    };
    let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for &n in &o.sizes {
        eprintln!(
            "preparing {n} approved releases (cached in {})",
            o.cache.display()
        );
        let prepared = setup::prepared(&o.cache, n, &o.tick)?;
        for backend in &o.backends {
            let url = match (backend.as_str(), &cluster) {
                ("postgres", Some(c)) => {
                    Some(c.database(&format!("bench_{n}_{}", Utc::now().timestamp_millis())))
                }
                _ => None,
            };
            eprintln!("{backend}, N = {n}: running");
            let row = run(n, &prepared, url.as_deref(), &o)?;
            print_row(backend, &row);
            rows.entry(backend.clone()).or_default().push(row);
        }
    }
    println!();
    for (backend, rows) in &rows {
        print_table(backend, rows, &o);
    }
    println!("- load average at the end: {}", procstat::load());
    Ok(())
}

fn run(n: usize, prepared: &Path, url: Option<&str>, o: &Opts) -> Res<Row> {
    // The run's copy on the temporary folder's disk, whatever file system the cache is on
    // (a tmpfs cache makes building 10,000 contracts fast; the state database must not be
    // on one).
    let tmp = tempfile::Builder::new()
        .prefix("ship-bench-run-")
        .tempdir_in(std::env::temp_dir())?;
    let root = setup::copy_for_run(prepared, tmp.path(), url)?;
    let ids = setup::release_ids(&root)?;
    // As `ship serve` does: STATUS.md written once a poll, not once per rollout milestone.
    let mut ws = Workspace::open(&root)?;
    ws.batch_status();
    let ws: &'static Workspace = Box::leak(Box::new(ws));
    let mut row = Row {
        n,
        ..Row::default()
    };
    // Every rollout recorded for the server, as `ship rollout start --detach` does.
    let started = Instant::now();
    if o.direct_submit {
        submit_direct(ws, &ids)?;
    } else {
        submit_all(ws, &ids)?;
    }
    row.submit_s = started.elapsed().as_secs_f64();
    eprintln!("  {n} rollouts submitted in {:.1} s", row.submit_s);

    let metrics = Arc::new(ServeMetrics::default());
    let bench = Arc::new(Bench::new(metrics.clone()));
    let watch = Rc::new(Watch::default());
    let tokens = shiploop_server::load_tokens(ws)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cfg = &ws.config.server;
    let streams = shiploop_server::stream::Feed::new(
        shiploop_controller::state_location(ws)?,
        shiploop_server::stream::Limits {
            total: cfg.max_streams as usize,
            per_token: cfg.max_streams_per_token as usize,
        },
    );
    let state = AppState {
        ws,
        tokens: Arc::new(tokens),
        metrics: metrics.clone(),
        stop: rx.clone(),
        streams,
    };
    let limits = shiploop_server::serve::Limits {
        header_read_timeout: cfg.header_read_timeout.0,
        request_timeout: cfg.request_timeout.0,
        max_connections: cfg.max_connections as usize,
    };
    let poll = cfg.poll.0;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // As `ship serve` does (crates/cli/src/serve_cmd.rs): HTTP on a runtime of its own with
    // two threads, so requests do not wait behind the rollouts' ticks.
    let http_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ship-http")
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let cpu0 = procstat::cpu_seconds();
    let t0 = Instant::now();
    local.block_on(&rt, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = shiploop_server::router(state);
        let http_stop = rx.clone();
        let http = http_rt.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    shiploop_server::serve::serve(listener, app, limits, http_stop).await
                }
                Err(e) => eprintln!("  the HTTP listener: {e}"),
            }
        });
        let observer: Rc<dyn serve::Observer> = watch.clone();
        let hook: serve::TelemetryHook = bench.clone();
        let factory: serve::ProvidersFactory = Rc::new(memory_providers);
        let supervisor = tokio::task::spawn_local(serve::supervise_with(
            ws,
            poll,
            rx.clone(),
            observer,
            Some(hook),
            SystemClock,
            Some(factory),
        ));
        // Until every rollout has decided once.
        let mut fds_max = 0;
        loop {
            fds_max = fds_max.max(procstat::open_files());
            let driven = bench.driven_count.load(Ordering::Relaxed);
            if driven >= n {
                row.driven_s = Some(t0.elapsed().as_secs_f64());
                break;
            }
            if t0.elapsed() > o.drive_timeout || supervisor.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        row.driven = bench.driven_count.load(Ordering::Relaxed);
        eprintln!(
            "  {} of {n} driven after {:.1} s; settling {} s, then measuring {} s",
            row.driven,
            t0.elapsed().as_secs_f64(),
            o.settle.as_secs(),
            o.measure.as_secs()
        );
        let settled = Instant::now();
        while settled.elapsed() < o.settle && !supervisor.is_finished() {
            fds_max = fds_max.max(procstat::open_files());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The measured period.
        row.state_before = state_size(&root, url);
        let cpu1 = procstat::cpu_seconds();
        let w0 = Instant::now();
        bench.measuring.store(true, Ordering::Relaxed);
        let stop_client = Arc::new(AtomicBool::new(false));
        let (client, probe) =
            client::start(addr, TOKEN.to_string(), o.client_every, stop_client.clone());
        while w0.elapsed() < o.measure && !supervisor.is_finished() {
            fds_max = fds_max.max(procstat::open_files());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        bench.measuring.store(false, Ordering::Relaxed);
        row.window_s = w0.elapsed().as_secs_f64();
        row.cpu_window = procstat::cpu_seconds() - cpu1;
        row.decisions_per_s = bench.decisions.load(Ordering::Relaxed) as f64 / row.window_s;
        row.state_after = state_size(&root, url);
        row.fds_end = procstat::open_files();
        row.fds_max = fds_max.max(row.fds_end);
        (row.rss_end, row.rss_peak) = procstat::rss();
        row.heap_end = alloc::live() as u64;
        stop_client.store(true, Ordering::Relaxed);
        // The client may be waiting on this thread's server: let it finish.
        while !client.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        {
            let p = probe.lock().unwrap_or_else(|e| e.into_inner());
            row.api = p
                .latency
                .iter()
                .zip(&p.bytes)
                .map(|(h, b)| {
                    let (p50, p99, max) = Bench::quantiles(h);
                    (p50, p99, max, *b)
                })
                .collect();
            row.api_failures = p.failures.len();
            for (path, why) in p.failures.iter().take(3) {
                eprintln!("  client: {path}: {why}");
            }
        }
        let _ = tx.send(true);
        if let Ok(Err(e)) = supervisor.await {
            eprintln!("  the supervisor ended with an error: {e}");
        }
        let abort = http.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), http)
            .await
            .is_err()
        {
            abort.abort();
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    row.cpu_total = procstat::cpu_seconds() - cpu0;
    row.tick = Bench::quantiles(&bench.ticks.lock().unwrap_or_else(|e| e.into_inner()));
    row.startup_tick = Bench::quantiles(
        &bench
            .startup_ticks
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    {
        let per = bench.per_second.lock().unwrap_or_else(|e| e.into_inner());
        // The busiest whole second (the first and last are partial); the mean over the window.
        let busiest = per
            .values()
            .copied()
            .skip(1)
            .take(per.len().saturating_sub(2))
            .max()
            .unwrap_or(0);
        let total: u32 = per.values().sum();
        // How the ticks spread over the window, second by second (to see bursts and stalls).
        if std::env::var_os("SHIP_BENCH_PER_SECOND").is_some() {
            let series: Vec<String> = per.values().map(u32::to_string).collect();
            eprintln!("  ticks per second: {}", series.join(" "));
        }
        row.ticks_per_s = (f64::from(total) / row.window_s.max(1.0), busiest);
    }
    row.task_errors = watch.errors.load(Ordering::Relaxed);
    row.first_errors = watch
        .first_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    row.provider_errors = bench
        .provider_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // What the store says of each rollout: its phase, and decisions that carry an error.
    let store = shiploop_controller::open_store(ws)?;
    for id in &ids {
        if let Some(r) = store.rollout(id)? {
            let phase = match r.state.phase {
                Phase::Progressing | Phase::Pending | Phase::Paused { .. } => {
                    r.state.phase.name().to_string()
                }
                other => other.name().to_string(),
            };
            *row.phases.entry(phase).or_default() += 1;
        }
        row.error_decisions += store
            .decisions(id)?
            .iter()
            .filter(|d| {
                d.decision.rollback_cause.is_some()
                    || d.decision
                        .findings
                        .iter()
                        .any(|f| f.outcome == shiploop_rollout::criteria::Outcome::Error)
            })
            .count();
    }
    drop(store);
    // SHIP_BENCH_KEEP=1 keeps the run's workspace (and its state database) to look into.
    if std::env::var_os("SHIP_BENCH_KEEP").is_some() {
        eprintln!("  kept {}", tmp.keep().display());
    }
    Ok(row)
}

/// Records every rollout for the server, as `ship rollout start --detach` does, on both cores
/// (each opening resolves and verifies its contract).
pub(crate) fn submit_all(ws: &Workspace, ids: &[String]) -> Res<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = ids.len().div_ceil(threads).max(1);
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<(), String> {
                    for id in part {
                        let now = Utc::now();
                        let mut c = Controller::open_with(ws, id, now, memory_providers(id))
                            .map_err(|e| e.to_string())?;
                        c.submit(now).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a submitting thread panicked")??;
        }
        Ok(())
    })
}

/// Records every rollout straight into the store, each contract read by its path: what
/// `--detach` records, without its gates, its second look-up of the contract by id (which lists
/// every contract: 10,000 of them make it the start-up's main cost) and its anchor.
fn submit_direct(ws: &Workspace, ids: &[String]) -> Res<()> {
    let mut store = shiploop_controller::open_store(ws)?;
    for id in ids {
        let loaded = ws.load_release(&ws.releases_dir().join(format!("{id}.md")))?;
        let plan = shiploop_controller::plan_for(ws, &loaded)?;
        let stored = shiploop_store::StoredPlan {
            plan,
            kind: loaded.contract.meta.kind,
            digest: loaded.contract.meta.digest.clone(),
        };
        store.create_rollout(id, &stored, &shiploop_rollout::Rollout::new(), Utc::now())?;
    }
    Ok(())
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

fn print_row(backend: &str, r: &Row) {
    eprintln!(
        "  {backend} N={}: driven {}/{} in {}; {:.0} decisions/s; tick p50 {:.1} ms p99 {:.1} ms max {:.0} ms; RSS {} (peak {}; heap {}, {:.1} kB per rollout); CPU {:.1} s in {:.0} s; fds {} (max {}); state {} -> {}; api {:?}; errors: tasks {}, providers {:?}, decisions {}; phases {:?}; {:?}",
        r.n,
        r.driven,
        r.n,
        r.driven_s.map_or("-".into(), |s| format!("{s:.1} s")),
        r.decisions_per_s,
        r.tick.0,
        r.tick.1,
        r.tick.2,
        mb(r.rss_end),
        mb(r.rss_peak),
        mb(r.heap_end),
        r.heap_end as f64 / r.n.max(1) as f64 / 1000.0,
        r.cpu_window,
        r.window_s,
        r.fds_end,
        r.fds_max,
        r.state_before,
        r.state_after,
        r.api,
        r.task_errors,
        r.provider_errors,
        r.error_decisions,
        r.phases,
        r.first_errors,
    );
}

fn print_table(backend: &str, rows: &[Row], o: &Opts) {
    println!(
        "## {backend} (tick {}, measured {} s)\n",
        o.tick,
        o.measure.as_secs()
    );
    println!("| N | submit | all driven after | decisions/s | tick p50 / p99 / max | ticks/s mean / busiest s | RSS end / peak | CPU in window | open files end / max | state growth in window | per hour | API p50 / p99 | dashboard p50 / p99 | /metrics p50 / p99 |");
    println!("|---:|---:|---:|---:|---|---|---|---:|---|---:|---:|---|---|---|");
    for r in rows {
        let growth = r.state_after.saturating_sub(r.state_before);
        let per_hour = growth as f64 / r.window_s.max(1.0) * 3600.0;
        let api = |i: usize| {
            r.api.get(i).map_or("-".into(), |(p50, p99, _, bytes)| {
                format!("{p50:.0} / {p99:.0} ms ({:.0} kB)", *bytes as f64 / 1000.0)
            })
        };
        println!(
            "| {} | {:.1} s | {} ({}/{}) | {:.0} | {:.1} / {:.1} / {:.0} ms | {:.0} / {} | {} / {} | {:.1} s ({:.0} %) | {} / {} | {} | {} | {} | {} | {} |",
            r.n,
            r.submit_s,
            r.driven_s.map_or("not all".into(), |s| format!("{s:.1} s")),
            r.driven,
            r.n,
            r.decisions_per_s,
            r.tick.0,
            r.tick.1,
            r.tick.2,
            r.ticks_per_s.0,
            r.ticks_per_s.1,
            mb(r.rss_end),
            mb(r.rss_peak),
            r.cpu_window,
            100.0 * r.cpu_window / r.window_s.max(1.0),
            r.fds_end,
            r.fds_max,
            mb(growth),
            mb(per_hour as u64),
            api(0),
            api(1),
            api(2),
        );
    }
    println!();
    println!("| N | start-up tick p50 / p99 / max | CPU whole run | task errors | provider errors | decisions with an error | phases at the end | API failures |");
    println!("|---:|---|---:|---:|---|---:|---|---:|");
    for r in rows {
        println!(
            "| {} | {:.1} / {:.1} / {:.0} ms | {:.1} s | {} | {:?} | {} | {:?} | {} |",
            r.n,
            r.startup_tick.0,
            r.startup_tick.1,
            r.startup_tick.2,
            r.cpu_total,
            r.task_errors,
            r.provider_errors,
            r.error_decisions,
            r.phases,
            r.api_failures,
        );
    }
    println!();
}
