//! `ship judge replay`: the judge over a recorded trace.

use crate::output::Out;
use shiploop_judge::replay::{replay as run, Outcome};
use shiploop_judge::{text, Call};
use shiploop_workspace::{Error, Workspace};
use std::path::Path;

pub fn replay(
    ws: &Workspace,
    out: &Out,
    trace: &Path,
    release: Option<&str>,
    stage: Option<&str>,
) -> Result<u8, Error> {
    let plan = match release {
        Some(r) => shiploop_controller::plan_for(ws, &ws.resolve(r)?)?,
        None => shiploop_controller::plan_from_config(ws)?,
    };
    let index = match stage {
        None => 0,
        Some(name) => plan
            .stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no stage {name:?}: the plan's stages are {}",
                    plan.stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };
    let shown = ws.rel(trace);
    let text = std::fs::read_to_string(trace).map_err(|source| Error::Io {
        path: shown.clone().into(),
        source,
    })?;
    let rows = shiploop_judge::trace::parse(&text).map_err(|e| Error::Parse {
        file: shown.into(),
        line: e.line,
        column: e.column.max(1),
        message: e.message,
    })?;
    let outcome = run(&plan.judge(), index, &rows);
    if out.json {
        out.print_json(&outcome);
    } else {
        print(&plan.stages[index].name, &outcome);
    }
    Ok(0)
}

fn call(c: Call) -> &'static str {
    match c {
        Call::Regression => "regression",
        Call::Clear => "clear",
        Call::Open => "open",
        Call::NoCounts => "no counts",
    }
}

fn print(stage: &str, o: &Outcome) {
    println!("judging the trace as the {stage} stage:");
    for c in &o.changes {
        println!(
            "  t={:<8} {:<12} {:<10} {}",
            text::trim(c.t),
            c.test,
            call(c.call),
            c.detail
        );
    }
    let trigger = o.trigger.map(|t| format!(" ({t})")).unwrap_or_default();
    println!(
        "{} at t={}{trigger}: {}",
        o.verdict,
        text::trim(o.at),
        o.detail
    );
    println!(
        "canary errors before the decision: {}",
        text::count(o.canary_errors_before_decision)
    );
}
