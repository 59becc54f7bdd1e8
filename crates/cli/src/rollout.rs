//! `ship rollout …`, `ship hotfix start` and `ship audit …`.

use crate::output::Out;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use shiploop_artifacts::release::Status;
use shiploop_controller::{
    view, BeforeStart, Commanded, Controller, Outcome, Starting, SystemClock,
};
use shiploop_gates::Report;
use shiploop_rollout::{Decision, DecisionKind, HoldKind, Input, Phase};
use shiploop_store::event::{DecisionEvent, Event, RouterCall, RouterPhase};
use shiploop_workspace::{Error, Workspace};
use std::time::Duration;

/// The single-threaded runtime the CLI's commands run their async work on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

/// A channel that turns true on SIGINT or SIGTERM, so a foreground run (a rollout, a
/// validation window) stops cleanly. Called inside the runtime, before the work starts, so a
/// signal is never the default (fatal) one while it runs.
pub fn stop_on_signal() -> Result<tokio::sync::watch::Receiver<bool>, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::Usage(format!("cannot handle SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::Usage(format!("cannot handle SIGINT: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// How times are printed: to the millisecond, so the log shows how long a router call or a
/// rollback took.
const CLOCK: &str = "%H:%M:%S%.3fZ";
const DATE_CLOCK: &str = "%Y-%m-%d %H:%M:%S%.3fZ";

/// A recorded time (RFC 3339 text) as printed; kept as it is if it does not parse.
fn printed_time(v: &serde_json::Value) -> String {
    let s = v.as_str().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).format(DATE_CLOCK).to_string())
        .unwrap_or_else(|_| s.to_string())
}

fn kind_name(k: DecisionKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Prints decisions: every milestone as a line; holds drive a progress bar on a terminal.
struct Printer {
    json: bool,
    bar: ProgressBar,
    stage_secs: Vec<Option<u64>>,
    last_hold: Option<(usize, Option<HoldKind>)>,
}

impl Printer {
    fn new(json: bool, c: &Controller<'_>) -> Printer {
        Printer::for_stages(
            json,
            c.plan
                .stages
                .iter()
                .map(|s| s.duration.map(|d| d.as_secs()))
                .collect(),
        )
    }

    /// `stage_secs`: each stage's duration in seconds (None: the last stage).
    fn for_stages(json: bool, stage_secs: Vec<Option<u64>>) -> Printer {
        let bar = if json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(1)
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len}s {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Printer {
            json,
            bar,
            stage_secs,
            last_hold: None,
        }
    }

    fn decision(&mut self, d: &Decision, elapsed: Duration) {
        if self.json {
            return;
        }
        let len = self.stage_secs.get(d.stage).copied().flatten().unwrap_or(0);
        self.bar
            .set_prefix(format!("{} {} %", d.stage_name, d.weight));
        self.bar.set_length(len.max(1));
        self.bar.set_position(elapsed.as_secs().min(len));
        if d.kind == DecisionKind::Hold {
            // Without a terminal the bar is hidden; print a hold only when its kind changes. A
            // stage whose time is up while checks are not yet passing tells the same story.
            let kind = match d.hold {
                Some(HoldKind::TimeUp) => Some(HoldKind::NotYetPassing),
                h => h,
            };
            let gist = Some((d.stage, kind));
            if self.bar.is_hidden() && gist != self.last_hold {
                println!("{}  hold      {}", d.at.format(CLOCK), d.reason);
            }
            self.last_hold = gist;
            self.bar.set_message(d.reason.clone());
            return;
        }
        self.last_hold = None;
        self.bar.suspend(|| {
            println!(
                "{}  {:<9} {:<16} {:>3} %  {}",
                d.at.format(CLOCK),
                kind_name(d.kind),
                d.stage_name,
                d.weight,
                d.reason
            );
        });
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

fn exit_for(o: &Outcome) -> u8 {
    match o {
        Outcome::Completed => 0,
        Outcome::RolledBack { .. } | Outcome::Failed { .. } => 1,
        Outcome::Interrupted => 3,
    }
}

/// How a webhook problem is told: a warning, never a failure of the command.
fn warn_webhooks(e: &str) {
    eprintln!("warning: webhooks: {e}");
}

/// Sends what the event log holds for this rollout that the webhooks have not had yet. A
/// receiver that fails is recorded in the log; it never fails the command.
pub fn send_webhooks(c: &Controller<'_>) {
    match runtime() {
        Ok(rt) => rt.block_on(c.send_webhooks(chrono::Utc::now(), &warn_webhooks)),
        Err(e) => warn_webhooks(&e.to_string()),
    }
}

/// Runs the controller in the foreground until the rollout ends or a signal stops it. In JSON
/// mode the result is returned instead of printed, so a caller that goes on (to validation)
/// prints one document.
pub fn drive_quiet(
    out: &Out,
    c: &mut Controller<'_>,
) -> Result<(u8, Option<serde_json::Value>), Error> {
    drive(out, c, true)
}

/// [`drive_quiet`]; `resumable` false for a rollout whose router and services live in this
/// process (`ship demo`): an interruption is reported without suggesting a resume.
pub fn drive(
    out: &Out,
    c: &mut Controller<'_>,
    resumable: bool,
) -> Result<(u8, Option<serde_json::Value>), Error> {
    let rt = runtime()?;
    let json = out.json;
    let mut printer = Printer::new(json, c);
    let outcome = rt.block_on(async {
        // The handlers are registered before the lease is taken.
        let rx = stop_on_signal()?;
        let mut log = |d: &Decision| printer.decision(d, Duration::from_millis(d.stage_elapsed_ms));
        c.run_with_webhooks(&mut SystemClock, &rx, &mut log, &warn_webhooks)
            .await
    })?;
    printer.done();
    let weights = c.weight_history();
    let id = c.id().to_string();
    let mut value = None;
    if json {
        value = Some(json!({
            "release": id,
            "outcome": outcome,
            "phase": c.state.phase.name(),
            "stage": c.plan.stages.get(c.state.stage).map(|s| s.name.clone()),
            "weight": c.state.weight,
            "weights": weights,
        }));
    } else {
        let seq = weights
            .iter()
            .map(|w| format!("{w} %"))
            .collect::<Vec<_>>()
            .join(" → ");
        match &outcome {
            Outcome::Completed => println!("{id}: completed at 100 % (weights {seq})"),
            Outcome::RolledBack { reason } => {
                println!("{id}: ROLLED BACK to 0 % (weights {seq}): {reason}")
            }
            Outcome::Failed { reason } => println!("{id}: FAILED: {reason}"),
            Outcome::Interrupted if resumable => println!(
                "{id}: interrupted at {} % — `ship rollout resume {id}` continues it",
                c.state.weight
            ),
            Outcome::Interrupted => println!("{id}: interrupted at {} %", c.state.weight),
        }
    }
    Ok((exit_for(&outcome), value))
}

/// The rollout's fields of a JSON document as they stand now (validation may have rolled it
/// back after the document was made).
pub fn refresh_doc(doc: &mut serde_json::Value, c: &Controller<'_>) {
    doc["phase"] = json!(c.state.phase.name());
    doc["weight"] = json!(c.state.weight);
    if let Some(o) = c.outcome() {
        doc["outcome"] = json!(o);
    }
}

/// After the last stage: post-deployment validation, when the controller says it is due; in JSON
/// mode, its result goes into the rollout's document as `validation`.
fn then_validate(
    out: &Out,
    c: &mut Controller<'_>,
    code: u8,
    value: Option<serde_json::Value>,
) -> Result<u8, Error> {
    let mut code = code;
    let mut value = value;
    if code == 0 && c.validation_due() {
        let (vcode, v) = crate::gates_cmd::validation_outcome(out, c)?;
        code = vcode;
        if let (Some(doc), Some(v)) = (value.as_mut(), v) {
            doc["validation"] = v;
            refresh_doc(doc, c);
        }
    }
    if let Some(v) = value {
        out.print_json(&v);
    }
    Ok(code)
}

/// `ship rollout start` and `ship hotfix start` (`hotfix`): the gates of a new rollout (the
/// controller runs and records them), then the rollout, then its validation.
pub fn start(
    ws: &Workspace,
    out: &Out,
    release: &str,
    hotfix: bool,
    waivers: &[shiploop_gates::Override],
) -> Result<u8, Error> {
    let now = Utc::now();
    let before = runtime()?.block_on(shiploop_controller::gates_before_start(
        ws, release, hotfix, waivers, now,
    ))?;
    match before {
        BeforeStart::Gated { report, notes } => {
            if !gates_pass(out, &report, &notes) {
                return Ok(1);
            }
        }
        BeforeStart::AlreadyStarted if !waivers.is_empty() => {
            // Re-running the same start command must keep working: the gates were decided
            // when the rollout began, so the waivers have nothing left to apply to.
            eprintln!("note: --override is ignored: the rollout already started, past its gates");
        }
        BeforeStart::AlreadyStarted => {}
    }
    start_checked(ws, out, release, hotfix, now)
}

/// Prints the pre-deployment gates of a new rollout: the whole report when one fails (false:
/// it may not start), a line saying they pass (and what was waived) otherwise.
pub fn gates_pass(out: &Out, report: &Report, notes: &[String]) -> bool {
    if !report.passed() {
        crate::gates_cmd::print_report(out, report, notes);
        if !out.json {
            eprintln!(
                "error: {} may not start: failing gate(s): {} (`ship check {}` shows them; --override <gate> --reason \"…\" waives one a human may waive)",
                report.release,
                shiploop_controller::check::failing_names(report),
                report.release
            );
        }
        return false;
    }
    if !out.json {
        let waived: Vec<&str> = report
            .gates
            .iter()
            .filter(|g| g.overridden.is_some())
            .map(|g| g.gate.id())
            .collect();
        if waived.is_empty() {
            println!("{}: every pre-deployment gate passes", report.release);
        } else {
            println!(
                "{}: pre-deployment gates pass (waived: {})",
                report.release,
                waived.join(", ")
            );
        }
    }
    true
}

fn start_checked(
    ws: &Workspace,
    out: &Out,
    release: &str,
    hotfix: bool,
    now: chrono::DateTime<Utc>,
) -> Result<u8, Error> {
    let mut c = Controller::open(ws, release, now)?;
    let starting = runtime()?.block_on(c.prepare_start(hotfix, now, &warn_webhooks))?;
    let drift = match starting {
        Starting::Ended(o) => {
            let mut value = None;
            if !out.json {
                println!(
                    "{}: the rollout already ended: {}",
                    c.id(),
                    c.state.phase.name()
                );
            } else {
                value =
                    Some(json!({ "release": c.id(), "outcome": o, "phase": c.state.phase.name() }));
            }
            return then_validate(out, &mut c, exit_for(&o), value);
        }
        Starting::Ready { drift } => drift,
    };
    if !drift.is_empty() {
        eprintln!(
            "warning: ship.toml changed after {} was approved; the approved settings decide:\n  {}",
            c.id(),
            drift.join("\n  ")
        );
    }
    let (code, value) = drive_quiet(out, &mut c)?;
    then_validate(out, &mut c, code, value)
}

pub fn resume(ws: &Workspace, out: &Out, release: &str) -> Result<u8, Error> {
    let now = Utc::now();
    let mut c = Controller::open(ws, release, now)?;
    if let Some(holder) = runtime()?.block_on(c.resume_here(now))? {
        if !out.json {
            println!(
                "{} is driven by {holder}: resume queued for its next tick",
                c.id()
            );
        }
        return Ok(0);
    }
    start(ws, out, release, false, &[])
}

/// pause / promote / abort: applied now when no controller runs, queued for it otherwise.
pub fn command(ws: &Workspace, out: &Out, release: &str, input: Input) -> Result<u8, Error> {
    if let Input::Pause { reason } | Input::Promote { reason } | Input::Abort { reason } = &input {
        shiploop_artifacts::release::check_plain("--reason", reason)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    let mut c = Controller::open(ws, release, Utc::now())?;
    let abort = matches!(input, Input::Abort { .. });
    let queued = input.clone();
    let done = runtime()?.block_on(c.command(input, &mut SystemClock, &warn_webhooks))?;
    let d = match done {
        Commanded::Queued { holder } => {
            if out.json {
                out.print_json(
                    &json!({ "release": c.id(), "queued": queued, "driven_by": holder }),
                );
            } else {
                println!(
                    "{}: queued for {holder}, which applies it at its next tick",
                    c.id()
                );
            }
            return Ok(0);
        }
        Commanded::Applied(d) => d,
    };
    let phase = c.state.phase.name();
    if out.json {
        out.print_json(
            &json!({ "release": c.id(), "decision": d, "phase": phase, "weight": c.state.weight }),
        );
    } else {
        println!(
            "{}: {} — {} (now {phase} at {} %)",
            c.id(),
            kind_name(d.kind),
            d.reason,
            c.state.weight
        );
    }
    if abort && !matches!(c.state.phase, Phase::RolledBack { .. }) {
        // Still rolling back: resuming retries it. Failed: ship gave up, a person must act.
        if matches!(c.state.phase, Phase::Failed { .. }) {
            eprintln!(
                "error: the router has not confirmed the rollback and ship stopped retrying ({phase}): move the traffic back by hand, then check `ship rollout status {}`",
                c.id()
            );
        } else {
            eprintln!(
                "error: the router has not confirmed the rollback ({phase}); `ship rollout resume {}` keeps retrying",
                c.id()
            );
        }
        return Ok(1);
    }
    Ok(if d.kind == DecisionKind::Ignored {
        1
    } else {
        0
    })
}

pub fn status(ws: &Workspace, out: &Out, release: Option<&str>) -> Result<u8, Error> {
    let all: Vec<serde_json::Value> = view::rollouts(ws, release, Utc::now())?
        .into_iter()
        .map(|v| {
            json!({
                "release": v.release,
                "kind": v.rollout.kind,
                "state": v.rollout.state,
                "plan": v.rollout.plan.plan,
                "driven_by": v.driven_by,
                "updated_at": v.rollout.updated_at,
                "decisions": v.decisions,
            })
        })
        .collect();
    if out.json {
        out.print_json(&if release.is_some() {
            all.into_iter().next().unwrap_or_default()
        } else {
            json!({ "rollouts": all })
        });
        return Ok(0);
    }
    if all.is_empty() {
        println!("No rollouts yet.");
    }
    for r in &all {
        let st = &r["state"];
        let stage_i = st["stage"].as_u64().unwrap_or(0) as usize;
        let stage = &r["plan"]["stages"][stage_i];
        println!(
            "{}  {}  stage {} ({}/{}) at {} %  watched {:.1}s{}",
            r["release"].as_str().unwrap_or(""),
            st["phase"]["phase"].as_str().unwrap_or(""),
            stage["name"].as_str().unwrap_or("?"),
            stage_i + 1,
            r["plan"]["stages"].as_array().map(|a| a.len()).unwrap_or(0),
            st["weight"],
            st["stage_elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            r["driven_by"]
                .as_str()
                .map(|h| format!("  (driven by {h})"))
                .unwrap_or_default()
        );
        if let Some(ds) = r["decisions"].as_array() {
            for d in ds
                .iter()
                .filter(|d| d["kind"] != "hold")
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                println!(
                    "    {}  {:<9} {}",
                    printed_time(&d["at"]),
                    d["kind"].as_str().unwrap_or(""),
                    d["reason"].as_str().unwrap_or("")
                );
            }
            if let Some(last) = ds.last().filter(|d| d["kind"] == "hold") {
                println!("    now: {}", last["reason"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(0)
}

pub fn watch(ws: &Workspace, out: &Out, release: &str) -> Result<u8, Error> {
    let id = ws.resolve(release)?.contract.meta.id;
    let mut seen = 0usize;
    let mut printer: Option<Printer> = None;
    let mut said_validating = false;
    loop {
        let (row, decisions) = view::recorded(ws, &id)?;
        // The progress bar follows the stored plan, as the process driving it sees it.
        let p = printer.get_or_insert_with(|| {
            let stages: Vec<Option<u64>> = (row.plan.plan.stages.iter())
                .map(|s| s.duration.map(|d| d.as_secs()))
                .collect();
            Printer::for_stages(out.json, stages)
        });
        for d in decisions.iter().skip(seen) {
            if out.json {
                if d.kind != DecisionKind::Hold {
                    println!("{}", serde_json::to_string(d).unwrap_or_default());
                }
            } else {
                p.decision(d, Duration::from_millis(d.stage_elapsed_ms));
            }
        }
        seen = decisions.len();
        let phase = row.state.phase.name().to_string();
        let status = ws.resolve(&id)?.contract.meta.status;
        let auto = ws.config.validation.auto;
        match (phase.as_str(), status) {
            // Reached 100 %: the watch goes on through the validation window (the contract
            // says `deploying` for a moment, until the driver records the completion).
            ("completed", Status::Deploying) => {}
            ("completed", Status::Validating) if auto => {
                if !said_validating && !out.json {
                    p.bar.suspend(|| println!("{id}: at 100 %, validating"));
                }
                said_validating = true;
            }
            ("completed", Status::RolledBack) => {
                p.done();
                if !out.json {
                    println!("{id}: rolled back by its validation");
                }
                return Ok(1);
            }
            ("completed", _) => {
                p.done();
                if !out.json {
                    println!("{id}: completed ({status})");
                }
                return Ok(0);
            }
            ("rolled-back" | "failed", _) => {
                p.done();
                if !out.json {
                    println!("{id}: {phase}");
                }
                return Ok(1);
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn audit_verify(ws: &Workspace, out: &Out) -> Result<u8, Error> {
    let r = shiploop_controller::audit::verify(ws)?;
    if out.json {
        out.print_json(&r);
    } else if r.ok {
        let head = &r.head[..16.min(r.head.len())];
        if r.events == 0 && r.anchors == 0 {
            println!("ok: {}: no events recorded yet", r.database);
        } else {
            println!(
                "ok: {} events, hash chain intact (head {head}); {} of {} anchors in the release contracts match; {} rollout plan(s) are their approved contracts'",
                r.events, r.anchors_matched, r.anchors, r.rollouts_checked
            );
            if r.unanchored_events > 0 {
                println!(
                    "note: the newest {} event(s) are not anchored in a contract yet (the chain alone vouches for them until the next milestone)",
                    r.unanchored_events
                );
            }
        }
    } else {
        println!("BROKEN: {} problem(s)", r.problems.len());
        for p in &r.problems {
            println!("  - {p}");
        }
    }
    Ok(if r.ok { 0 } else { 1 })
}

/// A router event in a line: an intent (before the call), its confirmation, or what a resumed
/// controller found the router carrying.
fn router_summary(d: &RouterCall) -> String {
    let weight = match d.weight {
        Some(w) => format!("{w} %"),
        None => "unknown".into(),
    };
    let error = || format!("FAILED: {}", d.error.as_deref().unwrap_or(""));
    let ok = d.ok == Some(true);
    match d.phase {
        Some(RouterPhase::Intent) => format!("{} {weight} asked", d.action.name()),
        Some(RouterPhase::Found) if ok => {
            let recorded = d.recorded.map_or("null".to_string(), |r| r.to_string());
            format!("found {weight} (recorded {recorded} %)")
        }
        Some(RouterPhase::Found) => format!("found {}", error()),
        _ => format!(
            "{} {weight} {}",
            d.action.name(),
            if ok { "ok".into() } else { error() }
        ),
    }
}

pub fn audit_log(ws: &Workspace, out: &Out, release: Option<&str>) -> Result<u8, Error> {
    let id = match release {
        Some(r) => Some(ws.resolve(r)?.contract.meta.id),
        None => None,
    };
    let events = view::events(ws, id.as_deref())?;
    if out.json {
        out.print_json(&json!({ "events": events }));
        return Ok(0);
    }
    for e in &events {
        let summary = match &e.event {
            Event::Decision(DecisionEvent { decision: d, .. }) => format!(
                "{} {} {} %: {}",
                serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default(),
                d.stage_name,
                d.weight,
                d.reason
            ),
            Event::Router(call) => router_summary(call),
            other => other.data().unwrap_or_default().to_string(),
        };
        println!(
            "{:>5}  {}  {:<28} {:<15} {}",
            e.seq,
            e.at.format(DATE_CLOCK),
            e.release,
            e.kind(),
            summary
        );
    }
    Ok(0)
}
