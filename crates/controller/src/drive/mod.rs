//! Drives a rollout: measures, lets the state machine decide, records the decision, then
//! carries out its effects on the router — in that order, so that after a crash the recorded
//! state says what the router should have, and resuming re-asserts it.
//!
//! Only the holder of a rollout's lease drives it; operator commands from other processes are
//! queued in the store and applied at the holder's next tick.
//!
//! - `mod.rs`: the `Controller`, opening a rollout, submitting it, settings drift;
//! - `lease`: who drives a rollout (the lease, dead holders);
//! - `tick`: begin, tick, apply (decide → record → act), run;
//! - `router`: carrying out effects on the router, re-assertion, the router events;
//! - `finish`: the contract's records, the signals a finished rollout owes, the anchor;
//! - `operator`: operator commands (the admission rule), settling a rollback;
//! - `start`: what a foreground start or resume settles before it drives;
//! - `webhooks`: driving a rollout with its webhooks;
//! - `binding`: a recorded plan checked against its approved contract;
//! - `serve`: `ship serve`'s supervisor, driving every unfinished rollout.

pub mod binding;
mod finish;
mod heartbeat;
mod lease;
mod operator;
pub mod replicas;
mod router;
pub mod serve;
mod start;
mod tick;
mod webhooks;

pub use finish::anchor;
pub(crate) use lease::hostname;
pub use lease::{holder_applies_commands, holder_is_dead};
pub use operator::{admit, Admission, Commanded};
use router::weights_carried;
pub use start::{gates_before_start, refuse_unless_hotfix, BeforeStart, Starting};
pub use webhooks::with_webhooks;

use crate::build::{self, plan_for, providers_for, Providers};
use crate::{notify, signals, store_err, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_artifacts::release::{RolloutLogEntry, RolloutRecord, Status};
use shiploop_providers::{MetricContext, RouteContext};
use shiploop_rollout::machine::Step;
use shiploop_rollout::{Decision, DecisionKind, Effect, Input, Measurement, Phase, Plan, Rollout};
use shiploop_store::event::{Event, SettingsDrift};
use shiploop_store::{QueuedCommand, StateStore, StoredPlan};
use shiploop_workspace::{Error, LoadedRelease, Workspace};
use std::time::Duration;

/// How a foreground run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every stage passed: the new release serves all traffic.
    Completed,
    /// All traffic went back to the stable release.
    RolledBack {
        /// Why it rolled back.
        reason: String,
    },
    /// Rolling back itself failed repeatedly: a person must act.
    Failed {
        /// Why it failed.
        reason: String,
    },
    /// Stopped on request (SIGINT/SIGTERM) with the rollout still in flight.
    Interrupted,
}

/// Where time comes from: the real clock in production, one that follows tokio's clock in
/// tests. The controller reads the time of day only through a `Clock`, and measures and waits
/// only with `tokio::time` (clippy.toml bans `std::time::Instant::now` and
/// `SystemTime::now` here), so a test on a paused runtime decides every instant.
pub trait Clock: Send {
    /// The time of day now.
    fn now(&mut self) -> DateTime<Utc>;
}

/// The time of day from the system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The time of day that moves with tokio's clock from a fixed start. Under a paused runtime
/// (`#[tokio::test(start_paused = true)]`) tokio jumps over every sleep, so a rollout of many
/// stages is driven in milliseconds, and every run of a test sees the same instants.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: DateTime<Utc>,
    since: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            since: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&mut self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

/// When things happen within one tick: the tick's `now` (from the `Clock`, scripted in tests)
/// plus the monotonic time since the tick began — so the log shows how long a router call
/// took, and a scripted clock still decides every instant that the state machine sees. The
/// monotonic time is tokio's, which a test can pause.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    began: DateTime<Utc>,
    since: tokio::time::Instant,
}

impl Moment {
    pub(crate) fn new(now: DateTime<Utc>) -> Moment {
        Moment {
            began: now,
            since: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.began + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

/// Drives one release's rollout: each tick measures, decides, records, then moves traffic.
pub struct Controller<'a> {
    pub(crate) ws: &'a Workspace,
    pub(crate) store: Box<dyn StateStore + Send>,
    pub(crate) providers: Providers,
    /// The release contract being rolled out.
    pub release: LoadedRelease,
    /// The stages and rollback triggers, as recorded from the approved contract.
    pub plan: Plan,
    /// Where the rollout stands: its phase, stage and weight.
    pub state: Rollout,
    pub(crate) holder: String,
    /// Set when a router call failed: the next tick re-asserts the recorded weight first.
    pub(crate) router_dirty: bool,
    pub(crate) router_failures: u32,
    /// The last router failure's message (a fleet's names the members that did not confirm),
    /// for the decision that gives up on the router.
    pub(crate) router_error: Option<String>,
    /// The fencing token of this controller's lease, once it holds it: every record and every
    /// router intent is written only while the lease still has this holder and this token.
    pub(crate) token: Option<i64>,
    /// Set by `ship serve`, whose supervisor renews every lease of its replica in one write
    /// each poll: the controller then checks its lease each tick instead of renewing it.
    pub renewed_elsewhere: bool,
    /// What that renewal said, when the controller runs under `ship serve`: which leases it
    /// extended, with which token, until when. A tick checks its lease there before it reads
    /// the database.
    pub(crate) renewals: Option<heartbeat::Renewals>,
    /// Until when this controller knows its lease is held with its token (from its taking,
    /// a renewal that named it, or a read).
    pub(crate) held_until: Option<DateTime<Utc>>,
    /// When this controller last recorded a decision: a hold that changes nothing is recorded
    /// at most every `state.evidence_every`.
    pub(crate) last_recorded: Option<DateTime<Utc>>,
    /// Told about ticks, decisions and provider errors (`ship serve`'s /metrics).
    pub telemetry: Option<std::sync::Arc<dyn Telemetry>>,
}

/// What a controller reports about its own work to whoever runs it: every decision (including
/// those of the validation window and of the router's answers, whatever the caller logs), how
/// long each tick took, and each failed provider call.
pub trait Telemetry: Send + Sync {
    /// A tick ended, after `took`.
    fn tick(&self, took: Duration);
    /// The rollout of `release` decided `d`.
    fn decision(&self, release: &str, d: &Decision);
    /// `provider` is `router`, `metrics` or `integrity` — or `controller` for the controller's
    /// own trouble (out of file descriptors or memory), which never counts against a release.
    fn provider_error(&self, provider: &'static str);
}

impl<'a> Controller<'a> {
    /// The webhook notifier for this rollout (None without `[[webhooks]]`); `now` is the
    /// caller's clock, which times the `webhook-failed` events.
    pub fn notifier(&self, now: DateTime<Utc>) -> Result<Option<notify::Notifier>> {
        let cfg = &self.ws.config;
        if cfg.webhooks.is_empty() {
            return Ok(None);
        }
        Ok(Some(notify::Notifier::new(
            crate::state_location(self.ws)?,
            &self.release.contract.meta.id,
            &cfg.service.name,
            &cfg.webhooks,
            now,
        )))
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
        let store = crate::open_store(ws)?;
        let existing = store.rollout(&id).map_err(store_err)?;
        let (plan, state) = match existing {
            Some(row) => {
                let (plan, state) = (row.plan.plan, row.state);
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
            router_error: None,
            token: None,
            renewed_elsewhere: false,
            renewals: None,
            held_until: None,
            last_recorded: None,
            telemetry: None,
        })
    }

    /// This controller under another holder name than this process's `host:pid` (embedders
    /// and tests running several controllers in one process). Before it takes the lease.
    pub fn with_holder(mut self, holder: &str) -> Self {
        self.holder = holder.to_string();
        self.token = None;
        self
    }

    /// The release's id.
    pub fn id(&self) -> &str {
        &self.release.contract.meta.id
    }

    pub(crate) fn route_ctx(&self) -> RouteContext {
        RouteContext {
            service: self.release.contract.meta.service.clone(),
            release: self.id().to_string(),
            stage: self.stage_name(),
        }
    }

    pub(crate) fn stage_name(&self) -> String {
        self.plan
            .stages
            .get(self.state.stage)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// `state.lease_ttl`: the lease is renewed every third of it — by `ship serve`'s
    /// supervisor for all its rollouts at once, or by a foreground run's own renewer — also
    /// while a slow router call or smoke test is under way, so its length only bounds how long
    /// a dead controller's rollouts wait.
    pub(crate) fn lease_ttl(&self) -> Duration {
        self.ws.config.state.lease_ttl.0
    }

    /// Appends an event of this rollout, only while this controller still holds its lease.
    pub(crate) fn log_event(
        &mut self,
        event: &Event,
        at: DateTime<Utc>,
    ) -> Result<shiploop_store::LoggedEvent> {
        let id = self.id().to_string();
        let fence = self.token.map(|token| shiploop_store::Fence {
            holder: &self.holder,
            token,
        });
        self.store
            .append_fenced(&id, event, at, fence)
            .map_err(store_err)
    }

    /// Refuses to drive a recorded rollout whose plan is not provably its approved contract's
    /// (see `binding`): checked each time a controller takes a rollout on.
    pub fn check_binding(&self) -> Result<()> {
        let id = self.id();
        let Some(row) = self.store.rollout(id).map_err(store_err)? else {
            return Ok(());
        };
        let created = match self.store.rollout_created(id).map_err(store_err)? {
            Some(shiploop_store::LoggedEvent {
                event: Event::RolloutCreated(c),
                ..
            }) => Some(c.plan),
            _ => None,
        };
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

    /// Queues an operator's command (from the command line) for the controller holding the
    /// lease; the event log says it came from this user on this host.
    pub fn queue(&mut self, input: &Input, now: DateTime<Utc>) -> Result<()> {
        let id = self.id().to_string();
        let user = std::env::var("USER").unwrap_or_else(|_| "?".into());
        let by = format!("cli {user}@{}", hostname());
        self.store
            .push_command(&id, input, &by, now)
            .map_err(store_err)?;
        Ok(())
    }

    /// The state database this controller records to.
    pub fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }

    /// The plan as recorded, with the digest of the approved contract it was built from.
    pub(crate) fn stored_plan(&self) -> StoredPlan {
        let m = &self.release.contract.meta;
        StoredPlan {
            plan: self.plan.clone(),
            kind: m.kind,
            digest: m.digest.clone(),
        }
    }

    /// Records the event log's head in the contract (outside the database, in git with it);
    /// a contract that cannot be written is recorded, never a reason to stop.
    pub fn anchor(&mut self, now: DateTime<Utc>) {
        let id = self.id().to_string();
        anchor(self.ws, &mut *self.store, &id, now);
    }

    /// Records a new rollout without starting it (`ship rollout start --detach`): the
    /// `ship serve` that picks it up starts it. False when the rollout already exists.
    pub fn submit(&mut self, now: DateTime<Utc>) -> Result<bool> {
        let id = self.id().to_string();
        if self.store.rollout(&id).map_err(store_err)?.is_some() {
            return Ok(false);
        }
        self.store
            .create_rollout(&id, &self.stored_plan(), &self.state, now)
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
    pub(crate) fn report_drift(&mut self, now: DateTime<Utc>) {
        let drift = self.drift();
        if drift.is_empty() {
            return;
        }
        let drift = Event::SettingsDrift(SettingsDrift {
            message: "ship.toml changed after approval; the approved settings decide".into(),
            differences: drift,
        });
        let _ = self.log_event(&drift, now);
    }

    pub(crate) fn provider_error(&self, provider: &'static str) {
        if let Some(t) = &self.telemetry {
            t.provider_error(provider);
        }
    }
}
