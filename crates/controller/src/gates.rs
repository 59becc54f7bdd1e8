//! `ship check`: gathers the evidence for every pre-deployment gate (files, the state store,
//! the metric source, the linter), lets the gates crate decide, and records the answer in the
//! event log and the contract. Also the on-call notification and acknowledgement it asks for.

use crate::{build, notify, Result};
use chrono::{DateTime, Utc};
use shiploop_artifacts::release::{CheckLine, ChecksRecord};
use shiploop_flags::{FlagsError, Registry};
use shiploop_gates::{self as gates, Gate, Override, Probe, Report};
use shiploop_providers::MetricContext;
use shiploop_rollout::measure::Measurement;
use shiploop_store::event::{
    Event, Failure, GateOverridden, OncallAcked, OncallNotification, OncallNotified,
};
use shiploop_store::{LoggedEvent, StateStore};
use shiploop_workspace::{Error, LoadedRelease, Workspace};

fn store_err(e: shiploop_store::StoreError) -> Error {
    Error::Store(e)
}

/// The flag registry: the registry file (if it exists) merged with `[flags.registry.*]`. A
/// parse error names the file as ship.toml's `flags.registry_file` does.
pub fn flag_registry(ws: &Workspace) -> std::result::Result<Registry, FlagsError> {
    let path = ws.path(&ws.config.flags.registry_file);
    let file = match shiploop_flags::load(&path) {
        Ok(r) => r,
        Err(FlagsError::NotFound(_)) => Registry::default(),
        Err(FlagsError::Parse {
            file: _,
            line,
            column,
            message,
        }) => {
            return Err(FlagsError::Parse {
                file: ws.config.flags.registry_file.clone(),
                line,
                column,
                message,
            })
        }
        Err(e) => return Err(e),
    };
    let mut inline = Vec::new();
    for (name, v) in &ws.config.flags.registry {
        let def: shiploop_flags::FlagDef =
            v.clone().try_into().map_err(|source| FlagsError::Inline {
                name: name.clone(),
                source: Box::new(source),
            })?;
        inline.push((name.clone(), def));
    }
    file.merge(Registry::from_entries(inline))
}

/// The flag's own staging check from the registry, if it has one.
pub fn flag_staging_check(ws: &Workspace, flag: &str) -> Option<String> {
    flag_registry(ws)
        .ok()?
        .get(flag)
        .and_then(|f| f.staging_check.clone())
}

/// The latest event of the release that `pick` takes, with its time. Events before the release
/// id was freed by a withdrawal (`release-withdrawn`) belong to the withdrawn contract, not
/// this one.
pub(crate) fn latest<'e, T>(
    events: &'e [LoggedEvent],
    pick: impl Fn(&'e Event) -> Option<T>,
) -> Option<(DateTime<Utc>, T)> {
    events
        .iter()
        .rev()
        .take_while(|e| !matches!(e.event, Event::ReleaseWithdrawn(_)))
        .find_map(|e| pick(&e.event).map(|t| (e.at, t)))
}

fn flags_gate(
    ws: &Workspace,
    r: &LoadedRelease,
    events: &[LoggedEvent],
    now: DateTime<Utc>,
) -> gates::GateResult {
    let m = &r.contract.meta;
    let (registry, problem) = match flag_registry(ws) {
        Ok(reg) => (reg, None),
        Err(e) => (Registry::default(), Some(e.to_string())),
    };
    let items: Vec<gates::FlagEvidence> = registry
        .check_release(&m.flags, now.date_naive())
        .into_iter()
        .map(|item| {
            let (errors, warnings): (Vec<_>, Vec<_>) = item
                .problems
                .iter()
                .partition(|p| p.severity == shiploop_flags::Severity::Error);
            let evaluation = latest(events, |e| match e {
                Event::FlagEvaluated(f) if f.flag == item.name => Some(f),
                _ => None,
            })
            .map(|(at, f)| gates::Evaluation {
                at,
                ok: f.ok,
                detail: f.detail.clone(),
            });
            gates::FlagEvidence {
                name: item.name.clone(),
                registered: item.exists,
                errors: errors.iter().map(|p| p.to_string()).collect(),
                warnings: warnings.iter().map(|p| p.to_string()).collect(),
                overdue_days: item.stale.as_ref().map(|s| s.days_overdue),
                evaluation,
            }
        })
        .collect();
    gates::flags(
        &m.id,
        problem.as_deref(),
        &items,
        ws.config.staging.max_age.0,
        now,
    )
}

/// The migration files of a release: the contract's, then ship.toml's.
pub fn migration_paths(ws: &Workspace, r: &LoadedRelease) -> Vec<std::path::PathBuf> {
    r.contract
        .meta
        .migrations
        .iter()
        .chain(&ws.config.migrations.paths)
        .map(|p| ws.path(p))
        .collect()
}

fn migrations_gate(ws: &Workspace, r: &LoadedRelease) -> gates::GateResult {
    let paths = migration_paths(ws, r);
    if paths.is_empty() {
        return gates::migrations(&gates::MigrationEvidence::default());
    }
    let mut e = gates::MigrationEvidence::default();
    match shiploop_migrations::lint_paths(&paths) {
        Err(err) => e.unreadable = Some(rel_text(ws, &err.to_string())),
        Ok(report) => {
            for f in &report.files {
                e.files.push(ws.rel(std::path::Path::new(&f.file)));
                for x in &f.findings {
                    let line = rel_text(
                        ws,
                        &format!(
                            "{}:{}:{} {} — {}",
                            x.file, x.line, x.column, x.rule, x.message
                        ),
                    );
                    match (&x.allowed, x.severity) {
                        (Some(reason), _) => {
                            e.allowed.push(format!("{line} (reason: {reason})"));
                        }
                        (None, shiploop_migrations::Severity::Error) => {
                            e.errors.push(format!("{line} → {}", x.help))
                        }
                        (None, shiploop_migrations::Severity::Warning) => e.warnings.push(line),
                    }
                }
            }
        }
    }
    gates::migrations(&e)
}

/// Paths in messages relative to the workspace, as people wrote them.
fn rel_text(ws: &Workspace, s: &str) -> String {
    let root = format!("{}/", ws.root.display());
    s.replace(&root, "")
}

async fn monitoring_gate(ws: &Workspace, r: &LoadedRelease) -> gates::GateResult {
    let plan = match build::plan_for(ws, r) {
        Ok(p) => p,
        Err(e) => {
            let source = build::metrics_setting(&ws.config);
            return gates::monitoring(&source, &[("plan".into(), Probe::Error(e.to_string()))]);
        }
    };
    let mut keys: Vec<String> = (0..plan.stages.len())
        .flat_map(|i| plan.required_keys(i))
        .filter(|k| shiploop_rollout::measure::integrity_check_of(k).is_none())
        .collect();
    // …and what post-deployment validation will ask.
    if ws.config.alerts.kind == shiploop_config::AlertsKind::Alertmanager {
        keys.push("alerts/critical".into());
    }
    for name in &ws.config.validation.resource_checks {
        if let Some(c) = ws.config.checks.get(name) {
            keys.push(shiploop_rollout::measure::check_metric(&c.metric));
        }
    }
    keys.sort();
    keys.dedup();
    // Only the metric source answers these queries: the router is not needed (and a router
    // setting is never blamed for a metric source that cannot be reached).
    let source = build::metrics_setting(&ws.config);
    let metrics = match build::metrics_for(ws) {
        Ok(m) => m,
        Err(e) => return gates::monitoring_unconfigured(&e.to_string(), &keys),
    };
    let ctx = MetricContext {
        service: r.contract.meta.service.clone(),
        release: r.contract.meta.id.clone(),
        stage: plan
            .stages
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        weight: 0,
        window_secs: ws.config.metrics.window.0.as_secs().max(1),
        since_secs: ws.config.metrics.window.0.as_secs().max(1),
        stage_started: None,
        slow_secs: plan.latency_bounds().0,
        target_secs: plan.latency_bounds().1,
    };
    let obs = metrics.measure(&keys, &ctx).await;
    let probes: Vec<(String, Probe)> = keys
        .iter()
        .map(|k| {
            let p = match obs.get(k) {
                Some(Measurement::Value { samples: 0, .. }) => {
                    Probe::NoData("the query answers, over 0 samples".into())
                }
                Some(Measurement::Value { value, samples, .. }) => Probe::Data {
                    value: *value,
                    samples: *samples,
                },
                Some(Measurement::NoData) => Probe::NoData("the source has no data".into()),
                Some(Measurement::Error { message, .. }) => Probe::Error(message.clone()),
                None => Probe::Error("the metric source did not answer this key".into()),
            };
            (k.clone(), p)
        })
        .collect();
    gates::monitoring(&source, &probes)
}

/// Sends the on-call notification once per release: an `oncall.notified` event (which the
/// webhooks deliver) and the notify command. Returns (when, via) or why it could not.
async fn notify_oncall(
    ws: &Workspace,
    r: &LoadedRelease,
    store: &mut dyn StateStore,
    now: DateTime<Utc>,
) -> std::result::Result<(DateTime<Utc>, String), String> {
    let cfg = &ws.config.oncall;
    let m = &r.contract.meta;
    let message = format!(
        "{} of {} is about to start its progressive rollout ({} stages); rollback: `ship rollout abort {} --reason …`",
        m.id,
        m.service,
        m.stages.len(),
        m.id
    );
    let mut via = Vec::new();
    let mut problems = Vec::new();
    if !cfg.notify_command.trim().is_empty() {
        let cmd = cfg
            .notify_command
            .replace("{release}", &shell_quote(&m.id))
            .replace("{service}", &shell_quote(&m.service))
            .replace("{message}", &shell_quote(&message));
        let runner = shiploop_providers::runner::Runner {
            dir: ws.root.clone(),
            timeout: cfg.timeout.0,
        };
        match runner.run(&cmd).await {
            Ok(_) => via.push("notify_command".to_string()),
            Err(e) => problems.push(format!("oncall.notify_command failed: {e}")),
        }
    }
    // Only receivers that take oncall.notified count, and only when it reached them.
    let interested = ws
        .config
        .webhooks
        .iter()
        .filter(|w| w.events.is_empty() || w.events.iter().any(|e| e == "oncall.notified"))
        .count();
    if interested > 0 {
        let notification = Event::OncallNotification(OncallNotification {
            team: cfg.team.clone(),
            message: message.clone(),
        });
        let ev = store
            .append(&m.id, &notification, now)
            .map_err(|e| e.to_string())?;
        let n = notify::Notifier::new(
            crate::state_location(ws).map_err(|e| e.to_string())?,
            &m.id,
            &m.service,
            &ws.config.webhooks,
            now,
        );
        n.flush().await.map_err(|e| format!("webhooks: {e}"))?;
        let id = format!("{}-{}", m.id, ev.seq);
        let failed: Vec<String> = store
            .events(Some(&m.id))
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|e| match e.event {
                Event::WebhookFailed(f) if f.event == id => Some(format!("{}: {}", f.url, f.error)),
                _ => None,
            })
            .collect();
        let delivered = interested.saturating_sub(failed.len());
        if delivered > 0 {
            via.push(format!("{delivered} webhook(s)"));
        }
        problems.extend(failed.into_iter().map(|f| format!("webhook {f}")));
    } else if !ws.config.webhooks.is_empty() {
        problems.push(
            "no [[webhooks]] receiver takes oncall.notified (their `events` leave it out)".into(),
        );
    }
    if via.is_empty() {
        if problems.is_empty() {
            problems.push(format!(
                "{} cannot be notified: neither [[webhooks]] nor oncall.notify_command is configured",
                cfg.team
            ));
        }
        return Err(problems.join("; "));
    }
    let via = via.join(" and ");
    let notified = Event::OncallNotified(OncallNotified {
        team: cfg.team.clone(),
        via: via.clone(),
        message,
        problems,
    });
    store
        .append(&m.id, &notified, now)
        .map_err(|e| e.to_string())?;
    Ok((now, via))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Records an acknowledgement by `by`; the release must have been notified first.
pub fn oncall_ack(ws: &Workspace, release: &str, by: &str, now: DateTime<Utc>) -> Result<String> {
    let r = ws.resolve(release)?;
    let id = r.contract.meta.id.clone();
    let by = by.trim();
    if by.is_empty() || by.chars().any(char::is_control) {
        return Err(Error::Usage(
            "--as needs the name of the person acknowledging".into(),
        ));
    }
    let mut store = crate::open_store(ws)?;
    let events = store.events(Some(&id)).map_err(store_err)?;
    // Only a notification of this contract counts, not one of a contract withdrawn under the
    // same id.
    if latest(&events, |e| {
        matches!(e, Event::OncallNotified(_)).then_some(())
    })
    .is_none()
    {
        return Err(Error::Refused(format!(
            "{id}: the on-call team has not been notified yet — `ship check {id}` sends the notification"
        )));
    }
    let acked = Event::OncallAcked(OncallAcked { by: by.to_string() });
    store.append(&id, &acked, now).map_err(store_err)?;
    Ok(id)
}

/// Every gate for `release`, with `overrides` applied; recorded in the event log (as
/// `gates-checked`, plus one `gate-overridden` per waiver) and in the contract.
pub async fn check(
    ws: &Workspace,
    release: &str,
    overrides: &[Override],
    now: DateTime<Utc>,
) -> Result<(Report, Vec<String>)> {
    let r = ws.resolve(release)?;
    let m = &r.contract.meta;
    let id = m.id.clone();
    let mut store = crate::open_store(ws)?;
    // Once the rollout started, the contract keeps the gates it started under: a later check
    // is a report only (nothing recorded, nobody notified).
    let started = store.rollout(&id).map_err(store_err)?.is_some();
    let mut gates_out = Vec::new();

    let changes: Vec<gates::ChangeEvidence> = m
        .changes
        .iter()
        .map(|c| gates::ChangeEvidence {
            id: c.id.clone(),
            verdict_file: c.verdict_file.clone(),
            problem: ws.verdict_problem(c),
        })
        .collect();
    gates_out.push(gates::quality(&id, &changes));

    let v = ws.verify(&id, now)?;
    gates_out.push(gates::approval(&id, v.ok(), &v.message));

    let events = store.events(Some(&id)).map_err(store_err)?;
    let staging = (ws.config.staging.router == shiploop_config::StagingRouter::None)
        .then_some("no staging target is configured (staging.router = \"none\")");
    let rehearsal = latest(&events, |e| match e {
        Event::Rehearsal(r) => Some(r.rehearsal.clone()),
        _ => None,
    })
    .map(|(_, r)| r);
    gates_out.push(gates::rehearsal(
        &id,
        staging,
        rehearsal.as_ref(),
        ws.config.staging.max_age.0,
        now,
    ));

    gates_out.push(flags_gate(ws, &r, &events, now));
    gates_out.push(migrations_gate(ws, &r));
    gates_out.push(monitoring_gate(ws, &r).await);

    let mut oncall = gates::Oncall {
        team: ws.config.oncall.team.clone(),
        ..Default::default()
    };
    oncall.notified = latest(&events, |e| match e {
        Event::OncallNotified(n) => Some(n.via.clone()),
        _ => None,
    });
    if oncall.notified.is_none() && !started {
        match notify_oncall(ws, &r, &mut *store, now).await {
            Ok(n) => oncall.notified = Some(n),
            Err(e) => oncall.notify_error = Some(e),
        }
    }
    let events = store.events(Some(&id)).map_err(store_err)?;
    oncall.acked = latest(&events, |e| match e {
        Event::OncallAcked(a) => Some(a.by.clone()),
        _ => None,
    })
    .map(|(at, by)| (by, at));
    gates_out.push(gates::oncall(&id, &oncall, now));

    let mut report = Report {
        release: id.clone(),
        checked_at: now,
        hotfix: m.kind == shiploop_artifacts::release::Kind::Hotfix,
        gates: gates_out,
    };
    let mut notes = report
        .apply_overrides(overrides)
        .map_err(|e| Error::Refused(e.to_string()))?;
    if started {
        notes.push(format!(
            "{id} has already started: this is a report only; the contract keeps the gates it started under"
        ));
        return Ok((report, notes));
    }
    for g in &report.gates {
        if let Some(o) = &g.overridden {
            let overridden = Event::GateOverridden(GateOverridden {
                gate: o.gate,
                by: o.by.clone(),
                reason: o.reason.clone(),
                evidence: g.evidence.clone(),
            });
            store.append(&id, &overridden, now).map_err(store_err)?;
        }
    }
    let checked = Event::GatesChecked(report.clone());
    store.append(&id, &checked, now).map_err(store_err)?;
    let record = ChecksRecord {
        checked_at: now,
        passed: report.passed(),
        gates: report
            .gates
            .iter()
            .map(|g| CheckLine {
                gate: g.gate.id().to_string(),
                status: g.status.as_str().to_string(),
                evidence: g.summary(),
                overridden_by: g.overridden.as_ref().map(|o| o.by.clone()),
                override_reason: g.overridden.as_ref().map(|o| o.reason.clone()),
            })
            .collect(),
    };
    // The event log has the answer; a contract that cannot be written (edited by hand) is
    // reported, not fatal to the check.
    if let Err(e) = ws.record_checks(&id, record) {
        let failed = Event::ContractUpdateFailed(Failure {
            error: e.to_string(),
        });
        let _ = store.append(&id, &failed, now);
    }
    Ok((report, notes))
}

/// Which gates a failing report names, for messages: "approval, monitoring".
pub fn failing_names(report: &Report) -> String {
    report
        .failing()
        .iter()
        .map(Gate::id)
        .collect::<Vec<_>>()
        .join(", ")
}
