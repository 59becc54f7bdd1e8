//! `ship rehearse`: the rollback, practised in staging. Traffic shifts to the new version, is
//! rolled back, and the time until the stable version serves every answer again is recorded
//! (Step 2's "rollback plan documented and tested"). While the new version serves staging,
//! every feature flag the release names is evaluated there and the result recorded too.

use crate::Result;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use shiploop_config::StagingCfg;
use shiploop_gates::Rehearsal;
use shiploop_providers::admin::AdminClient;
use shiploop_providers::routers::builtin::BuiltinRouter;
use shiploop_providers::routers::command::CommandRouter;
use shiploop_providers::runner::Runner;
use shiploop_providers::{http as http_probe, RouteContext, TrafficRouter};
use shiploop_store::event::{Event, RehearsalRun};
use shiploop_workspace::{Error, Workspace};
use std::time::Duration;
use tokio::time::Instant;

/// A flag evaluated in staging: what the event log records.
pub use shiploop_store::event::FlagEvaluated as FlagEvaluation;

/// What a rehearsal in staging found: how long the traffic shift took, and each flag's evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsalReport {
    /// The release rehearsed.
    pub release: String,
    /// The rehearsal's result, as the rehearsal gate reads it.
    pub rehearsal: Rehearsal,
    /// How long the shift to the new version took to show in every answer.
    pub shift_ms: u64,
    /// Each flag evaluated in staging.
    pub flags: Vec<FlagEvaluation>,
}

fn staging_router(ws: &Workspace) -> Result<Box<dyn TrafficRouter>> {
    use shiploop_config::StagingRouter;
    let s = &ws.config.staging;
    match s.router {
        StagingRouter::Builtin => {
            let token = std::env::var(&s.token_env).unwrap_or_default();
            if token.trim().len() < 16 {
                return Err(Error::Usage(format!(
                    "staging.router = \"builtin\": set ${} to the staging proxy's admin token (at least 16 characters)",
                    s.token_env
                )));
            }
            Ok(Box::new(BuiltinRouter {
                admin: AdminClient::new(
                    &format!("http://{}", s.admin.trim()),
                    token.trim(),
                    Duration::from_secs(10),
                )
                .map_err(|e| Error::Usage(e.to_string()))?,
            }))
        }
        StagingRouter::Command => Ok(Box::new(CommandRouter {
            runner: Runner {
                dir: ws.root.clone(),
                timeout: s.timeout.0,
            },
            set_weight: s.set_weight.clone(),
            get_weight: None,
            promote: None,
            rollback: None,
        })),
        StagingRouter::None => Err(Error::Usage(
            "no staging target: set [staging] router = \"builtin\" or \"command\" with its url in ship.toml (docs/CONFIG.md) — the rollback must be practised before production".into(),
        )),
    }
}

/// Requests staging until `n` answers in a row come from `want`, or `timeout` passes.
async fn until_serving(
    s: &StagingCfg,
    want: &str,
    timeout: Duration,
) -> std::result::Result<Duration, String> {
    let start = Instant::now();
    let mut streak = 0;
    let mut last = String::new();
    while start.elapsed() < timeout {
        match http_probe::get_header(&s.url, &s.probe_header, Duration::from_secs(5)).await {
            Ok(Some(v)) if v == want => {
                streak += 1;
                if streak >= s.probe_requests {
                    return Ok(start.elapsed());
                }
                continue;
            }
            Ok(Some(v)) => last = format!("answered by {v:?}"),
            Ok(None) => last = format!("an answer without the {} header", s.probe_header),
            Err(e) => last = e.to_string(),
        }
        streak = 0;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "{want:?} did not serve {} answers in a row within {} s (last: {last})",
        s.probe_requests,
        timeout.as_secs()
    ))
}

async fn evaluate_flag(ws: &Workspace, flag: &str) -> FlagEvaluation {
    let f = &ws.config.flags;
    let registry_check = crate::check::flag_staging_check(ws, flag);
    // Flag names are checked at `release new`; quoting keeps a hand-edited contract from
    // turning a name into shell.
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let fill_cmd = |t: &str| {
        t.replace("{flag}", &quote(flag))
            .replace("{url}", &quote(&ws.config.staging.url))
    };
    let fill_url = |t: &str| {
        // Every byte but letters, digits and . _ - percent-encoded.
        const KEPT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');
        let enc = utf8_percent_encode(flag, KEPT).to_string();
        t.replace("{flag}", &enc)
            .replace("{url}", &ws.config.staging.url)
    };
    let (ok, detail) = if let Some(cmd) = registry_check
        .or_else(|| (!f.staging_check.trim().is_empty()).then(|| f.staging_check.clone()))
    {
        let runner = Runner {
            dir: ws.root.clone(),
            timeout: f.timeout.0,
        };
        let cmd = fill_cmd(&cmd);
        match runner.run(&cmd).await {
            Ok(_) => (true, format!("`{cmd}` exited 0")),
            Err(e) => (false, e.to_string()),
        }
    } else if !f.staging_http.trim().is_empty() {
        let url = fill_url(&f.staging_http);
        match http_probe::get(&url, f.timeout.0).await {
            Ok(s) if (200..300).contains(&s) => (true, format!("GET {url} → {s}")),
            Ok(s) => (false, format!("GET {url} → {s}")),
            Err(e) => (false, e.to_string()),
        }
    } else {
        (
            false,
            "no way to evaluate it: set flags.staging_check or flags.staging_http (or the flag's staging_check)".into(),
        )
    };
    FlagEvaluation {
        flag: flag.to_string(),
        ok,
        detail,
    }
}

/// Runs the rehearsal and records it (and each flag evaluation) in the event log.
pub async fn rehearse(
    ws: &Workspace,
    release: &str,
    now: DateTime<Utc>,
) -> Result<RehearsalReport> {
    let loaded = ws.resolve(release)?;
    let m = &loaded.contract.meta;
    let id = m.id.clone();
    let router = staging_router(ws)?;
    let s = &ws.config.staging;
    let ctx = RouteContext {
        service: m.service.clone(),
        release: id.clone(),
        stage: "rehearsal".into(),
    };
    let target = format!("{} staging at {}", s.router, s.url);
    let started = Instant::now();
    let mut flags = Vec::new();
    let mut shift_ms = 0;
    // Each step either moves on or says why the rehearsal failed; whatever happens, staging is
    // sent back to the stable version before returning.
    let outcome: std::result::Result<u64, String> = async {
        router
            .set_weight(&ctx, 0)
            .await
            .map_err(|e| format!("could not put staging on the stable version first: {e}"))?;
        until_serving(s, &s.stable_value, s.timeout.0)
            .await
            .map_err(|e| format!("before the shift: {e}"))?;
        router
            .set_weight(&ctx, 100)
            .await
            .map_err(|e| format!("could not shift staging to the new version: {e}"))?;
        shift_ms = until_serving(s, &s.canary_value, s.timeout.0)
            .await
            .map_err(|e| format!("after the shift: {e}"))?
            .as_millis() as u64;
        for f in &m.flags {
            flags.push(evaluate_flag(ws, f).await);
        }
        let t0 = Instant::now();
        router
            .roll_back(&ctx)
            .await
            .map_err(|e| format!("the rollback command failed: {e}"))?;
        until_serving(s, &s.stable_value, s.timeout.0)
            .await
            .map_err(|e| format!("after the rollback: {e}"))?;
        Ok(t0.elapsed().as_millis() as u64)
    }
    .await;
    let (ok, rollback_ms, detail) = match outcome {
        Ok(ms) => (
            true,
            ms,
            format!(
                "stable served {} answers in a row after the rollback",
                s.probe_requests
            ),
        ),
        Err(e) => match router.roll_back(&ctx).await {
            Ok(_) => (false, 0, e),
            Err(rb) => (
                false,
                0,
                format!("{e}; and sending staging back to the stable version failed too: {rb} — staging may still serve the new version"),
            ),
        },
    };
    let rehearsal = Rehearsal {
        at: now,
        ok,
        target,
        rollback_ms,
        total_ms: started.elapsed().as_millis() as u64,
        detail,
    };
    let mut store = crate::open_store(ws)?;
    for f in &flags {
        store
            .append(&id, &Event::FlagEvaluated(f.clone()), now)
            .map_err(Error::from)?;
    }
    let run = Event::Rehearsal(RehearsalRun {
        rehearsal: rehearsal.clone(),
        shift_ms,
    });
    store.append(&id, &run, now).map_err(Error::from)?;
    Ok(RehearsalReport {
        release: id,
        rehearsal,
        shift_ms,
        flags,
    })
}
