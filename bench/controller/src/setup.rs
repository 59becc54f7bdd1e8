//! The workspace the benchmark drives: `ship init`, ticks every `tick`, the default stages
//! (10 m canary: nothing completes while it is measured), and N approved release contracts,
//! each from its own PASS verdict. Built once per N into the cache folder and copied for each
//! run, since approving 10,000 releases takes minutes and a run changes its contracts.

use chrono::Utc;
use shiploop_workspace::{NewOptions, Workspace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The release ids of a prepared workspace (one per line in `releases.txt`).
pub fn release_ids(dir: &Path) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("releases.txt"))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// The prepared workspace for `n` releases in `cache`, built if missing.
pub fn prepared(cache: &Path, n: usize, tick: &str) -> Res<PathBuf> {
    let dir = cache.join(format!("ws-{n}-tick{tick}"));
    if dir.join("releases.txt").is_file() {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let tick = tick.to_string();
    let building = dir.with_extension("building");
    if building.exists() {
        std::fs::remove_dir_all(&building)?;
    }
    build(&building, n, &|cfg: String| {
        cfg.replace(
            "tick_interval = \"auto\"",
            &format!("tick_interval = \"{tick}\""),
        )
    })?;
    std::fs::rename(&building, &dir)?;
    Ok(dir)
}

/// `ship init` in `dir` with its ship.toml passed through `edit`, then `n` approved releases
/// (their ids also in `releases.txt`).
pub fn build(dir: &Path, n: usize, edit: &dyn Fn(String) -> String) -> Res<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    shiploop_workspace::init(dir)?;
    let cfg = std::fs::read_to_string(dir.join("ship.toml"))?;
    std::fs::write(dir.join("ship.toml"), edit(cfg))?;
    let key = key_in(dir);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()?
        .success();
    if !ok {
        return Err("ssh-keygen failed".into());
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    let fields: Vec<&str> = public.split_whitespace().take(2).collect();
    std::fs::write(
        dir.join("work/allowed_signers"),
        format!("alice@example.com {}\n", fields.join(" ")),
    )?;
    let now = Utc::now();
    // `release new` reads the index of every contract and verdict of its workspace, so one
    // workspace of 10,000 costs 100 times one of 1,000: each batch of BATCH releases is made
    // in a copy of the empty workspace, then its contracts and verdicts move into this one.
    // The result is the same: each contract claims its own verdict only.
    let template = dir.with_extension("template");
    if template.exists() {
        std::fs::remove_dir_all(&template)?;
    }
    copy_dir(dir, &template)?;
    let mut ids = Vec::with_capacity(n);
    let per = std::env::var("SHIP_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH)
        .max(1);
    for first in (0..n).step_by(per) {
        let count = per.min(n - first);
        let batch = dir.with_extension(format!("batch{first}"));
        if batch.exists() {
            std::fs::remove_dir_all(&batch)?;
        }
        copy_dir(&template, &batch)?;
        let made = batch_releases(&batch, &key_in(&batch), first, count, now)?;
        for sub in ["work/releases", "work/evaluations"] {
            for e in std::fs::read_dir(batch.join(sub))?.flatten() {
                let to = dir.join(sub).join(e.file_name());
                if !to.exists() {
                    std::fs::rename(e.path(), to)?;
                }
            }
        }
        std::fs::remove_dir_all(&batch)?;
        ids.extend(made);
        eprintln!(
            "  {} releases approved ({:.0} s)",
            ids.len(),
            started.elapsed().as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&template)?;
    std::fs::write(dir.join("releases.txt"), ids.join("\n") + "\n")?;
    eprintln!(
        "  workspace with {n} approved releases built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// A fresh copy of the prepared workspace for one run, with `[state] url` set when given.
pub fn copy_for_run(prepared: &Path, into: &Path, url: Option<&str>) -> Res<PathBuf> {
    let dest = into.join("ws");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(prepared)
        .arg(&dest)
        .status()?
        .success();
    if !ok {
        return Err("cp -a of the prepared workspace failed".into());
    }
    if let Some(url) = url {
        let cfg = std::fs::read_to_string(dest.join("ship.toml"))?;
        std::fs::write(dest.join("ship.toml"), with_state_url(&cfg, url))?;
    }
    Ok(dest)
}

const BATCH: usize = 1000;

fn key_in(dir: &Path) -> PathBuf {
    dir.join("alice")
}

fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()?
        .success();
    if !ok {
        return Err(format!("cp -a {} failed", from.display()).into());
    }
    Ok(())
}

/// Releases `first..first + count` in the workspace at `dir`, each from its own verdict,
/// submitted and approved with `key`.
fn batch_releases(
    dir: &Path,
    key: &Path,
    first: usize,
    count: usize,
    now: chrono::DateTime<Utc>,
) -> Res<Vec<String>> {
    let ws = Workspace::open(dir)?;
    let mut ids = Vec::with_capacity(count);
    // `release new` reads the index of every contract and verdict: one at a time.
    for i in first..first + count {
        let v = format!("v{i:05}");
        std::fs::write(
            dir.join(format!("work/evaluations/{v}.md")),
            format!("---\nid: {v}\nverdict: PASS\nsummary: change {i}\n---\nok\n"),
        )?;
        let name = format!("svc{i:05}");
        ws.release_new(&name, &NewOptions::default(), now)?;
        ids.push(format!("{}-{name}", now.format("%Y-%m-%d")));
    }
    // Submitting and approving touch one contract each: both cores.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let ws = &ws;
                s.spawn(move || -> Result<(), String> {
                    for id in part {
                        ws.submit(id, "agent@example.com", now)
                            .map_err(|e| e.to_string())?;
                        ws.approve_with_key(id, key, None, None, now)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a signing thread panicked")??;
        }
        Ok(())
    })?;
    Ok(ids)
}

/// ship.toml's text with `[state] url` set to `url`: in the `[state]` table `ship init` writes,
/// or in one added at the end.
pub fn with_state_url(cfg: &str, url: &str) -> String {
    let mut out = Vec::new();
    let (mut in_state, mut done) = (false, false);
    for line in cfg.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_state = t.starts_with("[state]");
        }
        if in_state && !done && t.starts_with("url ") {
            out.push(format!("url = \"{url}\""));
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    let mut text = out.join("\n") + "\n";
    if !done {
        text.push_str(&format!("\n[state]\nurl = \"{url}\"\n"));
    }
    text
}
