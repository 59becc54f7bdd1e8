//! The rollout state machine: `Rollout::step(plan, at, input)` → effects + a decision.

use crate::cause::{PauseCause, Rollback, RollbackCause};
use crate::criteria::{self, Finding, Judged, Outcome};
use crate::measure::{self, Measurement, Observation};
use crate::plan::{Inconclusive, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
/// Where a rollout is.
pub enum Phase {
    /// Created, not started.
    Pending,
    /// Moving through its stages.
    Progressing,
    /// Held by a person (or by an inconclusive judge); ticks watch but do not advance.
    Paused {
        /// Why.
        reason: String,
    },
    /// Sending all traffic back to the stable version; waiting for the router to confirm.
    RollingBack {
        /// Why it rolls back.
        reason: String,
    },
    /// All traffic is back on the stable version.
    RolledBack {
        /// Why it rolled back.
        reason: String,
    },
    /// All traffic is on the new version; waiting for the router to confirm it is the stable one.
    Completing,
    /// The new version is the stable one.
    Completed,
    /// Rolling back itself failed repeatedly: a person must act.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Phase {
    /// Whether nothing more will happen to the rollout.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::RolledBack { .. } | Phase::Completed | Phase::Failed { .. }
        )
    }

    /// The phase's name in decisions and `--json` (`rolling-back`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Progressing => "progressing",
            Phase::Paused { .. } => "paused",
            Phase::RollingBack { .. } => "rolling-back",
            Phase::RolledBack { .. } => "rolled-back",
            Phase::Completing => "completing",
            Phase::Completed => "completed",
            Phase::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "kebab-case")]
/// What can happen to a rollout: a tick, an operator's command, the router's answer.
pub enum Input {
    /// Start at the first stage.
    Start,
    /// Time passed and these were measured.
    Tick {
        /// The measurements, by key.
        observation: Observation,
    },
    /// A person pauses the rollout.
    Pause {
        /// Why.
        reason: String,
    },
    /// A person resumes a paused rollout.
    Resume,
    /// Skip the rest of the current stage (an operator's decision, with its reason).
    Promote {
        /// Why.
        reason: String,
    },
    /// A person rolls back.
    Abort {
        /// Why.
        reason: String,
    },
    /// Post-deployment validation failed after the rollout completed: roll back.
    ValidationFailed {
        /// What failed.
        reason: String,
    },
    /// The router confirmed all traffic is back on the stable version.
    RolledBack,
    /// The router could not roll back.
    RollbackFailed {
        /// The router's error.
        error: String,
    },
    /// The router made the new version the stable one.
    Promoted,
    /// The router could not make the new version the stable one.
    PromoteFailed {
        /// The router's error.
        error: String,
    },
    /// The router kept failing to carry the recorded weight (the controller's error limit):
    /// an automatic rollback, not a person's.
    RouterFailing {
        /// The last error.
        reason: String,
    },
}

/// What the controller must do after a step. All of them are idempotent for the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Put this weight on the new version.
    SetWeight {
        /// Percent of traffic on the new version.
        weight: u8,
        /// The stage it belongs to.
        stage: String,
    },
    /// Send all traffic back to the stable version.
    RollBack,
    /// The new version takes all traffic for good: make it the stable one.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// What a decision decided.
pub enum DecisionKind {
    /// The rollout started.
    Start,
    /// Stay at the current weight.
    Hold,
    /// Go on to the next stage.
    Promote,
    /// All traffic goes to the new version; make it the stable one.
    Complete,
    /// The router made the new version the stable one.
    Completed,
    /// Roll back (the decision that starts it carries its cause).
    Rollback,
    /// The router confirmed the rollback.
    RolledBack,
    /// Paused.
    Pause,
    /// Resumed.
    Resume,
    /// A person must act: rolling back failed, or the state is corrupt.
    Failed,
    /// The input does not apply in this phase; nothing changed.
    Ignored,
}

/// One explained decision: what was decided, why, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When it was decided (the tick's or the command's time).
    pub at: DateTime<Utc>,
    /// What was decided.
    pub kind: DecisionKind,
    /// The stage's index.
    pub stage: usize,
    /// The stage's name.
    pub stage_name: String,
    /// The weight on the new version after the decision.
    pub weight: u8,
    /// Monitored time in the stage when the decision was taken.
    #[serde(default)]
    pub stage_elapsed_ms: u64,
    /// Why, in one sentence.
    pub reason: String,
    /// Every trigger's and stage check's result behind it.
    pub findings: Vec<Finding>,
    /// On the decision that starts a rollback only: what caused it, from a fixed set — a
    /// trigger's name (`error-rate`, `p99-latency`, `health-checks`, `critical-security-alert`,
    /// `data-integrity`), `metric-errors`, `stage-check`, `max-hold`, `router`, `manual`,
    /// `validation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_cause: Option<RollbackCause>,
    /// On a pause or promotion the judge's inconclusive evidence caused: `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_cause: Option<PauseCause>,
    /// On a hold: what it waits on, so a reader can group holds without reading their text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldKind>,
}

/// What a hold decision waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldKind {
    /// The stage's watch window is running and every check passes so far.
    Watching,
    /// The stage's watch window is running and some checks do not pass yet.
    NotYetPassing,
    /// The window is over; the stage holds until its checks pass (or `max_hold`).
    TimeUp,
    /// A final stage without a window waits for its checks to pass.
    Waiting,
    /// The rollout is paused.
    Paused,
    /// The router failed to complete the rollout; it is retried.
    Retrying,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// A rollout's state: all the engine remembers between steps (recorded in the state database).
pub struct Rollout {
    /// Where it is.
    pub phase: Phase,
    /// The current stage's index.
    pub stage: usize,
    /// The weight the router should have on the new version.
    pub weight: u8,
    /// Monitored time spent in the current stage, in milliseconds.
    pub stage_elapsed_ms: u64,
    /// The time of the last tick, to count watched time from.
    pub last_tick: Option<DateTime<Utc>>,
    /// Consecutive ticks with a metric error (against `error_limit`).
    pub consecutive_errors: u32,
    /// Consecutive ticks with a failed stage check (against `failure_limit`).
    pub consecutive_failures: u32,
    /// Attempts to roll back (or complete) the router refused.
    pub rollback_attempts: u32,
    /// The stable version's error rate: over the rollout's counts, or last measured with
    /// enough data by a source without counts.
    pub stable_baseline: Option<f64>,
    /// What the judge has seen of this rollout.
    #[serde(default)]
    pub judge: shiploop_judge::State,
    /// Monitored time in the stage when a person resumed an inconclusive pause: `max_hold`
    /// counts again from there.
    #[serde(default)]
    pub hold_from_ms: u64,
    /// When the current stage began (wall clock): sources that count "since the stage began"
    /// are asked for that span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_started: Option<DateTime<Utc>>,
    /// The rollback under way or done, from the decision that started it (records written
    /// before it was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout::new()
    }
}

/// What a step produced: the effects to carry out and the decision to record.
pub struct Step {
    /// For the router, in order.
    pub effects: Vec<Effect>,
    /// The explained decision.
    pub decision: Decision,
}

impl Rollout {
    /// A rollout not started yet.
    pub fn new() -> Rollout {
        Rollout {
            phase: Phase::Pending,
            stage: 0,
            weight: 0,
            stage_elapsed_ms: 0,
            last_tick: None,
            consecutive_errors: 0,
            consecutive_failures: 0,
            rollback_attempts: 0,
            stable_baseline: None,
            judge: shiploop_judge::State::default(),
            hold_from_ms: 0,
            stage_started: None,
            rollback: None,
        }
    }

    /// Nobody watched since the last tick (the controller died or was stopped, and another
    /// has just taken over): the next tick begins a new interval instead of counting the gap,
    /// which `max_tick_gap` alone would allow for up to a minute, as watched time.
    pub fn lost_sight(&mut self) {
        self.last_tick = None;
    }

    /// Monitored time spent in the current stage.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.stage_elapsed_ms)
    }

    fn decision(
        &self,
        plan: &Plan,
        at: DateTime<Utc>,
        kind: DecisionKind,
        reason: String,
        findings: Vec<Finding>,
    ) -> Decision {
        Decision {
            at,
            kind,
            stage: self.stage,
            stage_name: plan
                .stages
                .get(self.stage)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            weight: self.weight,
            stage_elapsed_ms: self.stage_elapsed_ms,
            reason,
            findings,
            rollback_cause: None,
            pause_cause: None,
            hold: None,
        }
    }

    /// A hold: no traffic change, a decision that says what it waits on.
    fn hold(
        &self,
        plan: &Plan,
        at: DateTime<Utc>,
        hold: HoldKind,
        reason: String,
        findings: Vec<Finding>,
    ) -> Step {
        let mut step = self.only(plan, at, DecisionKind::Hold, reason, findings);
        step.decision.hold = Some(hold);
        step
    }

    /// A step that changes no traffic: only a decision.
    fn only(
        &self,
        plan: &Plan,
        at: DateTime<Utc>,
        kind: DecisionKind,
        reason: String,
        findings: Vec<Finding>,
    ) -> Step {
        Step {
            effects: vec![],
            decision: self.decision(plan, at, kind, reason, findings),
        }
    }

    fn ignored(&self, plan: &Plan, at: DateTime<Utc>, why: String) -> Step {
        self.only(plan, at, DecisionKind::Ignored, why, vec![])
    }

    /// An operator's command (`pause`, `resume`, …) the current phase does not take.
    fn cannot(&self, plan: &Plan, at: DateTime<Utc>, command: &str) -> Step {
        let why = format!("cannot {command} a rollout that is {}", self.phase.name());
        self.ignored(plan, at, why)
    }

    /// A report about work (a rollback, a completion, validation) that is not under way.
    fn not_under_way(&self, plan: &Plan, at: DateTime<Utc>, what: &str) -> Step {
        self.ignored(plan, at, format!("{what} ({})", self.phase.name()))
    }

    fn roll_back(
        &mut self,
        plan: &Plan,
        at: DateTime<Utc>,
        cause: RollbackCause,
        reason: String,
        findings: Vec<Finding>,
    ) -> Step {
        self.rollback = Some(Rollback {
            cause,
            during_validation: self.phase == Phase::Completed,
        });
        self.phase = Phase::RollingBack {
            reason: reason.clone(),
        };
        self.weight = 0;
        let mut decision = self.decision(plan, at, DecisionKind::Rollback, reason, findings);
        decision.rollback_cause = Some(cause);
        Step {
            effects: vec![Effect::RollBack],
            decision,
        }
    }

    /// Moves to the next stage (or completes), resetting the stage's counters.
    fn advance(
        &mut self,
        plan: &Plan,
        at: DateTime<Utc>,
        reason: String,
        findings: Vec<Finding>,
    ) -> Step {
        self.stage += 1;
        self.stage_elapsed_ms = 0;
        self.hold_from_ms = 0;
        self.stage_started = Some(at);
        self.consecutive_failures = 0;
        self.phase = Phase::Progressing;
        let next = &plan.stages[self.stage];
        self.weight = next.weight;
        let mut effects = vec![Effect::SetWeight {
            weight: next.weight,
            stage: next.name.clone(),
        }];
        if next.duration.is_none() && self.stage + 1 == plan.stages.len() {
            self.phase = Phase::Completing;
            effects.push(Effect::Complete);
            let reason = format!(
                "{reason}; {} at {} % completes the rollout",
                next.name, next.weight
            );
            return Step {
                effects,
                decision: self.decision(plan, at, DecisionKind::Complete, reason, findings),
            };
        }
        Step {
            effects,
            decision: self.decision(plan, at, DecisionKind::Promote, reason, findings),
        }
    }

    /// Applies `input` at time `at`: the next state (in place), the effects and the decision.
    pub fn step(&mut self, plan: &Plan, at: DateTime<Utc>, input: Input) -> Step {
        match input {
            Input::Start => self.start(plan, at),
            Input::Tick { observation } => self.tick(plan, at, &observation),
            Input::Pause { reason } => match self.phase {
                Phase::Progressing => {
                    self.phase = Phase::Paused {
                        reason: reason.clone(),
                    };
                    self.only(plan, at, DecisionKind::Pause, reason, vec![])
                }
                _ => self.cannot(plan, at, "pause"),
            },
            Input::Resume => match self.phase {
                Phase::Paused { .. } => {
                    self.phase = Phase::Progressing;
                    // The pause is not monitored stage time: restart the interval clock.
                    self.last_tick = Some(at);
                    // Resuming a stage whose time is up gives it another max_hold to settle.
                    let duration = plan
                        .stages
                        .get(self.stage)
                        .and_then(|s| s.duration)
                        .map_or(0, |d| d.as_millis() as u64);
                    if self.stage_elapsed_ms >= duration {
                        self.hold_from_ms = self.stage_elapsed_ms;
                    }
                    Step {
                        effects: vec![Effect::SetWeight {
                            weight: self.weight,
                            stage: self.stage_name(plan),
                        }],
                        decision: self.decision(
                            plan,
                            at,
                            DecisionKind::Resume,
                            "resumed".into(),
                            vec![],
                        ),
                    }
                }
                _ => self.cannot(plan, at, "resume"),
            },
            Input::Promote { reason } => match self.phase {
                Phase::Progressing | Phase::Paused { .. } if self.stage + 1 < plan.stages.len() => {
                    let why = format!("promoted by an operator: {reason}");
                    self.advance(plan, at, why, vec![])
                }
                _ => self.cannot(plan, at, "promote"),
            },
            Input::RouterFailing { reason } => match self.phase {
                Phase::Pending | Phase::Progressing | Phase::Paused { .. } => self.roll_back(
                    plan,
                    at,
                    RollbackCause::Router,
                    format!("automatic rollback (router): {reason}"),
                    vec![],
                ),
                _ => self.ignored(
                    plan,
                    at,
                    format!("router failing while {}: {reason}", self.phase.name()),
                ),
            },
            Input::Abort { reason } => match self.phase {
                Phase::Pending | Phase::Progressing | Phase::Paused { .. } => {
                    self.roll_back(plan, at, RollbackCause::Manual, format!("manual rollback: {reason}"), vec![])
                }
                // During post-deployment validation the stable version still runs: a person
                // may still send everything back (the controller allows it only then).
                Phase::Completed => self.roll_back(
                    plan,
                    at,
                    RollbackCause::Manual,
                    format!("manual rollback during validation: {reason}"),
                    vec![],
                ),
                _ => self.cannot(plan, at, "abort"),
            },
            Input::ValidationFailed { reason } => match self.phase {
                Phase::Completed => self.roll_back(
                    plan,
                    at,
                    RollbackCause::Validation,
                    format!("post-deployment validation failed: {reason}"),
                    vec![],
                ),
                _ => self.not_under_way(plan, at, "no validation under way"),
            },
            Input::RolledBack => match &self.phase {
                Phase::RollingBack { reason } => {
                    let reason = reason.clone();
                    self.phase = Phase::RolledBack {
                        reason: reason.clone(),
                    };
                    self.weight = 0;
                    self.only(plan,
                            at,
                            DecisionKind::RolledBack,
                            format!("all traffic on the stable version; {reason}"),
                            vec![],)
                }
                _ => self.not_under_way(plan, at, "no rollback under way"),
            },
            Input::Promoted => match self.phase {
                Phase::Completing => {
                    self.phase = Phase::Completed;
                    let reason = "the new version is the stable one".to_string();
                    self.only(plan, at, DecisionKind::Completed, reason, vec![])
                }
                _ => self.not_under_way(plan, at, "nothing to complete"),
            },
            Input::PromoteFailed { error } => match self.phase {
                Phase::Completing => self.router_refused(
                    plan,
                    at,
                    DecisionKind::Hold,
                    format!("completing failed: {error}; retrying"),
                    format!("the router could not make the new version the stable one ({error}); it may serve all traffic without being stable: act by hand"),
                ),
                _ => self.not_under_way(plan, at, "nothing to complete"),
            },
            Input::RollbackFailed { error } => match &self.phase {
                Phase::RollingBack { reason } => {
                    let reason = reason.clone();
                    self.router_refused(
                        plan,
                        at,
                        DecisionKind::Rollback,
                        format!("rollback failed: {error}; retrying"),
                        format!("rolling back failed ({error}); traffic may still reach the new version: act by hand ({reason})"),
                    )
                }
                _ => self.not_under_way(plan, at, "no rollback under way"),
            },
        }
    }

    /// The router refused a rollback or a completion: retry on the next tick, and after
    /// `error_limit` refusals end in Failed for a person to act.
    fn router_refused(
        &mut self,
        plan: &Plan,
        at: DateTime<Utc>,
        retry_kind: DecisionKind,
        retry_why: String,
        failed_why: String,
    ) -> Step {
        self.rollback_attempts += 1;
        let n = self.rollback_attempts;
        if n >= plan.settings.error_limit {
            let why = format!("{failed_why} — {n} attempts");
            self.phase = Phase::Failed {
                reason: why.clone(),
            };
            return self.only(plan, at, DecisionKind::Failed, why, vec![]);
        }
        let mut step = self.only(
            plan,
            at,
            retry_kind,
            format!("{retry_why} (attempt {n})"),
            vec![],
        );
        if retry_kind == DecisionKind::Hold {
            step.decision.hold = Some(HoldKind::Retrying);
        }
        step
    }

    fn stage_name(&self, plan: &Plan) -> String {
        plan.stages
            .get(self.stage)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn start(&mut self, plan: &Plan, at: DateTime<Utc>) -> Step {
        if self.phase != Phase::Pending {
            return self.ignored(plan, at, format!("already {}", self.phase.name()));
        }
        let Some(first) = plan.stages.first() else {
            self.phase = Phase::Failed {
                reason: "the plan has no stages".into(),
            };
            return self.only(
                plan,
                at,
                DecisionKind::Failed,
                "the plan has no stages".into(),
                vec![],
            );
        };
        self.phase = Phase::Progressing;
        self.stage = 0;
        self.weight = first.weight;
        self.last_tick = Some(at);
        self.stage_started = Some(at);
        let d = first
            .duration
            .map(|d| Dur(d).to_string())
            .unwrap_or_else(|| "—".into());
        Step {
            effects: vec![Effect::SetWeight {
                weight: first.weight,
                stage: first.name.clone(),
            }],
            decision: self.decision(
                plan,
                at,
                DecisionKind::Start,
                format!("started: {} at {} % for {d}", first.name, first.weight),
                vec![],
            ),
        }
    }

    fn tick(&mut self, plan: &Plan, at: DateTime<Utc>, obs: &Observation) -> Step {
        match &self.phase {
            Phase::Pending => return self.ignored(plan, at, "not started".into()),
            Phase::Completing => {
                let reason = "still completing: waiting for the router".to_string();
                return Step {
                    effects: vec![Effect::Complete],
                    decision: self.decision(plan, at, DecisionKind::Complete, reason, vec![]),
                };
            }
            Phase::RollingBack { reason } => {
                let reason = format!("still rolling back: {reason}");
                return Step {
                    effects: vec![Effect::RollBack],
                    decision: self.decision(plan, at, DecisionKind::Rollback, reason, vec![]),
                };
            }
            p if p.is_terminal() => {
                return self.ignored(plan, at, format!("rollout is {}", p.name()))
            }
            _ => {}
        }
        let gap = self
            .last_tick
            .map(|t| (at - t).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO)
            .min(plan.settings.max_tick_gap);
        self.last_tick = Some(self.last_tick.map_or(at, |t| t.max(at)));

        let judge = plan.judge();
        if let Some(reading) = measure::reading(obs) {
            self.judge.observe(&judge, self.stage, reading);
        }
        self.update_baseline(plan, obs);
        let judged = Judged {
            judge: &judge,
            state: &self.judge,
            stage: self.stage,
        };
        let mut findings = criteria::triggers(plan, obs, &judged);
        // One finding per trigger, in the plan's order: the cause comes from the trigger itself.
        if let Some((t, f)) = plan
            .triggers
            .iter()
            .zip(&findings)
            .find(|(_, f)| f.outcome == Outcome::Fail)
        {
            let reason = format!(
                "automatic rollback ({}): {}",
                f.name.trim_start_matches("trigger:"),
                f.detail
            );
            let cause = RollbackCause::of_trigger(t);
            return self.roll_back(plan, at, cause, reason, findings);
        }
        let checks = criteria::stage_checks(plan, self.stage, obs, &findings, &judged);
        // A check the judge decided fails on evidence, not on a streak of bad windows: at once.
        if let Some(f) = checks
            .iter()
            .find(|f| f.judge.is_some() && f.outcome == Outcome::Fail)
        {
            let reason = format!(
                "stage check {} failed: {}",
                f.name.trim_start_matches("check:"),
                f.detail
            );
            findings.extend(checks);
            return self.roll_back(plan, at, RollbackCause::StageCheck, reason, findings);
        }
        let error = findings
            .iter()
            .chain(&checks)
            .find(|f| f.outcome == Outcome::Error)
            .cloned();
        match &error {
            Some(_) => self.consecutive_errors += 1,
            None => self.consecutive_errors = 0,
        }
        if let Some(e) = error {
            if self.consecutive_errors >= plan.settings.error_limit {
                let reason = format!(
                    "{} consecutive ticks with metric errors (limit {}): {}",
                    self.consecutive_errors, plan.settings.error_limit, e.detail
                );
                findings.extend(checks);
                return self.roll_back(plan, at, RollbackCause::MetricErrors, reason, findings);
            }
        }
        if let Phase::Paused { reason } = &self.phase {
            let reason = format!("paused: {reason}");
            findings.extend(checks);
            return self.hold(plan, at, HoldKind::Paused, reason, findings);
        }

        self.stage_elapsed_ms += gap.as_millis() as u64;
        let failed = checks.iter().find(|f| f.outcome == Outcome::Fail).cloned();
        match &failed {
            Some(_) => self.consecutive_failures += 1,
            None => self.consecutive_failures = 0,
        }
        if let Some(f) = failed {
            if self.consecutive_failures >= plan.settings.failure_limit {
                let reason = format!(
                    "stage check {} failed {} consecutive times (limit {}): {}",
                    f.name.trim_start_matches("check:"),
                    self.consecutive_failures,
                    plan.settings.failure_limit,
                    f.detail
                );
                findings.extend(checks);
                return self.roll_back(plan, at, RollbackCause::StageCheck, reason, findings);
            }
        }

        let Some(stage) = plan.stages.get(self.stage) else {
            let why = format!(
                "the recorded stage {} is not in the plan ({} stages)",
                self.stage,
                plan.stages.len()
            );
            self.phase = Phase::Failed {
                reason: why.clone(),
            };
            return self.only(plan, at, DecisionKind::Failed, why, findings);
        };
        let strict = plan.settings.strict_checks;
        findings.extend(checks);
        let blocking: Vec<&Finding> = findings
            .iter()
            .filter(|f| match f.outcome {
                Outcome::Pass => false,
                Outcome::Unconfigured => strict && f.name.starts_with("check:"),
                _ => true,
            })
            .collect();
        // The full sentences (for a pause or a rollback) and a short form for holds; the
        // error-rate check repeats the trigger's finding, so each is said once.
        let mut said: Vec<&str> = vec![];
        let blocking: Vec<&Finding> = blocking
            .into_iter()
            .filter(|f| {
                let new = !said.contains(&f.detail.as_str());
                said.push(&f.detail);
                new
            })
            .collect();
        let blocking_text: Vec<String> = blocking
            .iter()
            .map(|f| format!("{} ({})", f.name, f.detail))
            .collect();
        let brief: Vec<String> = blocking.iter().map(|f| f.brief()).collect();
        let blocked = !blocking_text.is_empty();
        let Some(duration) = stage.duration else {
            // A final stage without a duration completes as soon as it is watched once cleanly.
            if !blocked {
                self.phase = Phase::Completing;
                return Step {
                    effects: vec![Effect::Complete],
                    decision: self.decision(
                        plan,
                        at,
                        DecisionKind::Complete,
                        format!("{} at {} %: all checks pass", stage.name, stage.weight),
                        findings,
                    ),
                };
            }
            return self.hold(
                plan,
                at,
                HoldKind::Waiting,
                format!("waiting for: {}", blocking_text.join("; ")),
                findings,
            );
        };
        let elapsed = self.elapsed();
        if elapsed < duration {
            let mut reason = format!(
                "{}: {} of {} watched",
                stage.name,
                Dur(round_secs(elapsed)),
                Dur(duration)
            );
            let hold = if blocked {
                reason.push_str(&format!("; not yet passing: {}", brief.join("; ")));
                HoldKind::NotYetPassing
            } else {
                HoldKind::Watching
            };
            return self.hold(plan, at, hold, reason, findings);
        }
        if !blocked {
            let reason = format!(
                "{} watched for {} with every check passing",
                stage.name,
                Dur(round_secs(elapsed))
            );
            if self.stage + 1 == plan.stages.len() {
                // The last stage had a watch window (a hotfix's validation): it ends here.
                self.phase = Phase::Completing;
                let reason = format!("{reason}; the rollout is complete");
                return Step {
                    effects: vec![Effect::Complete],
                    decision: self.decision(plan, at, DecisionKind::Complete, reason, findings),
                };
            }
            return self.advance(plan, at, reason, findings);
        }
        let deadline =
            duration.max(Duration::from_millis(self.hold_from_ms)) + plan.settings.max_hold;
        if elapsed >= deadline {
            let failing: Vec<&Finding> = findings
                .iter()
                .filter(|f| !f.lacks_evidence() && f.outcome != Outcome::Pass)
                .collect();
            if failing.is_empty() {
                return self.inconclusive(plan, at, &judge, blocking_text, findings);
            }
            let reason = format!(
                "{}: checks did not pass within {} + {} of holding: {}",
                stage.name,
                Dur(duration),
                Dur(plan.settings.max_hold),
                blocking_text.join("; ")
            );
            return self.roll_back(plan, at, RollbackCause::MaxHold, reason, findings);
        }
        let reason = format!(
            "{}: time is up, holding until checks pass: {}",
            stage.name,
            brief.join("; ")
        );
        self.hold(plan, at, HoldKind::TimeUp, reason, findings)
    }
}

impl Rollout {
    /// The stable version's error rate for post-deployment validation: the rollout's counts
    /// when the source gives counts, else the last window with enough samples.
    fn update_baseline(&mut self, plan: &Plan, obs: &Observation) {
        if let Some(rate) = self.judge.stable_rate() {
            self.stable_baseline = Some(rate);
            return;
        }
        if let Some(Measurement::Value { value, samples, .. }) =
            obs.get(&measure::error_rate("stable"))
        {
            if *samples >= plan.settings.min_samples && value.is_finite() {
                self.stable_baseline = Some(*value);
            }
        }
    }

    /// The stage's time and its hold are up and the evidence is still not there: what
    /// `judge.inconclusive` says — by default a pause for a person, with what more traffic
    /// would have settled it.
    fn inconclusive(
        &mut self,
        plan: &Plan,
        at: DateTime<Utc>,
        judge: &shiploop_judge::Judge,
        blocking: Vec<String>,
        findings: Vec<Finding>,
    ) -> Step {
        let stage = &plan.stages[self.stage];
        let watched = self.elapsed().as_secs_f64();
        let canary = self.judge.stage_tally(self.stage).canary.requests;
        let need = match self.judge.more_canary_requests(judge, self.stage) {
            Some(0) => String::new(),
            Some(n) => {
                let per_sec = canary as f64 / watched.max(1.0);
                let when = if per_sec > 0.0 {
                    format!(
                        " (≈ {} more at the {:.2} canary requests/s seen)",
                        shiploop_judge::text::duration(n as f64 / per_sec),
                        per_sec
                    )
                } else {
                    String::new()
                };
                format!(
                    "; at the rates seen, about {} more canary requests would settle it{when}",
                    shiploop_judge::text::count(n)
                )
            }
            None => "; at the rates seen, more traffic would not clear it".into(),
        };
        let why = format!(
            "{} at {} %: no decision on the evidence after {} of watching ({} canary requests): {}{need}",
            stage.name,
            stage.weight,
            Dur(round_secs(self.elapsed())),
            shiploop_judge::text::count(canary),
            blocking.join("; ")
        );
        match plan.settings.inconclusive {
            Inconclusive::Pause => {
                let reason = format!(
                    "inconclusive: {why} — resume to collect for another {}, promote to go on without it, or abort",
                    Dur(plan.settings.max_hold)
                );
                self.phase = Phase::Paused {
                    reason: reason.clone(),
                };
                let mut step = self.only(plan, at, DecisionKind::Pause, reason, findings);
                step.decision.pause_cause = Some(PauseCause::Inconclusive);
                step
            }
            Inconclusive::Promote => {
                let reason = format!(
                    "promoted without the evidence (judge.inconclusive = \"promote\"): {why}"
                );
                let mut step = if self.stage + 1 == plan.stages.len() {
                    self.phase = Phase::Completing;
                    Step {
                        effects: vec![Effect::Complete],
                        decision: self.decision(plan, at, DecisionKind::Complete, reason, findings),
                    }
                } else {
                    self.advance(plan, at, reason, findings)
                };
                step.decision.pause_cause = Some(PauseCause::Inconclusive);
                step
            }
            Inconclusive::Rollback => {
                let reason = format!("inconclusive (judge.inconclusive = \"rollback\"): {why}");
                self.roll_back(plan, at, RollbackCause::Inconclusive, reason, findings)
            }
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}
