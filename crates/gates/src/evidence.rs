//! One function per gate: evidence in, verdict out, with a fix that says what to do.

use crate::{Gate, GateResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s % 86_400 == 0 && s > 0 {
        format!("{} days", s / 86_400)
    } else if s % 3600 == 0 && s > 0 {
        format!("{} h", s / 3600)
    } else {
        format!("{s} s")
    }
}

fn older_than(now: DateTime<Utc>, at: DateTime<Utc>, max: Duration) -> bool {
    (now - at).to_std().unwrap_or(Duration::ZERO) > max
}

/// A change of the contract and what its verdict file shows now.
#[derive(Debug, Clone)]
pub struct ChangeEvidence {
    /// The change's id in the contract.
    pub id: String,
    /// Its verdict file.
    pub verdict_file: String,
    /// None when the file is unchanged since compilation and still says PASS.
    pub problem: Option<String>,
}

/// The quality-evaluations gate: every change's verdict still says PASS.
pub fn quality(release: &str, changes: &[ChangeEvidence]) -> GateResult {
    let g = Gate::QualityEvaluations;
    if changes.is_empty() {
        return GateResult::fail(
            g,
            vec!["the contract lists no changes".into()],
            "compile the release from PASS verdicts: `ship release new <name>`",
        );
    }
    let bad: Vec<String> = changes
        .iter()
        .filter_map(|c| {
            c.problem
                .as_ref()
                .map(|p| format!("{} ({}): {p}", c.id, c.verdict_file))
        })
        .collect();
    if bad.is_empty() {
        let ids: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
        return GateResult::pass(
            g,
            vec![format!(
                "{} change(s) with PASS verdicts unchanged since compilation: {}",
                changes.len(),
                ids.join(", ")
            )],
        );
    }
    GateResult::fail(
        g,
        bad,
        format!("a verdict changed after {release} was compiled: re-evaluate, then compile and approve a new release (`ship release new`)"),
    )
}

/// The approval gate, from `release verify`'s answer.
pub fn approval(release: &str, ok: bool, message: &str) -> GateResult {
    let g = Gate::Approval;
    if ok {
        GateResult::pass(g, vec![message.to_string()])
    } else {
        GateResult::fail(
            g,
            vec![message.to_string()],
            format!("an approver listed in allowed_signers signs it: `ship release approve {release} --key <their key>` (`ship release verify {release}` says what is missing)"),
        )
    }
}

/// One recorded `ship rehearse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    /// When it ran.
    pub at: DateTime<Utc>,
    /// Whether the rollback brought every answer back to the stable version.
    pub ok: bool,
    /// Where it ran (the staging router and URL).
    pub target: String,
    /// From the rollback command until every answer came from the stable version.
    pub rollback_ms: u64,
    /// The whole rehearsal, shift and rollback.
    pub total_ms: u64,
    /// What it saw, in one line.
    pub detail: String,
}

/// `staging`: None when staging is configured, otherwise why not.
pub fn rehearsal(
    release: &str,
    staging: Option<&str>,
    last: Option<&Rehearsal>,
    max_age: Duration,
    now: DateTime<Utc>,
) -> GateResult {
    let g = Gate::RollbackRehearsal;
    let run = format!("`ship rehearse {release}`");
    match (staging, last) {
        (Some(why), None) => GateResult::fail(
            g,
            vec![format!("no rollback rehearsal recorded; {why}")],
            format!("configure [staging] in ship.toml (docs/CONFIG.md), then run {run}"),
        ),
        (None, None) => GateResult::fail(
            g,
            vec!["no rollback rehearsal recorded for this release".into()],
            format!("run {run}: it shifts staging traffic to the new version and back"),
        ),
        (_, Some(r)) if !r.ok => GateResult::fail(
            g,
            vec![format!(
                "the last rehearsal ({}, {}) failed: {}",
                r.at.format("%Y-%m-%d %H:%M:%SZ"),
                ago(now, r.at),
                r.detail
            )],
            format!("fix the rollback path in staging, then run {run} again"),
        ),
        (_, Some(r)) if older_than(now, r.at, max_age) => GateResult::fail(
            g,
            vec![format!(
                "the last rehearsal passed {} — older than staging.max_age ({})",
                ago(now, r.at),
                human(max_age)
            )],
            format!("run {run} again"),
        ),
        (_, Some(r)) => GateResult::pass(
            g,
            vec![format!(
                "rehearsed against {} {}: rollback took {} ms (whole rehearsal {} ms); {}",
                r.target,
                ago(now, r.at),
                r.rollback_ms,
                r.total_ms,
                r.detail
            )],
        ),
    }
}

/// A flag evaluation in staging, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// When the flag was evaluated.
    pub at: DateTime<Utc>,
    /// Whether the evaluation passed.
    pub ok: bool,
    /// What it saw, in one line.
    pub detail: String,
}

/// A flag the release names, with what the registry and staging say about it.
#[derive(Debug, Clone)]
pub struct FlagEvidence {
    /// The flag's name as the release names it.
    pub name: String,
    /// Whether the registry defines it.
    pub registered: bool,
    /// Its validation errors.
    pub errors: Vec<String>,
    /// Its validation warnings.
    pub warnings: Vec<String>,
    /// Days past its cleanup deadline, when it is.
    pub overdue_days: Option<i64>,
    /// Its last staging evaluation, if any.
    pub evaluation: Option<Evaluation>,
}

/// The feature-flags gate, from each flag the release names.
pub fn flags(
    release: &str,
    registry_problem: Option<&str>,
    items: &[FlagEvidence],
    max_age: Duration,
    now: DateTime<Utc>,
) -> GateResult {
    let g = Gate::FeatureFlags;
    if items.is_empty() {
        return GateResult::pass(
            g,
            vec!["the release names no feature flags (contract `flags`)".into()],
        );
    }
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    let mut good = Vec::new();
    if let Some(p) = registry_problem {
        fails.push(format!("flag registry: {p}"));
    }
    for f in items {
        if !f.registered {
            fails.push(format!("`{}` is not in the flag registry", f.name));
            continue;
        }
        for e in &f.errors {
            fails.push(format!("`{}`: {e}", f.name));
        }
        for w in &f.warnings {
            warns.push(format!("`{}`: {w}", f.name));
        }
        if let Some(d) = f.overdue_days {
            warns.push(format!("`{}`: cleanup overdue by {d} day(s)", f.name));
        }
        match &f.evaluation {
            None => fails.push(format!("`{}` has no evaluation in staging", f.name)),
            Some(e) if !e.ok => fails.push(format!(
                "`{}` failed its staging evaluation {}: {}",
                f.name,
                ago(now, e.at),
                e.detail
            )),
            Some(e) if older_than(now, e.at, max_age) => fails.push(format!(
                "`{}` was last evaluated in staging {} — older than staging.max_age ({})",
                f.name,
                ago(now, e.at),
                human(max_age)
            )),
            Some(e) => good.push(format!(
                "`{}` evaluated in staging {}",
                f.name,
                ago(now, e.at)
            )),
        }
    }
    if !fails.is_empty() {
        fails.extend(warns);
        return GateResult::fail(
            g,
            fails,
            format!("register each flag in the registry (owner, type, default, cleanup date; `ship flags list`), then `ship rehearse {release}` evaluates them in staging"),
        );
    }
    if !warns.is_empty() {
        warns.extend(good);
        return GateResult::warn(
            g,
            warns,
            "schedule the cleanup (`ship flags stale` lists overdue flags)",
        );
    }
    GateResult::pass(g, good)
}

/// What the migration linter found in the release's migrations.
#[derive(Debug, Clone, Default)]
pub struct MigrationEvidence {
    /// The migration files linted.
    pub files: Vec<String>,
    /// Findings that block.
    pub errors: Vec<String>,
    /// Findings that do not block.
    pub warnings: Vec<String>,
    /// Findings accepted with `-- ship:allow <rule> <reason>`.
    pub allowed: Vec<String>,
    /// A file that could not be read or parsed.
    pub unreadable: Option<String>,
}

/// The migrations gate, from the lint's findings.
pub fn migrations(e: &MigrationEvidence) -> GateResult {
    let g = Gate::Migrations;
    if let Some(u) = &e.unreadable {
        return GateResult::fail(
            g,
            vec![u.clone()],
            "fix the file (or the path in the contract's `migrations` / migrations.paths); `ship migrations lint` shows the same",
        );
    }
    if e.files.is_empty() {
        return GateResult::pass(
            g,
            vec![
                "no migrations: the contract's `migrations` and migrations.paths name none".into(),
            ],
        );
    }
    let mut evidence = vec![format!(
        "{} file(s) linted: {}",
        e.files.len(),
        e.files.join(", ")
    )];
    let tail = |ev: &mut Vec<String>| {
        for a in &e.allowed {
            ev.push(format!("allowed: {a}"));
        }
    };
    if !e.errors.is_empty() {
        evidence.extend(e.errors.iter().cloned());
        tail(&mut evidence);
        return GateResult::fail(
            g,
            evidence,
            "split the change expand/contract so the version still running keeps working (each finding names a safe alternative), or accept a statement with `-- ship:allow <rule> <reason>`",
        );
    }
    tail(&mut evidence);
    if !e.warnings.is_empty() {
        evidence.extend(e.warnings.iter().cloned());
        return GateResult::warn(g, evidence, "hygiene findings: worth fixing, not blocking");
    }
    GateResult::pass(g, evidence)
}

/// What one metric query returned when asked now.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A value.
    Data {
        /// The value.
        value: f64,
        /// How many samples it stands on.
        samples: u64,
    },
    /// The source answered with nothing; why.
    NoData(String),
    /// The source failed; its error.
    Error(String),
}

/// The metric source could not be set up from ship.toml (`problem` names the setting): none
/// of the rollout's queries could be asked.
pub fn monitoring_unconfigured(problem: &str, keys: &[String]) -> GateResult {
    let mut evidence = vec![problem.to_string()];
    if !keys.is_empty() {
        evidence.push(format!(
            "not asked: {} (the rollout's and validation's queries)",
            keys.join(", ")
        ));
    }
    GateResult::fail(
        Gate::Monitoring,
        evidence,
        "fix that setting in ship.toml, then `ship check` again: it asks every query",
    )
}

/// Every query the rollout will use must answer now. The new version serves no traffic yet, so
/// its series may be empty: an answer without data is ready for `canary/*`, not for the rest.
/// `source` says where the metrics come from, by its settings (`metrics.kind = "command":
/// metrics.command.command = "…"`), for the fix.
pub fn monitoring(source: &str, probes: &[(String, Probe)]) -> GateResult {
    let g = Gate::Monitoring;
    if probes.is_empty() {
        return GateResult::fail(
            g,
            vec!["the rollout uses no metric queries: nothing would watch it".into()],
            "give the stages health checks (error rate, latency) and configure [metrics]",
        );
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (key, p) in probes {
        match p {
            Probe::Data { value, samples } => {
                good.push(format!("{key} = {value:.4} ({samples} samples)"))
            }
            Probe::NoData(why) if key.starts_with("canary/") => good.push(format!(
                "{key} answers, no data until the new version gets traffic ({why})"
            )),
            Probe::NoData(why) => bad.push(format!("{key} returns no data: {why}")),
            Probe::Error(e) => bad.push(format!("{key} fails: {e}")),
        }
    }
    if bad.is_empty() {
        return GateResult::pass(g, good);
    }
    bad.extend(good);
    GateResult::fail(
        g,
        bad,
        format!("make every query answer ({source}: is it up, does it answer these keys, does the stable version export these series?) — `ship check` asks them all"),
    )
}

/// The on-call notification and its acknowledgement.
#[derive(Debug, Clone, Default)]
pub struct Oncall {
    /// The on-call team.
    pub team: String,
    /// When and through what it was sent.
    pub notified: Option<(DateTime<Utc>, String)>,
    /// Why it could not be sent.
    pub notify_error: Option<String>,
    /// Who acknowledged, and when.
    pub acked: Option<(String, DateTime<Utc>)>,
}

/// The on-call gate: the team notified, and its acknowledgement.
pub fn oncall(release: &str, o: &Oncall, now: DateTime<Utc>) -> GateResult {
    let g = Gate::Oncall;
    let ack = format!("`ship oncall ack {release} --as <name>`");
    match (&o.notified, &o.acked) {
        (None, _) => GateResult::fail(
            g,
            vec![o
                .notify_error
                .clone()
                .unwrap_or_else(|| format!("{} has not been notified", o.team))],
            "configure [[webhooks]] or oncall.notify_command, then run `ship check` again (it sends the notification once)",
        ),
        (Some((at, via)), None) => GateResult::fail(
            g,
            vec![format!(
                "{} notified {} via {via}; not acknowledged yet",
                o.team,
                ago(now, *at)
            )],
            format!("someone on call acknowledges: {ack}"),
        ),
        (Some((at, via)), Some((by, ack_at))) => GateResult::pass(
            g,
            vec![format!(
                "{} notified {} via {via}; acknowledged by {by} {}",
                o.team,
                ago(now, *at),
                ago(now, *ack_at)
            )],
        ),
    }
}
