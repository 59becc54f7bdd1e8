//! `ship validate`: post-deployment validation (the Ship loop's Step 4). For the validation window
//! the new version, now serving everything, is measured and smoke-tested each tick; the gates
//! crate's validator decides. Failure rolls back (or, with on_failure = "manual", leaves it to a
//! person) and writes an incident signal; success moves the release to shipped, the evidence the
//! handoff to Operate relies on.

use crate::{Clock, Controller, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_artifacts::release::{CheckLine, Status, Trigger, ValidationRecord};
use shiploop_artifacts::signal::{Severity, Signal, SignalMeta, SignalStatus, SignalType, Source};
use shiploop_artifacts::Dur;
use shiploop_gates::validation::{ItemResult, Limits, ResourceCheck, SmokeOutcome, Validator};
use shiploop_providers::smoke::{SmokeKind, SmokeTest};
use shiploop_providers::MetricContext;
use shiploop_rollout::{Input, Phase};
use shiploop_store::event::{
    Event, SignalWritten, ValidationEnded, ValidationRestarted, ValidationStarted,
};
use shiploop_workspace::Error;
use std::time::Duration;

/// What `ship validate` found in the post-deployment validation window.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// The release validated.
    pub release: String,
    /// passed, failed, or interrupted (the window goes on at the next `ship validate`).
    pub result: String,
    /// How long the validation window lasts.
    pub window: Dur,
    /// When the window started.
    pub started_at: DateTime<Utc>,
    /// When it ended; None while it goes on.
    pub ended_at: Option<DateTime<Utc>>,
    /// Each validation item's result.
    pub items: Vec<ItemResult>,
    /// Why the validation failed; None when it passed or goes on.
    pub reason: Option<String>,
    /// True when the release ended rolled back.
    pub rolled_back: bool,
    /// The incident signal a failed validation wrote, relative to the workspace.
    pub signal: Option<String>,
}

fn lines(items: &[ItemResult]) -> Vec<CheckLine> {
    items
        .iter()
        .map(|i| CheckLine {
            gate: i.item.id().to_string(),
            status: i.status.as_str().to_string(),
            evidence: i.evidence.clone(),
            overridden_by: None,
            override_reason: None,
        })
        .collect()
}

impl Controller<'_> {
    /// The validation settings the release was approved with.
    fn approved(&self) -> shiploop_artifacts::criteria::Criteria {
        crate::criteria_for(self.ws, &self.release)
    }

    fn validation_window(&self) -> Dur {
        self.approved().validation.window
    }

    fn rolls_back_on_failure(&self) -> bool {
        self.approved().validation.on_failure == shiploop_artifacts::criteria::OnFailure::Rollback
    }

    fn smoke_tests(&self) -> Vec<SmokeTest> {
        let cfg = &self.ws.config;
        let base = if cfg.validation.base_url.trim().is_empty() {
            format!("http://{}", cfg.proxy.listen)
        } else {
            cfg.validation
                .base_url
                .trim()
                .trim_end_matches('/')
                .to_string()
        };
        cfg.smoke
            .iter()
            .map(|s| {
                let kind = if !s.command.trim().is_empty() {
                    SmokeKind::Command(s.command.clone())
                } else {
                    let url = if s.path.starts_with("http://") || s.path.starts_with("https://") {
                        s.path.clone()
                    } else {
                        format!("{base}/{}", s.path.trim_start_matches('/'))
                    };
                    SmokeKind::Http {
                        method: s.method.as_str().to_string(),
                        url,
                        headers: s.headers.clone(),
                        body: s.body.clone(),
                        status: s.status,
                        body_contains: s.body_contains.clone(),
                        json: s.json_equals.clone().map(|v| (s.json_pointer.clone(), v)),
                        max_latency: s.max_latency.map(|d| d.0),
                    }
                };
                SmokeTest {
                    name: s.name.clone(),
                    kind,
                    timeout: s.timeout.0,
                    user_facing: s.user_facing(),
                }
            })
            .collect()
    }

    /// The limits of the window, all from what was approved: the error-rate margin and p99
    /// target from the contract's triggers, counts and limits from its decision settings.
    fn limits(&self) -> Limits {
        let cfg = &self.ws.config;
        let approved = self.approved();
        let plan = &self.plan;
        let increase_pp = plan
            .triggers
            .iter()
            .find_map(|t| match t {
                Trigger::ErrorRate { max_increase_pp } => Some(*max_increase_pp),
                _ => None,
            })
            .unwrap_or(cfg.rollback.max_error_rate_increase);
        let (base, basis) = match self.state.stable_baseline {
            Some(b) => (b, format!("stable baseline {:.2} %", b * 100.0)),
            None => (0.0, "no stable baseline was measured, so 0 %".to_string()),
        };
        Limits {
            max_error_rate: base + increase_pp / 100.0,
            error_rate_basis: format!("{basis} + the approved error-rate margin {increase_pp} pp"),
            p99_target_secs: plan
                .latency_target
                .unwrap_or(cfg.latency.p99_target.0)
                .as_secs_f64(),
            min_samples: plan.settings.min_samples,
            failure_limit: plan.settings.failure_limit,
            error_limit: plan.settings.error_limit,
            alerts: cfg.alerts.kind == shiploop_config::AlertsKind::Alertmanager,
            resources: approved
                .validation
                .resource_checks
                .iter()
                .filter_map(|name| {
                    let def = plan.checks.get(name)?;
                    Some(ResourceCheck {
                        name: name.clone(),
                        key: shiploop_rollout::measure::check_metric(&def.metric),
                        condition: def.condition,
                        min_samples: def.min_samples,
                    })
                })
                .collect(),
        }
    }

    /// When an unfinished window started, if one did (it was interrupted).
    fn open_window(&self) -> Result<Option<DateTime<Utc>>> {
        let events = self.store.events(Some(self.id())).map_err(Error::from)?;
        let last = events.iter().rev().find(|e| {
            matches!(
                e.event,
                Event::ValidationStarted(_)
                    | Event::ValidationPassed(_)
                    | Event::ValidationFailed(_)
            )
        });
        Ok(last
            .filter(|e| matches!(e.event, Event::ValidationStarted(_)))
            .map(|e| e.at))
    }

    /// The recorded validation, when it already ended.
    pub fn recorded_validation(&self) -> Option<ValidationRecord> {
        let v = self.ws.resolve(self.id()).ok()?.contract.meta.validation?;
        (v.result != "running").then_some(v)
    }

    /// Runs (or continues) the validation window to its end, a failure, or `stop`.
    pub async fn validate(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&str),
    ) -> Result<ValidationReport> {
        let id = self.id().to_string();
        if self.state.phase != Phase::Completed {
            return Err(Error::Refused(format!(
                "{id} is {}: post-deployment validation follows a rollout that reached 100 % (`ship rollout start {id}`)",
                self.state.phase.name()
            )));
        }
        let now = clock.now();
        self.acquire(now)?;
        // Boxed: a server's rollout task holds room for this future while it drives the
        // rollout before it (see `Controller::drive`); on the heap it costs only while it runs.
        let result = Box::pin(self.validate_held(clock, stop, log)).await;
        self.release_lease();
        result
    }

    async fn validate_held(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&str),
    ) -> Result<ValidationReport> {
        let id = self.id().to_string();
        let window = self.validation_window();
        let now = clock.now();
        // Parsing bounds every duration (10y at most), so this cannot fail for a configured
        // window; were it to, refusing beats a zero-length window that skips validation.
        let end = chrono::Duration::from_std(window.0)
            .ok()
            .and_then(|w| now.checked_add_signed(w))
            .ok_or_else(|| Error::Usage(format!("validation window {window} is too long")))?;
        // Every run watches a whole window: time nobody watched (an interrupted run, a
        // restart later) never counts as validation.
        if self.open_window()?.is_some() {
            let restarted = Event::ValidationRestarted(ValidationRestarted {
                why: "the previous window was interrupted; a whole new window starts".into(),
            });
            let _ = self.log_event(&restarted, now);
        }
        let started = Event::ValidationStarted(ValidationStarted { window });
        self.log_event(&started, now)?;
        let started_at = now;
        let smoke = self.smoke_tests();
        let user_facing = smoke.iter().filter(|s| s.user_facing).count();
        let mut v = Validator::new(self.limits(), smoke.len(), user_facing);
        let running = ValidationRecord {
            result: "running".into(),
            started_at,
            ended_at: None,
            window,
            items: vec![],
        };
        self.ws.record_validation(&id, None, running, now)?;
        self.anchor(now);
        let tick = self.ws.config.tick_interval();
        let mut stop = stop.clone();
        let mut failure = None;
        let mut last_log: Option<(DateTime<Utc>, Vec<String>)> = None;
        loop {
            let now = clock.now();
            // Operator commands queued for this rollout (an abort during validation) first.
            self.tick(now, &mut |_| {}).await?;
            if self.state.phase != Phase::Completed {
                failure = Some(format!(
                    "the rollout left 100 % during validation ({})",
                    self.state.phase.name()
                ));
                break;
            }
            let keys = v.keys();
            let ctx = MetricContext {
                service: self.release.contract.meta.service.clone(),
                release: id.clone(),
                stage: "validation".into(),
                weight: 100,
                window_secs: self.ws.config.metrics.window.0.as_secs().max(1),
                since_secs: self.ws.config.metrics.window.0.as_secs().max(1),
                stage_started: None,
                slow_secs: None,
                target_secs: None,
            };
            let obs = self.providers.metrics.measure(&keys, &ctx).await;
            if obs
                .values()
                .any(|m| matches!(m, shiploop_rollout::Measurement::Error { .. }))
            {
                self.provider_error("metrics");
            }
            let mut local = obs.values().any(|m| m.is_local());
            let mut outcomes = Vec::new();
            for s in &smoke {
                let r = s.run(&self.ws.root).await;
                local |= r.local;
                outcomes.push(SmokeOutcome {
                    name: r.name,
                    ok: r.ok,
                    user_facing: r.user_facing,
                    detail: r.detail,
                });
            }
            // The controller's own trouble (out of file descriptors, a shell that could not
            // start) says nothing about the release: this tick is not observed.
            let failed = if local {
                self.provider_error("controller");
                None
            } else {
                v.observe(&obs, &outcomes)
            };
            let left = (end - now).num_seconds().max(0);
            let bad: Vec<String> = v
                .items(false)
                .iter()
                .filter(|i| i.status == shiploop_gates::Status::Fail)
                .map(|i| i.item.id().to_string())
                .collect();
            // A line when what fails changes, and otherwise every few seconds.
            let due = last_log
                .as_ref()
                .is_none_or(|(at, b)| *b != bad || (now - *at).num_seconds() >= 5);
            if due {
                let failing = if bad.is_empty() {
                    "every item passing so far".to_string()
                } else {
                    format!("failing: {}", bad.join(", "))
                };
                log(&format!("validating: {left} s left, {failing}"));
                last_log = Some((now, bad.clone()));
            }
            if let Some((item, why)) = failed {
                failure = Some(format!("{}: {why}", item.text()));
                break;
            }
            if now >= end {
                break;
            }
            let wait = tick.min(
                (end - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(10)),
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(ValidationReport {
                    release: id,
                    result: "interrupted".into(),
                    window,
                    started_at,
                    ended_at: None,
                    items: v.items(false),
                    reason: None,
                    rolled_back: false,
                    signal: None,
                });
            }
        }
        let now = clock.now();
        if failure.is_none() {
            // An abort queued during the last tick is applied before the result is decided.
            self.tick(now, &mut |_| {}).await?;
            if self.state.phase != Phase::Completed {
                failure = Some(format!(
                    "the rollout left 100 % during validation ({})",
                    self.state.phase.name()
                ));
            }
        }
        let items = v.items(true);
        if failure.is_none() {
            if let Some(i) = items
                .iter()
                .find(|i| i.status == shiploop_gates::Status::Fail)
            {
                failure = Some(format!("{}: {}", i.text, i.evidence));
            }
        }
        let mut report = ValidationReport {
            release: id.clone(),
            result: if failure.is_some() {
                "failed"
            } else {
                "passed"
            }
            .into(),
            window,
            started_at,
            ended_at: Some(now),
            items: items.clone(),
            reason: failure.clone(),
            rolled_back: false,
            signal: None,
        };
        let ended = ValidationEnded {
            items: items.clone(),
            reason: failure.clone(),
            window,
        };
        let ended = if failure.is_some() {
            Event::ValidationFailed(ended)
        } else {
            Event::ValidationPassed(ended)
        };
        self.log_event(&ended, now)?;
        let record = ValidationRecord {
            result: report.result.clone(),
            started_at,
            ended_at: Some(now),
            window,
            items: lines(&items),
        };
        let Some(reason) = failure else {
            self.ws
                .record_validation(&id, Some(Status::Shipped), record, now)?;
            // A hotfix's post-incident signal is due now that its validation passed.
            self.finish(now)?;
            return Ok(report);
        };
        if self.state.phase != Phase::Completed {
            // A person rolled it back during the window: that rollback is the incident (its
            // own signal, from `finish`); the validation only records that it did not pass.
            self.ws.record_validation(&id, None, record, now)?;
            report.rolled_back = self.settled(clock).await?;
            return Ok(report);
        }
        // The incident signal first: it carries the evidence, and a rollback that follows
        // is the same incident (the rollback writes no second signal for it).
        let signal = self.validation_signal(&reason, &items, now);
        let (path, new) = self.ws.write_signal(&signal)?;
        report.signal = Some(self.ws.rel(&path));
        if new {
            let written = Event::SignalWritten(SignalWritten {
                file: Some(self.ws.rel(&path)),
                error: None,
                event: signal.meta.event.clone(),
            });
            let _ = self.log_event(&written, now);
        }
        self.ws.record_validation(&id, None, record, now)?;
        self.anchor(now);
        if self.rolls_back_on_failure() && self.state.phase == Phase::Completed {
            self.apply(Input::ValidationFailed { reason }, now, None, &mut |_| {})
                .await?;
            report.rolled_back = self.settled(clock).await?;
        }
        Ok(report)
    }

    /// Gets the rollback to stick, then writes what a finished rollout owes (once: a rollout
    /// that settled to an end has already been finished); true when it rolled back.
    async fn settled(&mut self, clock: &mut dyn Clock) -> Result<bool> {
        self.settle_rollback(clock).await?;
        let rolled_back = matches!(self.state.phase, Phase::RolledBack { .. });
        if !self.state.phase.is_terminal() {
            self.finish(clock.now())?;
        }
        Ok(rolled_back)
    }

    fn validation_signal(&self, reason: &str, items: &[ItemResult], now: DateTime<Utc>) -> Signal {
        let m = &self.release.contract.meta;
        let manual = !self.rolls_back_on_failure();
        let mut body = format!(
            "# Incident: {} failed post-deployment validation\n\n**Why:** {reason}\n\n**What happens now:** {}\n\n| item | result | evidence |\n|---|---|---|\n",
            m.id,
            if manual {
                format!("validation.on_failure = \"manual\": the new version still serves all traffic. Roll back with `ship rollout abort {} --reason \"…\"`.", m.id)
            } else {
                "all traffic is sent back to the stable version (validation.on_failure = \"rollback\").".to_string()
            }
        );
        for i in items {
            body.push_str(&format!(
                "| {} | {} | {} |\n",
                shiploop_artifacts::markdown::cell(&i.text),
                i.status.as_str(),
                shiploop_artifacts::markdown::cell(&i.evidence)
            ));
        }
        body.push_str(&format!(
            "\nContract: [{}](../releases/{}.md). Events: `ship audit log --release {}`.\n",
            m.id, m.id, m.id
        ));
        Signal {
            meta: SignalMeta {
                title: format!("Validation failed for {}", m.id),
                kind: SignalType::Incident,
                severity: Severity::High,
                source: Source {
                    release: Some(m.id.clone()),
                    mission: m.mission.clone(),
                },
                created: now,
                status: SignalStatus::Open,
                event: Some(format!("validation:{}", m.id)),
            },
            body,
        }
    }
}
