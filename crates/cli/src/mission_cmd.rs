//! `ship mission new` and `ship mission show`: a mission's outcome contract (Step 5's targets
//! and measurement schedule).

use crate::output::Out;
use chrono::{DateTime, Utc};
use serde_json::json;
use shiploop_artifacts::outcome::Comparison;
use shiploop_workspace::{Error, Workspace};

pub fn new(ws: &Workspace, out: &Out, mission: &str, now: DateTime<Utc>) -> Result<u8, Error> {
    let path = ws.mission_new(mission, now.date_naive())?;
    let rel = ws.rel(&path);
    if out.json {
        out.print_json(&json!({ "mission": mission, "file": rel }));
    } else {
        println!("Wrote {rel}");
        let (_, c) = ws.load_outcome(mission)?;
        let dates: Vec<String> = c
            .meta
            .measurement_schedule
            .iter()
            .map(|k| format!("{} {}", k.name, k.date))
            .collect();
        println!("  checkpoints: {}", dates.join(", "));
        println!(
            "Next: set its metrics (query, comparison, target, baseline) and check the dates;\n`ship release new <name> --mission {mission}` links releases to it."
        );
    }
    Ok(0)
}

pub fn show(ws: &Workspace, out: &Out, mission: &str, now: DateTime<Utc>) -> Result<u8, Error> {
    let (path, c) = ws.load_outcome(mission)?;
    let today = now.date_naive();
    if out.json {
        out.print_json(&json!({
            "mission": mission,
            "file": ws.rel(&path),
            "metrics": c.meta.metrics,
            "measurement_schedule": c.meta.measurement_schedule,
            "due": c.due(today).iter().map(|k| &k.name).collect::<Vec<_>>(),
        }));
        return Ok(0);
    }
    println!("Mission {mission} ({})", ws.rel(&path));
    println!("  metrics:");
    for m in &c.meta.metrics {
        let target = match m.comparison {
            Comparison::AtLeast => format!(">= {}", m.target),
            Comparison::AtMost => format!("<= {}", m.target),
            Comparison::Within => format!(
                "within {} .. {}",
                m.target,
                m.target_max.map(|x| x.to_string()).unwrap_or_default()
            ),
        };
        let baseline = m
            .baseline
            .map(|b| format!(", baseline {b}"))
            .unwrap_or_default();
        println!(
            "    {:<24} {target}{baseline}  ({}: {})",
            m.name, m.source, m.query
        );
    }
    println!("  measurement schedule:");
    if c.meta.measurement_schedule.is_empty() {
        println!(
            "    none: fill in measurement_schedule dates (the handoff to Operate needs them)"
        );
    }
    for k in &c.meta.measurement_schedule {
        let when = if k.date <= today { "due" } else { "upcoming" };
        println!("    {:<12} {}  {when}", k.name, k.date);
    }
    Ok(0)
}
