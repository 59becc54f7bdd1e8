//! Drives a rollout: measures, lets the state machine decide, records the decision, then
//! carries out its effects on the router — in that order, so that after a crash the recorded
//! state says what the router should have, and resuming re-asserts it.
//!
//! Only the holder of a rollout's lease drives it; operator commands from other processes are
//! queued in the store and applied at the holder's next tick.

pub mod audit;
pub mod binding;
mod build;
pub mod check;
pub mod handoff;
pub mod notify;
pub mod operate;
pub mod outcome;
mod outcome_sources;
pub mod rehearse;
pub mod serve;
mod signals;
pub mod validate;

pub use build::{
    criteria_drift, criteria_for, plan_for, plan_from_config, providers_for, Providers,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use shiploop_artifacts::release::{Kind, RolloutLogEntry, RolloutRecord, Status};
use shiploop_providers::{MetricContext, RouteContext};
use shiploop_rollout::machine::Step;
use shiploop_rollout::{Decision, DecisionKind, Effect, Input, Measurement, Phase, Plan, Rollout};
use shiploop_store::Store;
use shiploop_workspace::{Error, LoadedRelease, Workspace};
use std::time::Duration;

pub type Result<T> = std::result::Result<T, Error>;

fn store_err(e: shiploop_store::StoreError) -> Error {
    Error::Usage(e.to_string())
}

/// How a foreground run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Completed,
    RolledBack {
        reason: String,
    },
    Failed {
        reason: String,
    },
    /// Stopped on request (SIGINT/SIGTERM) with the rollout still in flight.
    Interrupted,
}

/// Where time comes from: the real clock in production, a scripted one in tests.
pub trait Clock: Send {
    fn now(&mut self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// When things happen within one tick: the tick's `now` (from the `Clock`, scripted in tests)
/// plus the monotonic time since the tick began — so the log shows how long a router call
/// took, and a scripted clock still decides every instant that the state machine sees.
#[derive(Debug, Clone, Copy)]
struct Moment {
    began: DateTime<Utc>,
    since: std::time::Instant,
}

impl Moment {
    fn new(now: DateTime<Utc>) -> Moment {
        Moment {
            began: now,
            since: std::time::Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.began + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

pub struct Controller<'a> {
    ws: &'a Workspace,
    store: Store,
    providers: Providers,
    pub release: LoadedRelease,
    pub plan: Plan,
    pub state: Rollout,
    holder: String,
    /// Set when a router call failed: the next tick re-asserts the recorded weight first.
    router_dirty: bool,
    router_failures: u32,
    /// Told about ticks, decisions and provider errors (`ship serve`'s /metrics).
    pub telemetry: Option<std::sync::Arc<dyn Telemetry>>,
}

/// What a controller reports about its own work to whoever runs it: every decision (including
/// those of the validation window and of the router's answers, whatever the caller logs), how
/// long each tick took, and each failed provider call.
pub trait Telemetry: Send + Sync {
    fn tick(&self, took: Duration);
    fn decision(&self, release: &str, d: &Decision);
    /// `provider` is `router`, `metrics` or `integrity`.
    fn provider_error(&self, provider: &'static str);
}

impl<'a> Controller<'a> {
    /// The webhook notifier for this rollout (None without `[[webhooks]]`).
    pub fn notifier(&self) -> Result<Option<notify::Notifier>> {
        let cfg = &self.ws.config;
        if cfg.webhooks.is_empty() {
            return Ok(None);
        }
        notify::Notifier::new(
            self.ws.state_db(),
            &self.release.contract.meta.id,
            &cfg.service.name,
            &cfg.webhooks,
        )
        .map(Some)
        .map_err(|e| Error::Usage(format!("ship.toml: {e}")))
    }

    /// Opens the rollout of `release`, creating it if it has none. A new rollout requires the
    /// contract to verify as approved.
    pub fn open(ws: &'a Workspace, release: &str, now: DateTime<Utc>) -> Result<Controller<'a>> {
        let providers = providers_for(ws)?;
        Self::open_with(ws, release, now, providers)
    }

    /// Like `open`, with the given providers instead of those ship.toml configures.
    pub fn open_with(
        ws: &'a Workspace,
        release: &str,
        now: DateTime<Utc>,
        providers: Providers,
    ) -> Result<Controller<'a>> {
        let loaded = ws.resolve(release)?;
        let id = loaded.contract.meta.id.clone();
        let store = Store::open(&ws.state_db()).map_err(store_err)?;
        let existing = store.rollout(&id).map_err(store_err)?;
        let (plan, state) = match existing {
            Some(row) => {
                let plan: Plan = serde_json::from_value(row.plan["plan"].clone()).map_err(|e| {
                    Error::Usage(format!(
                        "state database: the plan of {id} is unreadable: {e}"
                    ))
                })?;
                let state: Rollout = serde_json::from_value(row.state).map_err(|e| {
                    Error::Usage(format!(
                        "state database: the state of {id} is unreadable: {e}"
                    ))
                })?;
                if state.stage >= plan.stages.len() {
                    return Err(Error::Usage(format!(
                        "state database: the state of {id} is unreadable: stage {} of a {}-stage plan",
                        state.stage,
                        plan.stages.len()
                    )));
                }
                (plan, state)
            }
            None => {
                let v = ws.verify(&id, now)?;
                if !v.ok() {
                    return Err(Error::Refused(format!("{id} may not start: {}", v.message)));
                }
                (plan_for(ws, &loaded)?, Rollout::new())
            }
        };
        Ok(Controller {
            ws,
            store,
            providers,
            release: loaded,
            plan,
            state,
            holder: format!("{}:{}", hostname(), std::process::id()),
            router_dirty: false,
            router_failures: 0,
            telemetry: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.release.contract.meta.id
    }

    fn route_ctx(&self) -> RouteContext {
        RouteContext {
            service: self.release.contract.meta.service.clone(),
            release: self.id().to_string(),
            stage: self.stage_name(),
        }
    }

    fn stage_name(&self) -> String {
        self.plan
            .stages
            .get(self.state.stage)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// Long enough to outlast one whole tick — the sleep, the metric command, every integrity
    /// check and smoke test, and two router calls at their timeouts — so a slow tick never lets a second
    /// controller in while this one still acts.
    fn lease_ttl(&self) -> Duration {
        let c = &self.ws.config;
        // Saturating: parsing bounds each duration (10y), so these never reach the limit.
        let integrity = c.integrity.values().map(|i| i.timeout.0);
        let integrity = integrity.fold(Duration::ZERO, Duration::saturating_add);
        // A validation tick runs every smoke test too.
        let smoke = c.smoke.iter().map(|t| t.timeout.0);
        let smoke = smoke.fold(Duration::ZERO, Duration::saturating_add);
        let tick = c
            .tick_interval()
            .saturating_add(c.metrics.command.timeout.0)
            .saturating_add(integrity)
            .saturating_add(smoke)
            .saturating_add(c.router.command.timeout.0.saturating_mul(2));
        tick.saturating_mul(2).max(Duration::from_secs(30))
    }

    /// Refuses to drive a recorded rollout whose plan is not provably its approved contract's
    /// (see `binding`): checked each time a controller takes a rollout on.
    pub fn check_binding(&self) -> Result<()> {
        let id = self.id();
        let Some(row) = self.store.rollout(id).map_err(store_err)? else {
            return Ok(());
        };
        let created = self
            .store
            .first_event(id, "rollout-created")
            .map_err(store_err)?
            .map(|e| e.data["plan"].clone());
        let mut problems = binding::plan_problems(
            self.ws,
            &self.release,
            &row.plan,
            created.as_ref(),
            row.created_at,
        );
        problems.extend(self.store.state_problem(id).map_err(store_err)?);
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "{id} will not be driven: its recorded plan is not provably the approved contract's: {}",
            problems.join("; ")
        )))
    }

    /// Takes the lease, or says who holds it.
    pub fn acquire(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.check_binding()?;
        // A lease left by a dead process on this machine (killed, crashed) is taken over at
        // once instead of waiting for it to expire.
        let id = self.id().to_string();
        let ttl = self.lease_ttl();
        if self
            .store
            .acquire_lease(&id, &self.holder, ttl, now)
            .map_err(store_err)?
        {
            return self.reload();
        }
        let who = self
            .store
            .lease_holder(&id, now)
            .map_err(store_err)?
            .unwrap_or_default();
        if holder_is_dead(&who)
            && self
                .store
                .take_over_lease(&id, &who, &self.holder, ttl, now)
                .map_err(store_err)?
        {
            let data = json!({ "from": who, "to": self.holder });
            let _ = self.store.append_event(&id, "lease-taken-over", &data, now);
            return self.reload();
        }
        Err(Error::Held {
            release: id,
            holder: who,
        })
    }

    /// Re-reads the recorded state: what this process read before taking the lease may have
    /// been changed by the previous holder since.
    fn reload(&mut self) -> Result<()> {
        let id = self.id().to_string();
        if let Some(row) = self.store.rollout(&id).map_err(store_err)? {
            self.state = serde_json::from_value(row.state).map_err(|e| {
                Error::Usage(format!(
                    "state database: the state of {id} is unreadable: {e}"
                ))
            })?;
        }
        Ok(())
    }

    pub fn release_lease(&mut self) {
        let id = self.id().to_string();
        let _ = self.store.release_lease(&id, &self.holder);
    }

    /// Whether another live process holds the lease.
    pub fn driven_elsewhere(&self, now: DateTime<Utc>) -> Result<Option<String>> {
        let h = self.store.lease_holder(self.id(), now).map_err(store_err)?;
        Ok(h.filter(|h| *h != self.holder && !holder_is_dead(h)))
    }

    /// Queues an operator's command (from the command line) for the controller holding the
    /// lease; the event log says it came from this user on this host.
    pub fn queue(&mut self, input: &Input, now: DateTime<Utc>) -> Result<()> {
        let id = self.id().to_string();
        let user = std::env::var("USER").unwrap_or_else(|_| "?".into());
        let by = format!("cli {user}@{}", hostname());
        let value = serde_json::to_value(input).unwrap_or_default();
        self.store
            .push_command(&id, &value, &by, now)
            .map_err(store_err)?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The plan as recorded, with the digest of the approved contract it was built from.
    fn plan_json(&self) -> serde_json::Value {
        let m = &self.release.contract.meta;
        json!({ "plan": self.plan, "kind": m.kind, "digest": m.digest })
    }

    /// Records the event log's head in the contract (outside the database, in git with it);
    /// a contract that cannot be written is recorded, never a reason to stop.
    pub fn anchor(&mut self, now: DateTime<Utc>) {
        let id = self.id().to_string();
        anchor(self.ws, &mut self.store, &id, now);
    }

    /// Records a new rollout without starting it (`ship rollout start --detach`): the
    /// `ship serve` that picks it up starts it. False when the rollout already exists.
    pub fn submit(&mut self, now: DateTime<Utc>) -> Result<bool> {
        let id = self.id().to_string();
        if self.store.rollout(&id).map_err(store_err)?.is_some() {
            return Ok(false);
        }
        let kind = match self.release.contract.meta.kind {
            Kind::Standard => "standard",
            Kind::Hotfix => "hotfix",
        };
        self.store
            .create_rollout(
                &id,
                kind,
                &self.plan_json(),
                &serde_json::to_value(&self.state).unwrap_or_default(),
                now,
            )
            .map_err(store_err)?;
        self.anchor(now);
        Ok(true)
    }

    /// What ship.toml now says that differs from the settings this release was approved with:
    /// the approved ones decide; this is only reported.
    pub fn drift(&self) -> Vec<String> {
        build::criteria_drift(self.ws, &self.release)
    }

    /// Records (once per controller run) that ship.toml changed after approval.
    fn report_drift(&mut self, now: DateTime<Utc>) {
        let drift = self.drift();
        if drift.is_empty() {
            return;
        }
        let id = self.id().to_string();
        let data = json!({
            "message": "ship.toml changed after approval; the approved settings decide",
            "differences": drift,
        });
        let _ = self.store.append_event(&id, "settings-drift", &data, now);
    }

    /// Starts the rollout if it is new; otherwise re-asserts what the router should have.
    pub async fn begin(
        &mut self,
        now: DateTime<Utc>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        self.report_drift(now);
        let m = Moment::new(now);
        if self.submit(now)? {
            self.apply_command(Input::Start, None, now, m, None, log)
                .await?;
            self.first_reading(m.now(), log).await?;
            return Ok(());
        }
        if self.state.phase == Phase::Pending {
            // Recorded but never started (a crash between the two): start now.
            self.apply_command(Input::Start, None, now, m, None, log)
                .await?;
            self.first_reading(m.now(), log).await?;
            return Ok(());
        }
        if self.state.phase.is_terminal() {
            return Ok(());
        }
        // Resuming: nobody watched since the last recorded tick, and the previous process may
        // have died between a router call and its confirmation — record what the router does.
        self.state.lost_sight();
        let found = self.found(m).await;
        match self.state.phase {
            Phase::Completing => {
                self.reassert_from(found, m).await;
                self.execute(vec![Effect::Complete], m, log).await?;
            }
            Phase::RollingBack { .. } => {
                self.execute(vec![Effect::RollBack], m, log).await?;
            }
            _ => self.reassert_from(found, m).await,
        }
        Ok(())
    }

    /// A source with running counters (ship's proxy) is read once as the rollout starts, so the
    /// judge's first interval begins with the canary's first request, not a tick later.
    async fn first_reading(
        &mut self,
        now: DateTime<Utc>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        if self.plan.settings.judge.origin == shiploop_judge::Origin::Counter
            && self.state.phase == Phase::Progressing
        {
            self.tick(now, log).await?;
        }
        Ok(())
    }

    fn provider_error(&self, provider: &'static str) {
        if let Some(t) = &self.telemetry {
            t.provider_error(provider);
        }
    }

    /// After a router failure or a restart: make the router carry the recorded weight
    /// (idempotent).
    async fn reassert(&mut self, m: Moment) {
        let have = self
            .providers
            .router
            .effective_weight(&self.route_ctx())
            .await;
        self.reassert_from(have, m).await;
    }

    /// `reassert`, given what the router was found to carry.
    async fn reassert_from(&mut self, have: Found, m: Moment) {
        let want = self.state.weight;
        if let Ok(Some(w)) = have {
            if w == want {
                self.router_dirty = false;
                self.router_failures = 0;
                return;
            }
        }
        self.router_intent("reassert-weight", want, m.now());
        let ctx = self.route_ctx();
        let result = self.providers.router.set_weight(&ctx, want).await;
        self.router_event("reassert-weight", want, &result.map(|o| o.detail), m.now());
    }

    /// On resume: what the router carries now, recorded as a `found` router event (the weight,
    /// or null when the router cannot tell) next to the weight the recorded state expects.
    async fn found(&mut self, m: Moment) -> Found {
        let have = self
            .providers
            .router
            .effective_weight(&self.route_ctx())
            .await;
        let recorded = self.state.weight;
        let data = match &have {
            Ok(w) => {
                json!({ "phase": "found", "action": "found", "weight": w, "recorded": recorded, "ok": true })
            }
            Err(e) => {
                json!({ "phase": "found", "action": "found", "weight": null, "recorded": recorded, "ok": false, "error": e.to_string() })
            }
        };
        let id = self.id().to_string();
        let _ = self.store.append_event(&id, "router", &data, m.now());
        have
    }

    /// Recorded before a router call that moves traffic, so a crash during the call (or
    /// before its confirmation is written) still leaves the change in the log.
    fn router_intent(&mut self, action: &str, weight: u8, at: DateTime<Utc>) {
        let data = json!({ "phase": "intent", "action": action, "weight": weight });
        let id = self.id().to_string();
        let _ = self.store.append_event(&id, "router", &data, at);
    }

    /// The confirmation of a router call (`phase: done`): what the router answered.
    fn router_event(
        &mut self,
        action: &str,
        weight: u8,
        result: &std::result::Result<String, shiploop_providers::ProviderError>,
        at: DateTime<Utc>,
    ) {
        let data = match result {
            Ok(detail) => {
                json!({ "phase": "done", "action": action, "weight": weight, "ok": true, "detail": detail })
            }
            Err(e) => {
                json!({ "phase": "done", "action": action, "weight": weight, "ok": false, "error": e.to_string() })
            }
        };
        self.router_dirty = result.is_err();
        if result.is_err() {
            self.provider_error("router");
            self.router_failures += 1;
        } else {
            self.router_failures = 0;
        }
        let id = self.id().to_string();
        let _ = self.store.append_event(&id, "router", &data, at);
    }

    /// Applies one input: decide, record, then act.
    pub async fn apply(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
        samples: Option<&shiploop_rollout::Observation>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Decision> {
        self.apply_command(input, None, now, Moment::new(now), samples, log)
            .await
    }

    /// Decides at `now`, records (only while holding the lease; taking the queued command
    /// `command` in the same transaction), then acts, recording the router's calls as they
    /// happen within `m`.
    async fn apply_command(
        &mut self,
        input: Input,
        command: Option<i64>,
        now: DateTime<Utc>,
        m: Moment,
        samples: Option<&shiploop_rollout::Observation>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Decision> {
        let before = self.state.clone();
        let Step { effects, decision } = self.state.step(&self.plan, now, input);
        let id = self.id().to_string();
        let recorded = self.store.record_step_as(
            &id,
            Some(&self.holder),
            command,
            &serde_json::to_value(&self.state).unwrap_or_default(),
            &decision,
            samples,
            &[],
        );
        if let Err(e) = recorded {
            // Nothing recorded: nothing may be acted on either.
            self.state = before;
            return Err(store_err(e));
        }
        log(&decision);
        if let Some(t) = &self.telemetry {
            t.decision(&id, &decision);
        }
        if !matches!(decision.kind, DecisionKind::Hold | DecisionKind::Ignored) {
            // A contract that cannot be updated (edited by hand, unreadable) must not stop the
            // rollout: the state database has the decision; record why the contract lacks it.
            if let Err(e) = self.sync_contract(now) {
                let data = json!({ "error": e.to_string() });
                let _ = self
                    .store
                    .append_event(&id, "contract-update-failed", &data, now);
            }
        }
        if decision.pause_cause.as_deref() == Some("inconclusive") {
            self.inconclusive_signal(&decision, now);
        }
        self.execute(effects, m, log).await?;
        Ok(decision)
    }

    /// Writes the signal of a stage the judge could not decide (once per stage); a failure to
    /// write it is recorded, never a reason to stop the rollout.
    fn inconclusive_signal(&mut self, d: &Decision, now: DateTime<Utc>) {
        let id = self.id().to_string();
        let signal = signals::for_inconclusive(&self.release, d, now);
        let data = match self.ws.write_signal(&signal) {
            Ok((path, true)) => json!({ "file": self.ws.rel(&path), "event": signal.meta.event }),
            Ok((_, false)) => return,
            Err(e) => json!({ "error": e.to_string(), "event": signal.meta.event }),
        };
        let _ = self.store.append_event(&id, "signal-written", &data, now);
    }

    /// Carries out effects on the router: each call is recorded as an intent before it and
    /// confirmed after it, at the times they happened; the router's answer to a rollback or a
    /// completion is decided at the time it came.
    async fn execute(
        &mut self,
        effects: Vec<Effect>,
        m: Moment,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        for e in effects {
            let ctx = self.route_ctx();
            match e {
                Effect::SetWeight { weight, .. } => {
                    self.router_intent("set-weight", weight, m.now());
                    let r = self.providers.router.set_weight(&ctx, weight).await;
                    self.router_event("set-weight", weight, &r.map(|o| o.detail), m.now());
                }
                Effect::RollBack => {
                    self.router_intent("roll-back", 0, m.now());
                    let r = self.providers.router.roll_back(&ctx).await;
                    let ok = r.is_ok();
                    let err = r.as_ref().err().map(|e| e.to_string());
                    self.router_event("roll-back", 0, &r.map(|o| o.detail), m.now());
                    let input = if ok {
                        Input::RolledBack
                    } else {
                        Input::RollbackFailed {
                            error: err.unwrap_or_default(),
                        }
                    };
                    Box::pin(self.apply_command(input, None, m.now(), m, None, log)).await?;
                }
                Effect::Complete => {
                    self.router_intent("promote", 100, m.now());
                    let r = self.providers.router.promote(&ctx).await;
                    let err = r.as_ref().err().map(|e| e.to_string());
                    self.router_event("promote", 100, &r.map(|o| o.detail), m.now());
                    let input = match err {
                        None => Input::Promoted,
                        Some(error) => Input::PromoteFailed { error },
                    };
                    Box::pin(self.apply_command(input, None, m.now(), m, None, log)).await?;
                }
            }
        }
        Ok(())
    }

    /// Mirrors the rollout into the contract's records and STATUS.md, rebuilt from the recorded
    /// decisions each time, so it is idempotent and a crash mid-update is repaired next time.
    pub fn sync_contract(&mut self, now: DateTime<Utc>) -> Result<()> {
        let decisions = self.store.decisions(self.id()).map_err(store_err)?;
        let milestones: Vec<&Decision> = decisions
            .iter()
            .map(|d| &d.decision)
            .filter(|d| !matches!(d.kind, DecisionKind::Hold | DecisionKind::Ignored))
            .collect();
        let record = RolloutRecord {
            phase: self.state.phase.name().to_string(),
            stage: self.stage_name(),
            weight: self.state.weight,
            started_at: milestones.first().map(|d| d.at),
            updated_at: milestones.last().map(|d| d.at),
            log: milestones
                .iter()
                .map(|d| RolloutLogEntry {
                    at: d.at,
                    event: serde_json::to_value(d.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    stage: d.stage_name.clone(),
                    weight: d.weight,
                    reason: d.reason.clone(),
                })
                .collect(),
        };
        let status = match &self.state.phase {
            Phase::RolledBack { .. } | Phase::Failed { .. } => Status::RolledBack,
            // Post-deployment validation comes next (a hotfix's window is
            // hotfix.validation_window); only its pass makes the release shipped.
            Phase::Completed => Status::Validating,
            _ => Status::Deploying,
        };
        let id = self.id().to_string();
        self.ws.record_rollout(&id, status, record, now)?;
        self.anchor(now);
        Ok(())
    }

    /// One tick: queued commands, re-assertion if needed, measurement, decision, action.
    pub async fn tick(&mut self, now: DateTime<Utc>, log: &mut dyn FnMut(&Decision)) -> Result<()> {
        let m = Moment::new(now);
        let id = self.id().to_string();
        if !self
            .store
            .acquire_lease(&id, &self.holder, self.lease_ttl(), now)
            .map_err(store_err)?
        {
            let who = self
                .store
                .lease_holder(&id, now)
                .map_err(store_err)?
                .unwrap_or_default();
            return Err(store_err(shiploop_store::StoreError::LeaseLost(who)));
        }
        // One queued command at a time, taken in the transaction that records its decision.
        while let Some((cid, cmd)) = self.store.next_command(&id).map_err(store_err)? {
            match serde_json::from_value::<Input>(cmd) {
                Ok(input) => {
                    self.apply_command(input, Some(cid), now, m, None, log)
                        .await?;
                }
                Err(e) => {
                    let data = json!({ "id": cid, "error": e.to_string() });
                    let _ = self.store.append_event(&id, "command-rejected", &data, now);
                    self.store.reject_command(cid, now).map_err(store_err)?;
                }
            }
        }
        if self.state.phase.is_terminal() {
            return Ok(());
        }
        if let Phase::RollingBack { .. } = self.state.phase {
            self.execute(vec![Effect::RollBack], m, log).await?;
            return Ok(());
        }
        if self.state.phase == Phase::Completing {
            self.reassert(m).await;
            self.execute(vec![Effect::Complete], m, log).await?;
            return Ok(());
        }
        if self.router_dirty {
            self.reassert(m).await;
            if self.router_failures >= self.plan.settings.error_limit {
                let reason = format!("the router failed {} times in a row", self.router_failures);
                let input = Input::RouterFailing { reason };
                self.apply_command(input, None, m.now(), m, None, log)
                    .await?;
                return Ok(());
            }
        }
        let keys = self.plan.required_keys(self.state.stage);
        let window = self.ws.config.metrics.window.0.as_secs().max(1);
        let (slow_secs, target_secs) = self.plan.latency_bounds();
        let mctx = MetricContext {
            service: self.release.contract.meta.service.clone(),
            release: id.clone(),
            stage: self.stage_name(),
            weight: self.state.weight,
            window_secs: window,
            since_secs: self
                .state
                .stage_started
                .map_or(window, |s| (now - s).num_seconds().max(1) as u64),
            slow_secs,
            target_secs,
        };
        let (mut metric_keys, integrity_keys): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| !k.starts_with("integrity/"));
        let required = metric_keys.clone();
        // The charts' error rates and p99s ride along; they decide nothing.
        for k in shiploop_rollout::measure::DISPLAY {
            if !metric_keys.iter().any(|m| m == k) {
                metric_keys.push(k.to_string());
            }
        }
        let mut obs = if required.is_empty() {
            Default::default()
        } else {
            self.providers.metrics.measure(&metric_keys, &mctx).await
        };
        // A chart-only key's absence is not the source failing.
        let failed = obs
            .iter()
            .any(|(k, m)| required.contains(k) && matches!(m, Measurement::Error { .. }));
        if failed {
            self.provider_error("metrics");
        }
        for k in integrity_keys {
            let m = self.providers.integrity_check(&k).await;
            if matches!(m, Measurement::Error { .. }) {
                self.provider_error("integrity");
            }
            obs.insert(k, m);
        }
        // Decided at the tick's time, which the stage's watched time is counted from.
        let input = Input::Tick {
            observation: obs.clone(),
        };
        self.apply_command(input, None, now, m, Some(&obs), log)
            .await?;
        Ok(())
    }

    /// Drives the rollout to a terminal state (or until `stop` says so).
    pub async fn run(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Outcome> {
        let now = clock.now();
        self.acquire(now)?;
        let result = self.drive(clock, stop, log).await;
        self.release_lease();
        result
    }

    async fn drive(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Outcome> {
        self.begin(clock.now(), log).await?;
        let tick = self.ws.config.tick_interval();
        let mut stop = stop.clone();
        loop {
            if let Some(o) = self.outcome() {
                self.finish(clock.now())?;
                return Ok(o);
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(Outcome::Interrupted);
            }
            let started = std::time::Instant::now();
            self.tick(clock.now(), log).await?;
            if let Some(t) = &self.telemetry {
                t.tick(started.elapsed());
            }
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        match &self.state.phase {
            Phase::Completed => Some(Outcome::Completed),
            Phase::RolledBack { reason } => Some(Outcome::RolledBack {
                reason: reason.clone(),
            }),
            Phase::Failed { reason } => Some(Outcome::Failed {
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    /// Writes the signals a finished rollout owes (incident on rollback, post-incident after a
    /// hotfix); each only once.
    pub fn finish(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.sync_contract(now)?;
        let decisions = self.store.decisions(self.id()).map_err(store_err)?;
        let weights = self.weight_history();
        let signal = signals::for_outcome(&self.release, &self.state, &decisions, &weights, now)
            .filter(|sig| self.signal_due(sig));
        if let Some(signal) = signal {
            let (path, new) = self.ws.write_signal(&signal)?;
            if new {
                let id = self.id().to_string();
                let _ = self.store.append_event(
                    &id,
                    "signal-written",
                    &json!({ "file": self.ws.rel(&path), "event": signal.meta.event }),
                    now,
                );
            }
        }
        // Last, so the log's final event is anchored too.
        self.anchor(now);
        Ok(())
    }

    /// Whether a finished rollout's signal is due now: a hotfix's post-incident signal waits for
    /// its validation to pass; a person's rollback after a failed validation is that
    /// validation's incident, already written.
    fn signal_due(&self, sig: &shiploop_artifacts::signal::Signal) -> bool {
        let event = sig.meta.event.clone().unwrap_or_default();
        if event.starts_with("hotfix-complete:") {
            return self
                .ws
                .resolve(self.id())
                .is_ok_and(|r| r.contract.meta.status == Status::Shipped);
        }
        if let Phase::RolledBack { reason } = &self.state.phase {
            if reason.starts_with("manual rollback during validation") {
                let v = format!("validation:{}", self.id());
                let written = self.ws.signals().is_ok_and(|all| {
                    all.iter()
                        .any(|(_, s)| s.meta.event.as_deref() == Some(v.as_str()))
                });
                return !written;
            }
        }
        true
    }

    /// The weights the router carried, in order, without repeats: each one it confirmed, and
    /// each one asked for whose confirmation a crash lost but that a restart found in place.
    pub fn weight_history(&self) -> Vec<u8> {
        let events = self.store.events(Some(self.id())).unwrap_or_default();
        weights_carried(
            events
                .iter()
                .filter(|e| e.kind == "router")
                .map(|e| &e.data),
        )
    }
}

/// Records the event log's head in the contract of `release` (see `Controller::anchor`).
pub fn anchor(ws: &Workspace, store: &mut Store, release: &str, now: DateTime<Utc>) {
    let result = store
        .head()
        .map_err(store_err)
        .and_then(|(seq, hash)| ws.record_anchor(release, seq, &hash, now));
    if let Err(e) = result {
        let data = json!({ "error": format!("the event log's head could not be anchored: {e}") });
        let _ = store.append_event(release, "contract-update-failed", &data, now);
    }
}

/// What `effective_weight` answered: the weight, None when the router cannot tell.
type Found = std::result::Result<Option<u8>, shiploop_providers::ProviderError>;

/// The weights router events (their `data`, oldest first) show the router carried: a confirmed
/// call's weight, and an intent's weight when the next thing recorded is that weight found in
/// place (the confirmation was lost to a crash). Events from before intents were recorded have
/// no `phase` and count as confirmations.
fn weights_carried<'e>(events: impl Iterator<Item = &'e serde_json::Value>) -> Vec<u8> {
    let mut out: Vec<u8> = vec![];
    let mut intent: Option<u64> = None;
    for data in events {
        let weight = data["weight"].as_u64();
        let carried = match data["phase"].as_str() {
            Some("intent") => {
                intent = weight;
                continue;
            }
            Some("found") => weight.filter(|w| intent == Some(*w)),
            _ => weight.filter(|_| data["ok"] == true),
        };
        intent = None;
        if let Some(w) = carried {
            if out.last() != Some(&(w as u8)) {
                out.push(w as u8);
            }
        }
    }
    out
}

/// A holder is `host:pid`; on this host, a pid that no longer exists is a dead holder.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    host == hostname()
        && pid
            .parse::<u32>()
            .is_ok_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
