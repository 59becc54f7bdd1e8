//! The two halves of `bench/replicas.sh` that need ship's own types:
//!
//! - `replicas-setup`: a workspace of N approved releases for three `ship serve` replicas on one
//!   PostgreSQL — short stages, a command router that does nothing (`true`), the command metric
//!   source reading one healthy JSON file — with every rollout submitted for the servers;
//! - `replicas-check`: after the run, what the state database and the replicas' logs say:
//!   phases, stages entered twice, moves recorded by a replica that did not hold the lease, the
//!   hash chain, and the takeover time after each `kill -9`.

use crate::setup;
use chrono::{DateTime, TimeZone, Utc};
use shiploop_rollout::DecisionKind;
use shiploop_store::event::Event;
use shiploop_store::StateStore;
use shiploop_workspace::Workspace;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The healthy measurements the metric command prints at every tick.
const HEALTHY: &str = r#"{"canary/requests": 20000, "canary/errors": 20,
 "stable/requests": 100000, "stable/errors": 100,
 "canary/slow": 0, "canary/slow_target": 0,
 "canary/error_rate": {"value": 0.001, "samples": 500},
 "stable/error_rate": {"value": 0.001, "samples": 5000},
 "canary/latency_p99": {"value": 0.12, "samples": 500},
 "canary/failed_instances": {"value": 0, "samples": 2},
 "alerts/critical_security": 0}"#;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> Res<String> {
    flag(args, name).ok_or_else(|| format!("{name} is required").into())
}

/// `replicas-setup --dir D --n N [--url URL] [--stage 90s] [--tick 5s]`
pub fn setup_cmd(args: &[String]) -> Res<()> {
    let dir = PathBuf::from(need(args, "--dir")?);
    let n: usize = need(args, "--n")?.parse()?;
    // Empty: the workspace's SQLite file (one `ship serve`, e.g. under `ulimit -n 1024`).
    let url = flag(args, "--url").unwrap_or_default();
    let stage = flag(args, "--stage").unwrap_or_else(|| "90s".into());
    let tick = flag(args, "--tick").unwrap_or_else(|| "5s".into());
    let edit = |cfg: String| -> String {
        let cfg = cfg
            .replace(
                "canary_duration = \"10m\"",
                &format!("canary_duration = \"{stage}\""),
            )
            .replace(
                "early_adopter_duration = \"30m\"",
                &format!("early_adopter_duration = \"{stage}\""),
            )
            .replace(
                "ga_duration = \"1h\"",
                &format!("ga_duration = \"{stage}\""),
            )
            .replace(
                "tick_interval = \"auto\"",
                &format!("tick_interval = \"{tick}\""),
            )
            .replace("set_weight = \"\"", "set_weight = \"true\"")
            .replace(
                "command = \"\"\ntimeout = \"10s\"",
                "command = \"cat metrics.json\"\ntimeout = \"10s\"",
            )
            .replace("auto = true", "auto = false");
        if url.is_empty() {
            cfg
        } else {
            setup::with_state_url(&cfg, &url)
        }
    };
    let ids = setup::build(&dir, n, &edit)?;
    std::fs::write(dir.join("metrics.json"), HEALTHY)?;
    let ws = Workspace::open(&dir)?;
    let started = std::time::Instant::now();
    crate::submit_all(&ws, &ids)?;
    eprintln!(
        "{n} rollouts submitted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A move a replica logged (`ship --json serve`): the release, the decision's kind, its stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Move {
    release: String,
    kind: String,
    stage: String,
}

/// The moves each replica logged, by pid (`replica-<slot>-<pid>.log`).
fn logged_moves(logs: &Path) -> Res<HashMap<u32, HashSet<Move>>> {
    let mut out: HashMap<u32, HashSet<Move>> = HashMap::new();
    for e in std::fs::read_dir(logs)?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_suffix(".log")
            .and_then(|s| s.rsplit('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !name.starts_with("replica-") {
            continue;
        }
        let text = std::fs::read_to_string(e.path())?;
        let moves = out.entry(pid).or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(release), Some(kind), Some(detail)) = (
                v["release"].as_str(),
                v["event"].as_str(),
                v["detail"].as_str(),
            ) else {
                continue;
            };
            let stage = detail.split_whitespace().next().unwrap_or("").to_string();
            moves.insert(Move {
                release: release.into(),
                kind: kind.into(),
                stage,
            });
        }
    }
    Ok(out)
}

fn kind_name(k: DecisionKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn pid_of(holder: &str) -> Option<u32> {
    holder.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// `replicas-check --dir D --logs DIR --kills FILE`
pub fn check_cmd(args: &[String]) -> Res<bool> {
    let dir = PathBuf::from(need(args, "--dir")?);
    let logs = PathBuf::from(need(args, "--logs")?);
    let kills_file = PathBuf::from(need(args, "--kills")?);
    let ws = Workspace::open(&dir)?;
    let store = shiploop_controller::open_store(&ws)?;
    let ids = setup::release_ids(&dir)?;
    let moves = logged_moves(&logs)?;
    // "<epoch ms> <pid>" per kill.
    let kills: Vec<(DateTime<Utc>, u32)> = std::fs::read_to_string(&kills_file)?
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let ms: i64 = f.next()?.parse().ok()?;
            let pid: u32 = f.next()?.parse().ok()?;
            Some((Utc.timestamp_millis_opt(ms).single()?, pid))
        })
        .collect();

    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut twice = Vec::new();
    let (mut moves_total, mut attributed, mut unlogged) = (0usize, 0usize, 0usize);
    let mut wrong = Vec::new();
    let mut acquisitions = 0usize;
    let mut takeovers: Vec<f64> = Vec::new();
    let mut not_taken_over = 0usize;
    let mut hit_by_kill = HashSet::new();
    // Decisions that carry a metric or router error, or start a rollback.
    let (mut error_decisions, mut rollbacks) = (0usize, 0usize);
    for id in &ids {
        let phase = store
            .rollout(id)?
            .map_or("missing".to_string(), |r| r.state.phase.name().to_string());
        *phases.entry(phase).or_default() += 1;
        let events = store.events(Some(id))?;
        // Who held the lease after each event (the last acquisition or takeover before it).
        let mut holder: Option<String> = None;
        let mut entered: HashMap<(String, usize), usize> = HashMap::new();
        let mut leases: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut ended_at: Option<DateTime<Utc>> = None;
        for e in &events {
            match &e.event {
                Event::LeaseAcquired(l) => {
                    holder = Some(l.holder.clone());
                    leases.push((e.at, l.holder.clone()));
                    acquisitions += 1;
                }
                Event::LeaseTakenOver(t) => {
                    holder = Some(t.to.clone());
                    leases.push((e.at, t.to.clone()));
                    acquisitions += 1;
                }
                Event::Decision(d) => {
                    let d = &d.decision;
                    if d.findings
                        .iter()
                        .any(|f| f.outcome == shiploop_rollout::criteria::Outcome::Error)
                    {
                        error_decisions += 1;
                    }
                    if d.rollback_cause.is_some() {
                        rollbacks += 1;
                    }
                    if matches!(
                        d.kind,
                        DecisionKind::Start | DecisionKind::Promote | DecisionKind::Complete
                    ) {
                        let n = entered.entry((kind_name(d.kind), d.stage)).or_default();
                        *n += 1;
                        if *n == 2 {
                            twice.push(format!("{id}: {} stage {}", kind_name(d.kind), d.stage));
                        }
                    }
                    if matches!(d.kind, DecisionKind::Completed | DecisionKind::RolledBack) {
                        ended_at.get_or_insert(e.at);
                    }
                    if d.kind == DecisionKind::Hold || d.kind == DecisionKind::Ignored {
                        continue;
                    }
                    moves_total += 1;
                    let m = Move {
                        release: id.clone(),
                        kind: kind_name(d.kind),
                        stage: d.stage_name.clone(),
                    };
                    let by: Vec<u32> = moves
                        .iter()
                        .filter(|(_, set)| set.contains(&m))
                        .map(|(pid, _)| *pid)
                        .collect();
                    let held = holder.as_deref().and_then(pid_of);
                    match (by.as_slice(), held) {
                        ([], _) => unlogged += 1,
                        (pids, Some(h)) if pids.contains(&h) => attributed += 1,
                        (pids, h) => wrong.push(format!(
                            "{id}: {} {} logged by {pids:?}, lease held by {h:?}",
                            m.kind, m.stage
                        )),
                    }
                }
                _ => {}
            }
        }
        // Takeover: each kill of the replica holding this rollout (not ended yet), to the
        // rollout's next acquisition or takeover.
        for (at, pid) in &kills {
            if ended_at.is_some_and(|end| end <= *at) {
                continue;
            }
            let before = leases.iter().rev().find(|(t, _)| t <= at);
            if before.and_then(|(_, h)| pid_of(h)) != Some(*pid) {
                continue;
            }
            hit_by_kill.insert(id.clone());
            match leases.iter().find(|(t, _)| t > at) {
                Some((t, _)) => takeovers.push((*t - *at).num_milliseconds() as f64 / 1000.0),
                None => not_taken_over += 1,
            }
        }
    }
    takeovers.sort_by(|a, b| a.total_cmp(b));
    let chain = store.verify_chain()?;
    let completed = phases.get("completed").copied().unwrap_or(0);
    println!("| check | result |");
    println!("|---|---|");
    println!("| rollouts | {} |", ids.len());
    println!("| phases at the end | {phases:?} |");
    println!(
        "| every rollout completed | {} ({completed} of {}) |",
        if completed == ids.len() {
            "yes"
        } else {
            "**no**"
        },
        ids.len()
    );
    println!(
        "| stages entered twice (start/promote/complete decisions per stage) | {} |",
        twice.len()
    );
    println!(
        "| moves (non-hold decisions) recorded | {moves_total}: {attributed} logged by the lease holder of the moment, {} by another replica, {unlogged} recorded but not logged (the replica was killed between the two) |",
        wrong.len()
    );
    println!("| lease acquisitions and takeovers | {acquisitions} |");
    println!(
        "| decisions with a metric or router error / rollbacks started | {error_decisions} / {rollbacks} |"
    );
    println!(
        "| kills | {} ({} rollouts held by a killed replica, not ended) |",
        kills.len(),
        hit_by_kill.len()
    );
    println!(
        "| takeover time after kill -9 (kill → next lease-acquired/-taken-over of each of its rollouts) | p50 {:.1} s, p99 {:.1} s, max {:.1} s over {} takeovers; {not_taken_over} never taken over |",
        quantile(&takeovers, 0.5),
        quantile(&takeovers, 0.99),
        takeovers.last().copied().unwrap_or(f64::NAN),
        takeovers.len()
    );
    println!(
        "| hash chain (verify_chain) | {} — {} events{} |",
        if chain.ok { "ok" } else { "**broken**" },
        chain.events,
        chain
            .problem
            .as_ref()
            .map_or(String::new(), |p| format!(": {p}"))
    );
    for w in twice.iter().take(5) {
        eprintln!("entered twice: {w}");
    }
    for w in wrong.iter().take(5) {
        eprintln!("not the holder: {w}");
    }
    Ok(completed == ids.len()
        && twice.is_empty()
        && wrong.is_empty()
        && chain.ok
        && error_decisions == 0)
}

/// `replicas-wait --dir D --timeout SECS`: until every rollout has ended (completed, rolled
/// back or failed), printing the phases every 10 s; false at the timeout.
pub fn wait_cmd(args: &[String]) -> Res<bool> {
    let dir = PathBuf::from(need(args, "--dir")?);
    let timeout: u64 = need(args, "--timeout")?.parse()?;
    let ws = Workspace::open(&dir)?;
    let ids = setup::release_ids(&dir)?;
    let started = std::time::Instant::now();
    let mut last_print = 0;
    loop {
        let store = shiploop_controller::open_store(&ws)?;
        let mut phases: BTreeMap<String, usize> = BTreeMap::new();
        for r in store.rollouts()? {
            *phases.entry(r.state.phase.name().to_string()).or_default() += 1;
        }
        drop(store);
        let ended: usize = ["completed", "rolled-back", "failed"]
            .iter()
            .filter_map(|p| phases.get(*p))
            .sum();
        let secs = started.elapsed().as_secs();
        if secs >= last_print + 10 || ended >= ids.len() {
            last_print = secs;
            eprintln!("  +{secs:>4} s {phases:?}");
        }
        if ended >= ids.len() {
            return Ok(true);
        }
        if secs > timeout {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}
