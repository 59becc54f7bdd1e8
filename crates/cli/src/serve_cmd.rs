//! `ship serve` (the controller for every rollout, with its HTTP API) and
//! `ship rollout start --detach` (hand a rollout to it).

use crate::output::Out;
use chrono::Utc;
use serde_json::json;
use shiploop_controller::serve::{self, Observer};
use shiploop_controller::Controller;
use shiploop_rollout::Decision;
use shiploop_server::metrics::ServeMetrics;
use shiploop_server::AppState;
use shiploop_workspace::{Error, Workspace};
use std::rc::Rc;
use std::sync::Arc;

/// Logs what the controller does, one line per event (JSON lines with --json), and counts it
/// for /metrics.
struct Log {
    json: bool,
    metrics: Arc<ServeMetrics>,
}

impl Log {
    fn line(&self, release: &str, what: &str, detail: &str) {
        let now = Utc::now();
        if self.json {
            say(
                &json!({ "at": now, "release": release, "event": what, "detail": detail })
                    .to_string(),
            );
        } else {
            // One event, one line: a reason or a provider's stderr cannot forge more.
            let detail = shiploop_artifacts::release::plain_text(detail);
            say(&format!(
                "{}  {release:<32} {what:<10} {detail}",
                now.format("%H:%M:%S")
            ));
        }
    }
}

/// A line on stdout, whatever became of stdout: the server outlives a closed log pipe (SIGPIPE
/// is ignored while it runs, so a write fails instead of killing it mid-tick).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A line on stderr that never panics (eprintln! does when stderr is a closed pipe).
fn warn(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// How long a stopping server waits for HTTP connections to finish: a client that sent half a
/// request must not keep the server (and the proxy it runs) alive.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

impl Observer for Log {
    fn decision(&self, release: &str, d: &Decision) {
        // Counted for /metrics by the controllers' telemetry (which also sees validation's).
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        // Holds repeat every tick; the log keeps the moves.
        if kind != "hold" {
            self.line(
                release,
                &kind,
                &format!("{} {} % — {}", d.stage_name, d.weight, d.reason),
            );
        }
    }
    fn finished(&self, release: &str, outcome: &str) {
        self.metrics.finished(release, outcome);
        self.line(release, "finished", outcome);
    }
    fn error(&self, release: &str, message: &str, retry_in: std::time::Duration) {
        self.metrics.error(release, message, retry_in);
        self.line(
            release,
            "error",
            &format!("{message} (retried in {} s)", retry_in.as_secs()),
        );
    }
}

pub fn run(ws: Workspace, out: &Out) -> Result<u8, Error> {
    #[cfg(unix)]
    // SAFETY: before the runtime starts, so no other thread exists; only sets a disposition.
    // Children get the default back (std's Command resets SIGPIPE in the child).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // Thousands of rollouts' milestones: STATUS.md is rewritten once a poll, not once each.
    let mut ws = ws;
    ws.batch_status();
    // The server lives as long as the process: its tasks and handlers borrow the workspace.
    let ws: &'static Workspace = Box::leak(Box::new(ws));
    let tokens = shiploop_server::load_tokens(ws)
        .map_err(|e| Error::Usage(format!("ship.toml [server]: {e}")))?;
    if tokens.is_empty() {
        warn(&format!(
            "warning: no API tokens (server.tokens_file, ${}): the API answers 401 to every request",
            ws.config.server.tokens_env
        ));
    }
    let metrics = Arc::new(ServeMetrics::default());
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
    let listen = ws.config.server.listen.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the runtime: {e}")))?;
    // The API, the dashboard and /metrics get threads of their own: a request never waits for
    // the controller's thread, which may be busy with thousands of ticks (or blocked on the
    // state database's round trips), and a burst of requests never delays a tick.
    let http_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ship-http")
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the HTTP runtime: {e}")))?;
    let http_handle = http_rt.handle().clone();
    let listener = std::net::TcpListener::bind(&listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| Error::Usage(format!("server.listen {listen}: {e}")))?;
    let local = tokio::task::LocalSet::new();
    let json = out.json;
    let result = local.block_on(&rt, async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Error::Usage(format!("cannot handle SIGTERM: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| Error::Usage(format!("cannot handle SIGINT: {e}")))?;
        // The first signal stops gracefully (current ticks finish, streams end); a second one
        // ends the process at once.
        tokio::task::spawn_local(async move {
            for n in 0..2 {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if n == 0 {
                    let _ = tx.send(true);
                } else {
                    warn("ship serve: second signal, exiting now");
                    std::process::exit(130);
                }
            }
        });
        let pending = serve::pending(ws)?.len();
        if json {
            say(&json!({ "event": "listening", "url": format!("http://{listen}"), "pending": pending })
                .to_string());
        } else {
            say(&format!(
                "ship serve: API on http://{listen}/api/v1, metrics on /metrics; {pending} rollout(s) to drive"
            ));
        }
        let app = shiploop_server::router(state);
        let http_stop = rx.clone();
        let http = http_handle.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    shiploop_server::serve::serve(listener, app, limits, http_stop).await
                }
                Err(e) => warn(&format!("error: server.listen: {e}")),
            }
        });
        // The proxy stops after the rollouts' last ticks, which still route through it.
        let (proxy_tx, proxy_rx) = tokio::sync::watch::channel(false);
        let proxy = ws
            .config
            .server
            .run_proxy
            .then(|| tokio::task::spawn_local(run_proxy(ws, proxy_rx, json)));
        let observer: Rc<dyn Observer> = Rc::new(Log {
            json,
            metrics: metrics.clone(),
        });
        let telemetry: serve::TelemetryHook = metrics;
        let poll = ws.config.server.poll.0;
        let clock = shiploop_controller::SystemClock;
        serve::supervise(ws, poll, rx, observer, Some(telemetry), clock).await?;
        let _ = proxy_tx.send(true);
        // Streams end on stop and finished requests close; what is still open after the
        // drain time is cut.
        let abort = http.abort_handle();
        if tokio::time::timeout(HTTP_DRAIN, http).await.is_err() {
            abort.abort();
        }
        if let Some(p) = proxy {
            let _ = p.await;
        }
        if !json {
            say("ship serve: stopped; every rollout in flight resumes at the next start");
        }
        Ok::<_, Error>(())
    });
    // Outside the controller's runtime (a runtime cannot be dropped inside another).
    http_rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result?;
    Ok(0)
}

/// `ship rollout start --detach`: the gates, then the rollout recorded for `ship serve`.
pub fn detach(
    ws: &Workspace,
    out: &Out,
    release: &str,
    waivers: &[shiploop_gates::Override],
) -> Result<u8, Error> {
    let now = Utc::now();
    let id = ws.resolve(release)?.contract.meta.id;
    let mut c = Controller::open(ws, &id, now)?;
    if let Some(o) = c.outcome() {
        // Nothing left for a server to drive: say how it ended, with `rollout start`'s codes.
        if out.json {
            out.print_json(&json!({ "release": id, "outcome": o, "phase": c.state.phase.name() }));
        } else {
            println!("{id}: the rollout already ended: {}", c.state.phase.name());
        }
        return Ok(match o {
            shiploop_controller::Outcome::Completed => 0,
            _ => 1,
        });
    }
    let gates = shiploop_controller::gates_before_start(ws, &id, false, waivers, now);
    let before = crate::rollout::runtime()?.block_on(gates)?;
    if let shiploop_controller::BeforeStart::Gated { report, notes } = before {
        if !crate::rollout::gates_pass(out, &report, &notes) {
            return Ok(1);
        }
    }
    let created = c.submit(now)?;
    let server = serve::server_running(ws, now)?;
    if out.json {
        out.print_json(&json!({
            "release": id,
            "submitted": created,
            "server": server,
        }));
    } else {
        if created {
            println!("{id}: handed to `ship serve`");
        } else {
            println!("{id}: already has a rollout; `ship serve` drives it");
        }
        match &server {
            Some(h) => println!("  driven by the server {h}; follow it: ship rollout watch {id}"),
            None => println!(
                "  no `ship serve` is running in this workspace: the rollout starts when one does"
            ),
        }
    }
    Ok(0)
}

/// `server.run_proxy`: `ship proxy` as a child process (its own runtime and threads), restarted
/// 2 s after it exits, stopped with SIGTERM when the server stops.
async fn run_proxy(
    ws: &'static Workspace,
    mut stop: tokio::sync::watch::Receiver<bool>,
    json: bool,
) {
    let Ok(exe) = std::env::current_exe() else {
        warn("error: cannot find the ship binary to run the proxy");
        return;
    };
    let log = Log {
        json,
        metrics: Arc::new(ServeMetrics::default()),
    };
    loop {
        let child = tokio::process::Command::new(&exe)
            .arg("-C")
            .arg(&ws.root)
            .arg("proxy")
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                log.line("proxy", "error", &format!("cannot start ship proxy: {e}"));
                return;
            }
        };
        log.line(
            "proxy",
            "started",
            &format!("pid {}", child.id().unwrap_or(0)),
        );
        tokio::select! {
            status = child.wait() => {
                log.line("proxy", "exited", &format!("{status:?}; restarting in 2 s"));
            }
            _ = stop.wait_for(|s| *s) => {
                if let Some(pid) = child.id() {
                    // SIGTERM lets the proxy finish the requests in flight.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
                let _ = child.wait().await;
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
