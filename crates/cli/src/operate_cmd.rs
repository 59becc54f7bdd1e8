//! `ship handoff`, `ship outcome measure` and `ship operate tick`: the end of Ship and the
//! Operate loop's measurements.

use crate::gates_cmd::mark;
use crate::output::Out;
use chrono::{DateTime, Utc};
use shiploop_controller::{handoff, operate, outcome};
use shiploop_gates::handoff::Acceptance;
use shiploop_workspace::{Error, Workspace};

/// `--accept ITEM="why"…` (each item with its own reason), or `--accept ITEM… --reason "why"`
/// (one reason for every item given without its own), `[--as …]`, as the handoff's acceptances.
pub fn acceptances(
    ws: &Workspace,
    items: &[String],
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<Vec<Acceptance>, Error> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    let parsed: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((item, why)) => (item.trim(), Some(why)),
            None => (i.trim(), None),
        })
        .collect();
    if reason.is_some() && parsed.iter().all(|(_, own)| own.is_some()) {
        return Err(Error::Usage(
            "--reason is for --accept items given without their own reason, and every one has its own (ITEM=\"why\"): drop --reason".into(),
        ));
    }
    let mut out: Vec<Acceptance> = vec![];
    for (item, own) in parsed {
        if out.iter().any(|a| a.item == item) {
            return Err(Error::Usage(format!("--accept {item} is given twice")));
        }
        let why = own.or(reason).map(str::trim).filter(|r| !r.is_empty());
        let Some(why) = why else {
            return Err(Error::Usage(format!(
                "--accept {item} needs a reason: --accept {item}=\"why\" (or --reason \"why\" for every item given without one)"
            )));
        };
        let (why, by) =
            crate::gates_cmd::who_and_why(ws, &format!("--accept {item}"), Some(why), by)?;
        out.push(Acceptance {
            item: item.to_string(),
            by,
            reason: why,
        });
    }
    Ok(out)
}

pub fn handoff(
    ws: &Workspace,
    out: &Out,
    release: &str,
    accept: &[Acceptance],
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let h = handoff::handoff(ws, release, accept, now)?;
    let code = if h.handed_over || h.already.is_some() {
        0
    } else {
        1
    };
    if out.json {
        out.print_json(&h);
    } else {
        print_handoff(ws, &h);
    }
    Ok(code)
}

/// The exit criteria, item by item, and what the handoff did.
pub fn print_handoff(ws: &Workspace, h: &handoff::Handoff) {
    let r = &h.report;
    if let Some(prev) = &h.already {
        println!(
            "{} was already handed over by {} to {} at {}; nothing changed.",
            r.release,
            prev.from,
            prev.to,
            prev.at.format("%Y-%m-%d %H:%M:%SZ")
        );
        for step in &h.completed {
            println!("  finished what the interrupted handoff left undone: {step}");
        }
        return;
    }
    println!("Exit criteria of {} (Ship → Operate):", r.release);
    let mut section = None;
    for i in &r.items {
        if section != Some(i.section) {
            println!("  {}", i.section.title());
            section = Some(i.section);
        }
        println!("    {:<4} {:<56} {}", mark(i.status), i.item, i.evidence);
        match (&i.accepted, &i.fix) {
            (Some(a), _) => println!("         accepted by {}: {}", a.by, a.reason),
            (None, Some(fix)) if i.status == shiploop_gates::Status::Warn => {
                println!("         unconfirmed ({fix}): a person may accept it, with why")
            }
            (None, Some(fix)) if i.status != shiploop_gates::Status::Pass => {
                println!("         fix: {fix}")
            }
            _ => {}
        }
    }
    if h.handed_over {
        let cfg = &ws.config.handoff;
        match &r.mission {
            Some(m) => println!(
                "Handed over: {} → {}. {} shows mission {m} in operate; `ship operate tick` measures its checkpoints.",
                cfg.ship_owner, cfg.operate_owner, h.status_file
            ),
            None => println!(
                "Handed over: {} → {}; recorded in {}.",
                cfg.ship_owner, cfg.operate_owner, h.status_file
            ),
        }
    } else {
        let failing: Vec<&str> = r.failing().iter().map(|i| i.id).collect();
        println!(
            "Not handed over: {} not confirmed ({}); {} and the contract are unchanged.",
            failing.len(),
            failing.join(", "),
            h.status_file
        );
        if let Some(cmd) = r.accept_command() {
            let fails = r
                .items
                .iter()
                .any(|i| i.status == shiploop_gates::Status::Fail);
            println!(
                "{}ccept what the evidence could not confirm, each with why (recorded in the contract):\n  {cmd}",
                if fails { "Once the failures are fixed, a" } else { "A" }
            );
        }
    }
}

pub fn measure(
    ws: &Workspace,
    out: &Out,
    mission: &str,
    checkpoint: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let rt = crate::rollout::runtime()?;
    let m = rt.block_on(outcome::measure(ws, mission, checkpoint, now))?;
    let code = if m.missed.is_empty() && m.complete() {
        0
    } else {
        1
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "measured": m,
            "metrics": m.report.metrics,
        }));
        return Ok(code);
    }
    print_measured(&m);
    Ok(code)
}

fn print_measured(m: &outcome::Measured) {
    println!(
        "Outcome of {} at {} ({} of {} targets met):",
        m.mission,
        m.checkpoint,
        m.met,
        m.report.metrics.len()
    );
    for r in &m.report.metrics {
        let actual = r
            .actual
            .map(shiploop_artifacts::report::num)
            .unwrap_or_else(|| "—".into());
        let result = match r.met() {
            Some(true) => "met".to_string(),
            Some(false) => "MISSED".to_string(),
            None => format!("NOT MEASURED: {}", r.error.as_deref().unwrap_or("no data")),
        };
        println!(
            "  {:<24} actual {:<14} target {:<16} {result}",
            r.metric.name,
            actual,
            r.target_text()
        );
    }
    println!("  report: {}", m.report_file);
    for c in &m.charts {
        println!("  chart:  {c}");
    }
    if let Some((file, new)) = &m.signal {
        if *new {
            println!("  signal: {file} (performance: targets missed)");
        } else {
            println!("  signal: {file} (already written for this checkpoint)");
        }
    }
}

pub fn tick(ws: &Workspace, out: &Out, now: DateTime<Utc>) -> Result<u8, Error> {
    let rt = crate::rollout::runtime()?;
    let t = rt.block_on(operate::tick(ws, now))?;
    let code = if t.ok() { 0 } else { 1 };
    if out.json {
        out.print_json(&t);
    } else {
        print_tick(&t, now);
    }
    Ok(code)
}

/// What a tick measured, skipped and raised.
pub fn print_tick(t: &operate::TickReport, now: DateTime<Utc>) {
    println!("Operate tick at {}:", now.format("%Y-%m-%d %H:%M:%SZ"));
    if t.measured.is_empty() && t.failed.is_empty() {
        println!("  no checkpoint to measure");
    }
    for m in &t.measured {
        print_measured(m);
    }
    for f in &t.failed {
        println!(
            "  {} {}: could not be measured, tried again next tick: {}",
            f.mission, f.checkpoint, f.error
        );
    }
    for k in &t.already_measured {
        println!("  {} {}: already measured", k.mission, k.checkpoint);
    }
    for k in &t.retry_tomorrow {
        println!(
            "  {} {}: measured today without every metric; tried again tomorrow (or `ship outcome measure {} --checkpoint {}`)",
            k.mission, k.checkpoint, k.mission, k.checkpoint
        );
    }
    for mission in &t.not_in_operate {
        println!("  {mission}: checkpoints are due, but it was never handed over (`ship handoff <release>`)");
    }
    for f in t.flag_signals.iter().filter(|f| f.new) {
        println!(
            "  flag {} is past its cleanup date: signal {}",
            f.flag, f.file
        );
    }
    for p in &t.problems {
        println!("  problem: {p}");
    }
}
