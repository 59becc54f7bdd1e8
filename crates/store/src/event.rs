//! The event log's events, one variant per kind, each with its typed fields.
//!
//! An event is stored as two columns, its kind (`router`) and its data (a JSON object), and the
//! hash chain covers exactly those bytes. Serde's adjacent tagging (`kind` + `data`) maps a
//! variant onto them, and the data is written as serde_json writes a `Value` (keys sorted), so
//! an event written through this enum is byte for byte the one ship wrote before the enum
//! existed. An event this build does not know (a newer kind, an older shape) is kept as
//! [`Event::Unrecognised`] with its data as stored, never dropped.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shiploop_artifacts::duration::Dur;
use shiploop_artifacts::outcome::Checkpoint;
use shiploop_artifacts::release::CheckLine;
use shiploop_rollout::{Decision, Input};

use crate::stored::StoredPlan;

/// One event of the log. The serde names are the `kind` column's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Event {
    /// A rollout was recorded with its plan (written by `create_rollout`).
    RolloutCreated(RolloutCreated),
    /// One engine step's decision (written by `record_step`).
    Decision(DecisionEvent),
    /// A router call: before it (intent), after it (done), or a read of the live weight (found).
    Router(RouterCall),
    /// A controller took over the lease of a dead one.
    LeaseTakenOver(LeaseTakenOver),
    /// A controller took the rollout's lease (a new fencing token): from here on, what is
    /// recorded for the rollout is its doing, until the next such event.
    LeaseAcquired(LeaseAcquired),
    /// ship.toml changed after approval; the approved settings decide.
    SettingsDrift(SettingsDrift),
    /// The contract could not be updated with what the log has.
    ContractUpdateFailed(Failure),
    /// A signal file was written (or could not be).
    SignalWritten(SignalWritten),
    /// An operator command was queued (written by `push_command`).
    CommandQueued(CommandQueued),
    /// A queued command could not be read and was dropped.
    CommandRejected(CommandRejected),
    /// An interrupted validation window was discarded.
    ValidationRestarted(ValidationRestarted),
    /// A validation window began.
    ValidationStarted(ValidationStarted),
    /// A validation window ended with every item met.
    ValidationPassed(ValidationEnded),
    /// A validation window ended with an item failing.
    ValidationFailed(ValidationEnded),
    /// An outcome checkpoint was measured.
    OutcomeMeasured(OutcomeMeasured),
    /// The release was handed over to its owners.
    HandedOver(HandedOver),
    /// A feature flag was evaluated in staging.
    FlagEvaluated(FlagEvaluated),
    /// A rollback rehearsal ran in staging.
    Rehearsal(RehearsalRun),
    /// A webhook receiver did not take an event.
    WebhookFailed(WebhookFailed),
    /// The on-call notification, for webhook receivers.
    OncallNotification(OncallNotification),
    /// The on-call team was notified.
    OncallNotified(OncallNotified),
    /// The on-call team acknowledged.
    OncallAcked(OncallAcked),
    /// A failing gate was overridden by a person.
    GateOverridden(GateOverridden),
    /// `ship check`'s full report, every gate with its evidence.
    GatesChecked(shiploop_gates::Report),
    /// A release waits for a human approval.
    ApprovalNeeded(ApprovalNeeded),
    /// A release was withdrawn; events before it belong to the withdrawn contract.
    ReleaseWithdrawn(ReleaseWithdrawn),
    /// An event of a kind (or shape) this build does not know, as stored.
    #[serde(untagged)]
    Unrecognised(Unrecognised),
}

impl Event {
    /// The `kind` column's value.
    pub fn kind(&self) -> &str {
        match self {
            Event::RolloutCreated(_) => "rollout-created",
            Event::Decision(_) => "decision",
            Event::Router(_) => "router",
            Event::LeaseTakenOver(_) => "lease-taken-over",
            Event::LeaseAcquired(_) => "lease-acquired",
            Event::SettingsDrift(_) => "settings-drift",
            Event::ContractUpdateFailed(_) => "contract-update-failed",
            Event::SignalWritten(_) => "signal-written",
            Event::CommandQueued(_) => "command-queued",
            Event::CommandRejected(_) => "command-rejected",
            Event::ValidationRestarted(_) => "validation-restarted",
            Event::ValidationStarted(_) => "validation-started",
            Event::ValidationPassed(_) => "validation-passed",
            Event::ValidationFailed(_) => "validation-failed",
            Event::OutcomeMeasured(_) => "outcome-measured",
            Event::HandedOver(_) => "handed-over",
            Event::FlagEvaluated(_) => "flag-evaluated",
            Event::Rehearsal(_) => "rehearsal",
            Event::WebhookFailed(_) => "webhook-failed",
            Event::OncallNotification(_) => "oncall-notification",
            Event::OncallNotified(_) => "oncall-notified",
            Event::OncallAcked(_) => "oncall-acked",
            Event::GateOverridden(_) => "gate-overridden",
            Event::GatesChecked(_) => "gates-checked",
            Event::ApprovalNeeded(_) => "approval-needed",
            Event::ReleaseWithdrawn(_) => "release-withdrawn",
            Event::Unrecognised(u) => &u.kind,
        }
    }

    /// The `data` column's value: the event's fields as a JSON object.
    pub fn data(&self) -> Result<Value, serde_json::Error> {
        let mut tagged = serde_json::to_value(self)?;
        Ok(tagged
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// The event stored as `kind` and `data`; one that does not parse is kept as
    /// [`Event::Unrecognised`].
    pub fn from_parts(kind: &str, data: Value) -> Event {
        let tagged = serde_json::json!({ "kind": kind, "data": data });
        match serde_json::from_value::<Event>(tagged) {
            // An untagged fallback always matches; it must still carry the kind as stored.
            Ok(e) => e,
            Err(_) => Event::Unrecognised(Unrecognised {
                kind: kind.to_string(),
                data,
            }),
        }
    }

    /// The state hash recorded with a decision or a creation, if the event carries one.
    pub fn state_sha256(&self) -> Option<&str> {
        match self {
            Event::RolloutCreated(c) => Some(&c.state_sha256),
            Event::Decision(d) => d.state_sha256.as_deref(),
            _ => None,
        }
    }
}

/// An event this build cannot read as one of its kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unrecognised {
    /// The `kind` column as stored.
    pub kind: String,
    /// The `data` column as stored.
    pub data: Value,
}

/// The `rollout-created` event: the plan a rollout executes, as first recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutCreated {
    /// `standard` or `hotfix`, as in the rollouts table.
    pub kind: String,
    /// The plan, kind and contract digest, as the rollouts table has them.
    pub plan: StoredPlan,
    /// SHA-256 of the initial state as stored: a state edited in the database no longer matches.
    pub state_sha256: String,
}

/// The `decision` event: one engine decision with the hash of the state it left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// The decision, its fields inline.
    #[serde(flatten)]
    pub decision: Decision,
    /// SHA-256 of the state the decision left, as stored (absent in logs older than state
    /// hashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_sha256: Option<String>,
}

/// Which side of a router call the event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterPhase {
    /// Recorded before a call that moves traffic, so a crash during it leaves it in the log.
    Intent,
    /// The call returned (ok or not).
    Done,
    /// The live weight was read on resuming.
    Found,
}

/// What the router was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterAction {
    /// Move traffic to a weight.
    SetWeight,
    /// Send all traffic back to the stable version.
    RollBack,
    /// Make the new version the stable one.
    Promote,
    /// The recorded weight set again after a resume found the router elsewhere.
    ReassertWeight,
    /// The live weight read on resuming.
    Found,
}

/// The `router` event: one side of a router call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterCall {
    /// None in logs written before intents were recorded: a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RouterPhase>,
    /// What was asked of the router.
    pub action: RouterAction,
    /// The weight asked for (intent, done) or found (found; None when it could not be read).
    pub weight: Option<u8>,
    /// The weight the state records (found only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u8>,
    /// Whether the call worked (done and found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// What the router answered (done, ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why the call failed (done and found, not ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RouterAction {
    /// The name the log gives the action (`set-weight`).
    pub fn name(self) -> &'static str {
        match self {
            RouterAction::SetWeight => "set-weight",
            RouterAction::RollBack => "roll-back",
            RouterAction::Promote => "promote",
            RouterAction::ReassertWeight => "reassert-weight",
            RouterAction::Found => "found",
        }
    }
}

impl RouterCall {
    /// Before a call that moves traffic.
    pub fn intent(action: RouterAction, weight: u8) -> RouterCall {
        RouterCall {
            phase: Some(RouterPhase::Intent),
            action,
            weight: Some(weight),
            recorded: None,
            ok: None,
            detail: None,
            error: None,
        }
    }

    /// After a call that worked, with what the router answered.
    pub fn done(action: RouterAction, weight: u8, detail: String) -> RouterCall {
        RouterCall {
            phase: Some(RouterPhase::Done),
            ok: Some(true),
            detail: Some(detail),
            ..RouterCall::intent(action, weight)
        }
    }

    /// After a call that failed, with why.
    pub fn failed(action: RouterAction, weight: u8, error: String) -> RouterCall {
        RouterCall {
            phase: Some(RouterPhase::Done),
            ok: Some(false),
            error: Some(error),
            ..RouterCall::intent(action, weight)
        }
    }

    /// The live weight read on resuming (None: the router cannot tell), beside the recorded one.
    pub fn found(weight: Option<u8>, recorded: u8) -> RouterCall {
        RouterCall {
            phase: Some(RouterPhase::Found),
            weight,
            recorded: Some(recorded),
            ok: Some(true),
            ..RouterCall::intent(RouterAction::Found, 0)
        }
    }

    /// The live weight could not be read on resuming, and why.
    pub fn unreadable(error: String, recorded: u8) -> RouterCall {
        RouterCall {
            ok: Some(false),
            error: Some(error),
            ..RouterCall::found(None, recorded)
        }
    }
}

/// The `lease-taken-over` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseTakenOver {
    /// The dead holder (`host:pid`).
    pub from: String,
    /// The new holder.
    pub to: String,
}

/// The `lease-acquired` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseAcquired {
    /// The controller that took the lease (`host:pid`).
    pub holder: String,
    /// Its fencing token: every record it makes is checked against it.
    pub token: i64,
}

/// The `settings-drift` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsDrift {
    /// What it means.
    pub message: String,
    /// Each setting that differs, in words.
    pub differences: Vec<String>,
}

/// Something that could not be done, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong.
    pub error: String,
}

/// The `signal-written` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalWritten {
    /// The signal file, relative to the workspace (None when it could not be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why it could not be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The signal's event name (its `event` field, which a signal may lack).
    pub event: Option<String>,
}

/// The `command-queued` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandQueued {
    /// The command's id in the queue.
    pub id: i64,
    /// The engine input it asks for.
    pub command: Input,
    /// Who and through what: `api operator`, `cli alice@host`.
    pub by: String,
}

/// The `command-rejected` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRejected {
    /// The command's id in the queue.
    pub id: i64,
    /// Why it could not be read.
    pub error: String,
}

/// The `validation-restarted` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRestarted {
    /// Why the window starts again.
    pub why: String,
}

/// The `validation-started` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationStarted {
    /// How long the window watches.
    pub window: Dur,
}

/// The `validation-passed` and `validation-failed` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationEnded {
    /// Each validation item's result.
    pub items: Vec<shiploop_gates::validation::ItemResult>,
    /// Why it failed; None when it passed.
    pub reason: Option<String>,
    /// How long the window watched.
    pub window: Dur,
}

/// The `outcome-measured` event (logged under `mission:<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeMeasured {
    /// The checkpoint measured (`week-1`).
    pub checkpoint: String,
    /// The checkpoint's date.
    pub date: NaiveDate,
    /// The report file, relative to the workspace.
    pub report: String,
    /// Every metric measured (none unmeasured).
    pub complete: bool,
    /// How many metrics met their target.
    pub met: usize,
    /// The metrics that missed their target.
    pub missed: Vec<String>,
    /// The metrics that could not be measured.
    pub unmeasured: Vec<String>,
    /// Where the measured period began.
    pub period_start: DateTime<Utc>,
}

/// The `handed-over` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedOver {
    /// When the handoff was recorded.
    pub at: DateTime<Utc>,
    /// Who handed over.
    pub from: String,
    /// Who took over.
    pub to: String,
    /// The mission the release belongs to, if any.
    pub mission: Option<String>,
    /// The outcome checkpoints handed over with it.
    pub measurement_schedule: Vec<Checkpoint>,
    /// The exit criteria, one line each.
    pub items: Vec<CheckLine>,
}

/// The `flag-evaluated` event: a feature flag evaluated in staging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagEvaluated {
    /// The flag's name.
    pub flag: String,
    /// Whether it behaved as required.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The `rehearsal` event: a rollback rehearsal with how long the shift took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsalRun {
    /// The rehearsal, its fields inline.
    #[serde(flatten)]
    pub rehearsal: shiploop_gates::Rehearsal,
    /// How long the shift to the new version took to show in every answer.
    pub shift_ms: u64,
}

/// The `webhook-failed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookFailed {
    /// The receiver.
    pub url: String,
    /// The outgoing event's id (`<release>-<seq>`).
    pub event: String,
    /// The CloudEvents type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the last attempt got.
    pub error: String,
}

/// The `oncall-notification` event, which the webhooks deliver as `oncall.notified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OncallNotification {
    /// The on-call team.
    pub team: String,
    /// What they are told.
    pub message: String,
}

/// The `oncall-notified` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OncallNotified {
    /// The on-call team.
    pub team: String,
    /// The channels it went through (`webhooks and notify_command`).
    pub via: String,
    /// What they were told.
    pub message: String,
    /// Channels that failed on the way.
    pub problems: Vec<String>,
}

/// The `oncall-acked` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OncallAcked {
    /// Who acknowledged.
    pub by: String,
}

/// The `gate-overridden` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOverridden {
    /// The gate waived.
    pub gate: shiploop_gates::Gate,
    /// Who waived it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The gate's evidence when it was overridden.
    pub evidence: Vec<String>,
}

/// The `approval-needed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalNeeded {
    /// The release waiting.
    pub release: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// The contract digest to approve.
    pub digest: String,
}

/// The `release-withdrawn` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseWithdrawn {
    /// The id the withdrawn contract was renamed to.
    pub withdrawn_id: String,
    /// Its file now.
    pub file: String,
    /// Its status before the withdrawal.
    pub was: String,
    /// Who withdrew it.
    pub by: String,
    /// Why.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The data of each kind as the code before this enum wrote it with `json!`, beside the
    /// same event typed: the stored bytes (and so the chain's hashes) must be the same.
    #[test]
    fn typed_events_store_the_bytes_json_wrote() {
        let rehearsal = shiploop_gates::Rehearsal {
            at: crate::contract::at(2),
            ok: true,
            target: "staging".into(),
            rollback_ms: 120,
            total_ms: 900,
            detail: "rolled back".into(),
        };
        let mut old_rehearsal = serde_json::to_value(&rehearsal).unwrap();
        old_rehearsal["shift_ms"] = json!(300);
        let d = crate::contract::decision(
            shiploop_rollout::DecisionKind::Start,
            crate::contract::at(1),
            5,
        );
        let mut old_decision = serde_json::to_value(&d).unwrap();
        old_decision["state_sha256"] = json!("ab");
        let plan = crate::contract::plan("sha256:1");
        let window = Dur::from_secs(600);
        let cases: Vec<(Value, Event)> = vec![
            (
                json!({ "kind": "standard", "plan": { "plan": plan.plan, "kind": plan.kind, "digest": plan.digest }, "state_sha256": "ab" }),
                Event::RolloutCreated(RolloutCreated {
                    kind: "standard".into(),
                    plan: plan.clone(),
                    state_sha256: "ab".into(),
                }),
            ),
            (
                old_decision,
                Event::Decision(DecisionEvent {
                    decision: d,
                    state_sha256: Some("ab".into()),
                }),
            ),
            (
                json!({ "phase": "found", "action": "found", "weight": 25, "recorded": 5, "ok": true }),
                Event::Router(RouterCall::found(Some(25), 5)),
            ),
            (
                json!({ "phase": "found", "action": "found", "weight": null, "recorded": 5, "ok": false, "error": "e" }),
                Event::Router(RouterCall::unreadable("e".into(), 5)),
            ),
            (
                json!({ "action": "set-weight", "weight": 25, "ok": true, "detail": "d" }),
                Event::Router(RouterCall {
                    phase: None,
                    ..RouterCall::done(RouterAction::SetWeight, 25, "d".into())
                }),
            ),
            (
                json!({ "phase": "found", "action": "found", "weight": null, "recorded": 5, "ok": true }),
                Event::Router(RouterCall::found(None, 5)),
            ),
            (
                json!({ "phase": "intent", "action": "reassert-weight", "weight": 25 }),
                Event::Router(RouterCall::intent(RouterAction::ReassertWeight, 25)),
            ),
            (
                json!({ "phase": "done", "action": "set-weight", "weight": 25, "ok": true, "detail": "d" }),
                Event::Router(RouterCall::done(RouterAction::SetWeight, 25, "d".into())),
            ),
            (
                json!({ "phase": "done", "action": "roll-back", "weight": 0, "ok": false, "error": "e" }),
                Event::Router(RouterCall::failed(RouterAction::RollBack, 0, "e".into())),
            ),
            (
                json!({ "file": "signals/a.md", "event": "rollback" }),
                Event::SignalWritten(SignalWritten {
                    file: Some("signals/a.md".into()),
                    error: None,
                    event: Some("rollback".into()),
                }),
            ),
            (
                json!({ "error": "e", "event": "rollback" }),
                Event::SignalWritten(SignalWritten {
                    file: None,
                    error: Some("e".into()),
                    event: Some("rollback".into()),
                }),
            ),
            (
                json!({ "id": 3, "command": { "input": "pause", "reason": "x" }, "by": "api operator" }),
                Event::CommandQueued(CommandQueued {
                    id: 3,
                    command: Input::Pause { reason: "x".into() },
                    by: "api operator".into(),
                }),
            ),
            (
                json!({ "window": window }),
                Event::ValidationStarted(ValidationStarted { window }),
            ),
            (
                json!({ "items": [], "reason": null, "window": window }),
                Event::ValidationPassed(ValidationEnded {
                    items: vec![],
                    reason: None,
                    window,
                }),
            ),
            (
                old_rehearsal,
                Event::Rehearsal(RehearsalRun {
                    rehearsal,
                    shift_ms: 300,
                }),
            ),
            (
                json!({ "url": "u", "event": "r-1", "type": "t", "error": "e" }),
                Event::WebhookFailed(WebhookFailed {
                    url: "u".into(),
                    event: "r-1".into(),
                    kind: "t".into(),
                    error: "e".into(),
                }),
            ),
            (
                json!({ "gate": "feature-flags", "by": "a", "reason": "r", "evidence": ["no flags"] }),
                Event::GateOverridden(GateOverridden {
                    gate: shiploop_gates::Gate::FeatureFlags,
                    by: "a".into(),
                    reason: "r".into(),
                    evidence: vec!["no flags".into()],
                }),
            ),
        ];
        let report = shiploop_gates::Report {
            release: "r1".into(),
            checked_at: crate::contract::at(3),
            hotfix: false,
            gates: vec![],
        };
        let cases = [
            cases,
            vec![(
                serde_json::to_value(&report).unwrap(),
                Event::GatesChecked(report),
            )],
        ]
        .concat();
        for (old, typed) in cases {
            assert_eq!(
                typed.data().unwrap().to_string(),
                old.to_string(),
                "{}",
                typed.kind()
            );
            assert_eq!(Event::from_parts(typed.kind(), old), typed);
        }
    }

    #[test]
    fn every_kind_round_trips_and_unknown_ones_are_kept() {
        for e in crate::contract::one_of_each() {
            assert_eq!(
                Event::from_parts(e.kind(), e.data().unwrap()),
                e,
                "{}",
                e.kind()
            );
        }
        // A known kind whose data this build cannot read is kept as stored, under its kind.
        let odd = Event::from_parts("router", json!({ "i": 1 }));
        assert_eq!(odd.kind(), "router");
        assert!(matches!(&odd, Event::Unrecognised(u) if u.data == json!({ "i": 1 })));
    }
}
