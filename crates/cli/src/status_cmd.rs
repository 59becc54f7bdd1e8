//! `ship status`: the one screen an on-call person opens first — releases by state, rollouts in
//! flight, missions with their next checkpoint, open signals, stale flags.

use crate::output::Out;
use chrono::{DateTime, Utc};
use serde_json::json;
use shiploop_artifacts::signal::SignalStatus;
use shiploop_controller::view;
use shiploop_workspace::{Error, Workspace};
use std::collections::BTreeMap;

fn name<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn run(ws: &Workspace, out: &Out, now: DateTime<Utc>) -> Result<u8, Error> {
    let today = now.date_naive();
    // Releases: one unreadable contract is reported, never hides the others.
    let (releases, broken) = ws.release_set()?;
    let broken: Vec<_> = broken
        .into_iter()
        .map(|(p, e)| json!({ "file": ws.rel(&p), "error": e }))
        .collect();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for r in &releases {
        *by_state
            .entry(r.contract.meta.status.to_string())
            .or_default() += 1;
    }
    // An unreadable rollout may be live at some weight: listed (weight null), not hidden.
    let mut in_flight: Vec<serde_json::Value> = view::in_flight(ws, now)?
        .into_iter()
        .map(|r| {
            json!({
                "release": r.release,
                "phase": r.phase,
                "stage": r.stage,
                "weight": r.weight,
                "driven_by": r.driven_by,
            })
        })
        .collect();
    // Validating releases are in flight too: their rollout is complete, their validation not.
    for r in releases
        .iter()
        .filter(|r| r.contract.meta.status == shiploop_artifacts::release::Status::Validating)
    {
        in_flight.push(json!({
            "release": r.contract.meta.id,
            "phase": "validating",
            "stage": "validation",
            "weight": 100,
            "driven_by": null,
        }));
    }
    let mut missions = vec![];
    let dir = ws.missions_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let status = ws.load_status()?;
    for m in names {
        match ws.load_outcome(&m) {
            Ok((_, c)) => {
                let entry = status.mission(&m);
                let mut sched = c.meta.measurement_schedule.clone();
                sched.sort_by_key(|k| k.date);
                let names: Vec<&str> = sched.iter().map(|k| k.name.as_str()).collect();
                let measured = view::measured(ws, &m, &names);
                let next = sched.iter().find(|k| !measured.contains(&k.name.as_str()));
                // Due and still not measured: the Operate loop is behind.
                let overdue: Vec<&str> = c
                    .due(today)
                    .iter()
                    .map(|k| k.name.as_str())
                    .filter(|k| !measured.contains(k))
                    .collect();
                missions.push(json!({
                    "mission": m,
                    "phase": entry.map(|e| e.phase.as_str()),
                    "owner": entry.and_then(|e| e.owner.clone()),
                    "next_checkpoint": next.map(|k| json!({ "name": k.name, "date": k.date })),
                    "measured": measured,
                    "overdue": overdue,
                }));
            }
            Err(e) => missions.push(json!({ "mission": m, "error": e.to_string() })),
        }
    }
    let signals: Vec<_> = ws
        .signals()?
        .into_iter()
        .filter(|(_, s)| s.meta.status == SignalStatus::Open)
        .map(|(p, s)| {
            json!({
                "file": ws.rel(&p),
                "type": name(s.meta.kind),
                "severity": name(s.meta.severity),
                "title": s.meta.title,
            })
        })
        .collect();
    let (stale, flags_error) = match shiploop_controller::check::flag_registry(ws) {
        Ok(reg) => (reg.stale(today), None),
        Err(e) => (vec![], Some(e.to_string())),
    };
    if out.json {
        out.print_json(&json!({
            "releases": by_state,
            "unreadable_releases": broken,
            "in_flight": in_flight,
            "missions": missions,
            "open_signals": signals,
            "stale_flags": stale,
            "flag_registry_error": flags_error,
        }));
        return Ok(0);
    }
    let counts: Vec<String> = by_state.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "Releases: {}{}",
        releases.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    for b in &broken {
        println!(
            "  unreadable: {} — {}",
            b["file"].as_str().unwrap_or(""),
            b["error"].as_str().unwrap_or("")
        );
    }
    println!("In flight: {}", in_flight.len());
    for f in &in_flight {
        println!(
            "  {:<36} {:<12} {} at {} %{}",
            f["release"].as_str().unwrap_or(""),
            f["phase"].as_str().unwrap_or(""),
            f["stage"].as_str().unwrap_or(""),
            f["weight"],
            f["driven_by"]
                .as_str()
                .map(|h| format!(" (driven by {h})"))
                .unwrap_or_default()
        );
    }
    println!("Missions: {}", missions.len());
    for m in &missions {
        let mission = m["mission"].as_str().unwrap_or("");
        if let Some(e) = m["error"].as_str() {
            println!("  {mission:<24} unreadable: {e}");
            continue;
        }
        let next = match m["next_checkpoint"].as_object() {
            Some(k) => format!(
                "next checkpoint {} on {}",
                k["name"].as_str().unwrap_or(""),
                k["date"].as_str().unwrap_or("")
            ),
            None => "every checkpoint measured".to_string(),
        };
        let phase = m["phase"].as_str().unwrap_or("not started");
        let owner = m["owner"]
            .as_str()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let overdue: Vec<&str> = m["overdue"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let overdue = if overdue.is_empty() {
            String::new()
        } else {
            format!("; due, not measured: {}", overdue.join(", "))
        };
        println!("  {mission:<24} {phase}{owner}: {next}{overdue}");
    }
    println!("Open signals: {}", signals.len());
    for s in &signals {
        println!(
            "  {:<19} {:<8} {}  {}",
            s["type"].as_str().unwrap_or(""),
            s["severity"].as_str().unwrap_or(""),
            s["title"].as_str().unwrap_or(""),
            s["file"].as_str().unwrap_or("")
        );
    }
    match &flags_error {
        Some(e) => println!("Stale flags: unknown — flag registry: {e}"),
        None => {
            println!("Stale flags: {}", stale.len());
            for f in &stale {
                println!(
                    "  {:<24} owner {:<24} {} day(s) past {}",
                    f.flag, f.owner, f.days_overdue, f.due
                );
            }
        }
    }
    Ok(0)
}
