//! `ship check`, `ship rehearse`, `ship validate`, `ship oncall ack`, `ship flags …` and
//! `ship migrations lint`: the pre-deployment gates and post-deployment validation.

use crate::output::Out;
use chrono::{DateTime, Utc};
use serde_json::json;
use shiploop_controller::check;
use shiploop_controller::validate::ValidationReport;
use shiploop_controller::{Controller, SystemClock};
use shiploop_gates::{Gate, Override, Report, Status};
use shiploop_workspace::{Error, Workspace};

/// The reason (required) and the person (`--as`, or git config user.email) behind a recorded
/// human decision: a gate waiver, a handoff acceptance.
pub fn who_and_why(
    ws: &Workspace,
    flag: &str,
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<(String, String), Error> {
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::Usage(format!("{flag} needs --reason \"…\": say why")))?;
    shiploop_artifacts::release::check_plain("--reason", reason)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let by = match by {
        Some(b) => {
            shiploop_artifacts::release::check_plain("--as", b)
                .map_err(|e| Error::Usage(e.to_string()))?;
            b.to_string()
        }
        None => crate::release::git_email(ws).ok_or_else(|| {
            Error::Usage(format!(
                "{flag}: say who decides with --as <name> (or set git config user.email)"
            ))
        })?,
    };
    Ok((reason.to_string(), by))
}

/// The waivers given on the command line (`--override <gate> --reason "…"`), attributed to
/// `--as` or git's user.email.
pub fn overrides(ws: &Workspace, waive: &crate::cli::WaiveArgs) -> Result<Vec<Override>, Error> {
    if waive.overrides.is_empty() {
        return Ok(vec![]);
    }
    let (reason, by) = who_and_why(
        ws,
        "--override",
        waive.reason.as_deref(),
        waive.by.as_deref(),
    )?;
    waive
        .overrides
        .iter()
        .map(|g| {
            Ok(Override {
                gate: Gate::parse(g).map_err(|e| Error::Usage(e.to_string()))?,
                by: by.clone(),
                reason: reason.to_string(),
            })
        })
        .collect()
}

pub fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::Overridden => "WAIVED",
    }
}

pub fn print_report(out: &Out, report: &Report, notes: &[String]) {
    if out.json {
        return out.print_json(&json!({
            "release": report.release,
            "passed": report.passed(),
            "failing": report.failing(),
            "gates": report.gates,
            "notes": notes,
        }));
    }
    println!("Pre-deployment checks for {}:", report.release);
    for g in &report.gates {
        println!("  {:<6} {:<20} {}", mark(g.status), g.gate.id(), g.item);
        for e in &g.evidence {
            println!("         {:<20} {e}", "");
        }
        if let Some(o) = &g.overridden {
            println!("         {:<20} waived by {}: {}", "", o.by, o.reason);
        } else if let (Some(fix), Status::Fail | Status::Warn) = (&g.fix, g.status) {
            println!("         {:<20} → {fix}", "");
        }
    }
    for n in notes {
        println!("  note: {n}");
    }
    if report.passed() {
        println!("{}: may start.", report.release);
    } else {
        println!(
            "{}: may not start — failing: {}",
            report.release,
            check::failing_names(report)
        );
    }
}

/// `ship check`: exit 0 when the release may start, 1 when a gate fails.
pub fn check_cmd(
    ws: &Workspace,
    out: &Out,
    release: &str,
    waivers: &[Override],
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let rt = crate::rollout::runtime()?;
    let (report, notes) = rt.block_on(check::check(ws, release, waivers, now))?;
    print_report(out, &report, &notes);
    Ok(if report.passed() { 0 } else { 1 })
}

pub fn rehearse(ws: &Workspace, out: &Out, release: &str, now: DateTime<Utc>) -> Result<u8, Error> {
    let rt = crate::rollout::runtime()?;
    let r = rt.block_on(shiploop_controller::rehearse::rehearse(ws, release, now))?;
    if out.json {
        out.print_json(&r);
    } else {
        let h = &r.rehearsal;
        println!("Rollback rehearsal of {} against {}:", r.release, h.target);
        if h.ok {
            println!("  shifted staging to the new version in {} ms", r.shift_ms);
            println!("  rolled back in {} ms — {}", h.rollback_ms, h.detail);
        } else {
            println!("  FAILED: {}", h.detail);
        }
        for f in &r.flags {
            println!(
                "  flag {:<20} {} — {}",
                f.flag,
                if f.ok { "evaluated" } else { "FAILED" },
                f.detail
            );
        }
        println!("  recorded ({} ms in all)", h.total_ms);
    }
    Ok(if r.rehearsal.ok && r.flags.iter().all(|f| f.ok) {
        0
    } else {
        1
    })
}

pub fn print_validation(r: &ValidationReport) {
    println!(
        "Post-deployment validation of {} ({} window): {}",
        r.release,
        r.window,
        r.result.to_uppercase()
    );
    for i in &r.items {
        println!("  {:<6} {:<45} {}", mark(i.status), i.text, i.evidence);
    }
    if let Some(why) = &r.reason {
        println!("  why: {why}");
    }
    if r.rolled_back {
        println!("  rolled back: all traffic is on the stable version again");
    }
    if let Some(s) = &r.signal {
        println!("  incident signal: {s}");
    }
}

fn validation_exit(r: &ValidationReport) -> u8 {
    match r.result.as_str() {
        "passed" => 0,
        "interrupted" => 3,
        _ => 1,
    }
}

/// Runs validation in the foreground and prints it (`ship validate`).
pub fn run_validation(out: &Out, c: &mut Controller<'_>) -> Result<u8, Error> {
    let (code, value) = validation_outcome(out, c)?;
    if let Some(v) = value {
        out.print_json(&v);
    }
    Ok(code)
}

/// Runs (or reports the recorded) validation, stopping cleanly on SIGINT/SIGTERM. Human
/// output is printed; in JSON mode the document is returned for the caller to print.
pub fn validation_outcome(
    out: &Out,
    c: &mut Controller<'_>,
) -> Result<(u8, Option<serde_json::Value>), Error> {
    if let Some(v) = c.recorded_validation() {
        let id = c.id().to_string();
        let code = if v.result == "passed" { 0 } else { 1 };
        if out.json {
            return Ok((
                code,
                Some(json!({ "release": id, "result": v.result, "recorded": v })),
            ));
        } else {
            println!(
                "{id}: post-deployment validation already {} ({} window)",
                v.result, v.window
            );
            for i in &v.items {
                println!(
                    "  {:<6} {:<45} {}",
                    i.status.to_uppercase(),
                    i.gate,
                    i.evidence
                );
            }
        }
        return Ok((code, None));
    }
    let rt = crate::rollout::runtime()?;
    let json = out.json;
    let report = rt.block_on(async {
        let rx = crate::rollout::stop_on_signal()?;
        let mut log = |line: &str| {
            if !json {
                println!("{}  {line}", Utc::now().format("%H:%M:%S"));
            }
        };
        c.validate(&mut SystemClock, &rx, &mut log).await
    })?;
    crate::rollout::send_webhooks(c);
    if out.json {
        return Ok((
            validation_exit(&report),
            Some(serde_json::to_value(&report).unwrap_or_default()),
        ));
    }
    print_validation(&report);
    Ok((validation_exit(&report), None))
}

pub fn validate(ws: &Workspace, out: &Out, release: &str) -> Result<u8, Error> {
    let mut c = Controller::open(ws, release, Utc::now())?;
    if !c.has_rollout()? {
        return Err(Error::Refused(format!(
            "{} has not been rolled out: validation follows the rollout (`ship rollout start {}`)",
            c.id(),
            c.id()
        )));
    }
    run_validation(out, &mut c)
}

pub fn oncall_ack(
    ws: &Workspace,
    out: &Out,
    release: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let id = check::oncall_ack(ws, release, by, now)?;
    if out.json {
        out.print_json(&json!({ "release": id, "acknowledged_by": by, "at": now }));
    } else {
        println!(
            "{id}: acknowledged by {by} at {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        );
    }
    Ok(0)
}

fn registry(ws: &Workspace) -> Result<shiploop_flags::Registry, Error> {
    check::flag_registry(ws).map_err(|e| Error::Usage(format!("flag registry: {e}")))
}

pub fn flags_list(ws: &Workspace, out: &Out, now: DateTime<Utc>) -> Result<u8, Error> {
    let reg = registry(ws)?;
    let today = now.date_naive();
    let problems = reg.problems();
    if out.json {
        let flags: Vec<serde_json::Value> = reg
            .flags
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                v["status"] = json!(f.status(today).to_string());
                v
            })
            .collect();
        out.print_json(&json!({ "flags": flags, "problems": problems }));
    } else if reg.flags.is_empty() {
        println!(
            "No feature flags registered ({} or [flags.registry] in ship.toml).",
            ws.config.flags.registry_file
        );
    } else {
        print!("{}", shiploop_flags::render_table(&reg.flags, today));
        for p in &problems {
            println!("{p}");
        }
    }
    let errors = problems
        .iter()
        .any(|p| p.severity == shiploop_flags::Severity::Error);
    Ok(if errors { 1 } else { 0 })
}

/// Exit 1 when any flag is past its cleanup date, so CI can nag about it.
pub fn flags_stale(ws: &Workspace, out: &Out, now: DateTime<Utc>) -> Result<u8, Error> {
    let reg = registry(ws)?;
    let stale = reg.stale(now.date_naive());
    if out.json {
        out.print_json(&json!({ "stale": stale }));
    } else if stale.is_empty() {
        println!("No flag is past its cleanup date.");
    } else {
        for s in &stale {
            println!(
                "{:<24} owner {:<24} due {} — {} day(s) overdue",
                s.flag, s.owner, s.due, s.days_overdue
            );
        }
    }
    Ok(if stale.is_empty() { 0 } else { 1 })
}

/// Exit 0 clean or warnings only, 1 when an error is found, 2 when a file cannot be parsed.
pub fn migrations_lint(out: &Out, paths: &[std::path::PathBuf]) -> Result<u8, Error> {
    match shiploop_migrations::lint_paths(paths) {
        Ok(report) => {
            if out.json {
                out.print_json(&report);
            } else {
                print!("{}", report.render_human());
            }
            Ok(report.exit_code() as u8)
        }
        Err(shiploop_migrations::LintError::Parse(p)) => Err(Error::Parse {
            file: p.file.clone().into(),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
        }),
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}
