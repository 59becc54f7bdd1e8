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
    build(&dir, n, &|cfg: String| {
        cfg.replace(
            "tick_interval = \"auto\"",
            &format!("tick_interval = \"{tick}\""),
        )
    })?;
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
    let key = dir.join("alice");
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
    let ws = Workspace::open(dir)?;
    let now = Utc::now();
    let mut ids = Vec::with_capacity(n);
    // `release new` reads the index of every contract and verdict: one at a time.
    for i in 0..n {
        let v = format!("v{i:05}");
        std::fs::write(
            dir.join(format!("work/evaluations/{v}.md")),
            format!("---\nid: {v}\nverdict: PASS\nsummary: change {i}\n---\nok\n"),
        )?;
        let name = format!("svc{i:05}");
        ws.release_new(&name, &NewOptions::default(), now)?;
        ids.push(format!("{}-{name}", now.format("%Y-%m-%d")));
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "  {} releases compiled ({:.0} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Submitting and approving touch one contract each: both cores.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let ws = &ws;
                let key = &key;
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
        let mut cfg = std::fs::read_to_string(dest.join("ship.toml"))?;
        cfg.push_str(&format!("\n[state]\nurl = \"{url}\"\n"));
        std::fs::write(dest.join("ship.toml"), cfg)?;
    }
    Ok(dest)
}
