//! The contract every [`StateStore`] backend keeps, written once and run against each of them:
//! the behaviour tests here, and a model test ([`model`]) that applies random operations to the
//! backend and to a plain in-memory model and compares the two after every operation.
//!
//! A backend's tests call [`run_all`] with a function that opens a fresh, empty store, and
//! [`model::run`] the same way (built with the `contract-tests` feature outside this crate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod model;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use shiploop_artifacts::release::Kind;
use shiploop_rollout::{Decision, DecisionKind, Input, Measurement, Observation, Plan, Rollout};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::event::*;
use crate::{Fence, Lease, QueuedCommand, StateStore, Step, StoreError, StoredPlan};

/// A second of the test clock.
pub fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

/// A two-stage plan.
pub fn plan(digest: &str) -> StoredPlan {
    let stage = |name: &str, weight: u8| shiploop_rollout::StagePlan {
        name: name.into(),
        weight,
        duration: Some(Duration::from_secs(60)),
        checks: vec![],
    };
    StoredPlan {
        plan: Plan {
            stages: vec![stage("canary", 5), stage("ga", 100)],
            triggers: vec![],
            latency_target: None,
            checks: BTreeMap::new(),
            settings: Default::default(),
        },
        kind: Kind::Standard,
        digest: Some(digest.into()),
    }
}

/// A decision of `kind` at `t`.
pub fn decision(kind: DecisionKind, t: DateTime<Utc>, weight: u8) -> Decision {
    Decision {
        at: t,
        kind,
        stage: 0,
        stage_name: "canary".into(),
        weight,
        stage_elapsed_ms: 0,
        reason: "every check passing".into(),
        findings: vec![],
        rollback_cause: None,
        pause_cause: None,
        hold: None,
    }
}

/// A state at `weight`.
pub fn state(weight: u8) -> Rollout {
    let mut s = Rollout::new();
    s.weight = weight;
    s
}

/// One event of every kind, as the controller, the CLI and the server write them.
pub fn one_of_each() -> Vec<Event> {
    vec![
        Event::Router(RouterCall::intent(RouterAction::SetWeight, 5)),
        Event::Router(RouterCall::done(RouterAction::Promote, 100, "ok".into())),
        Event::Router(RouterCall::failed(RouterAction::RollBack, 0, "down".into())),
        Event::Router(RouterCall::found(Some(25), 25)),
        Event::Router(RouterCall::unreadable("refused".into(), 25)),
        Event::LeaseTakenOver(LeaseTakenOver {
            from: "a@h:1".into(),
            to: "b@h:2".into(),
        }),
        Event::LeaseAcquired(LeaseAcquired {
            holder: "b@h:2".into(),
            token: 7,
        }),
        Event::SettingsDrift(SettingsDrift {
            message: "ship.toml changed after approval; the approved settings decide".into(),
            differences: vec!["margin: 1 → 2".into()],
        }),
        Event::ContractUpdateFailed(Failure {
            error: "unreadable".into(),
        }),
        Event::SignalWritten(SignalWritten {
            file: Some("signals/x.md".into()),
            error: None,
            event: Some("rollback".into()),
        }),
        Event::SignalWritten(SignalWritten {
            file: None,
            error: Some("read-only".into()),
            event: Some("inconclusive".into()),
        }),
        Event::CommandRejected(CommandRejected {
            id: 3,
            error: "unknown variant".into(),
        }),
        Event::ValidationRestarted(ValidationRestarted {
            why: "the previous window was interrupted; a whole new window starts".into(),
        }),
        Event::ValidationStarted(ValidationStarted {
            window: shiploop_artifacts::duration::Dur::from_secs(600),
        }),
        Event::ValidationPassed(ValidationEnded {
            items: vec![shiploop_gates::validation::ItemResult {
                item: shiploop_gates::validation::Item::ALL[0],
                text: "error rate".into(),
                status: shiploop_gates::Status::Pass,
                evidence: "0.1 %".into(),
            }],
            reason: None,
            window: shiploop_artifacts::duration::Dur::from_secs(600),
        }),
        Event::ValidationFailed(ValidationEnded {
            items: vec![],
            reason: Some("error rate above target".into()),
            window: shiploop_artifacts::duration::Dur::from_secs(60),
        }),
        Event::OutcomeMeasured(OutcomeMeasured {
            checkpoint: "week-1".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            report: "missions/m/reports/week-1.md".into(),
            complete: true,
            met: 2,
            missed: vec![],
            unmeasured: vec![],
            period_start: at(0),
        }),
        Event::HandedOver(HandedOver {
            at: at(1),
            from: "dev".into(),
            to: "ops".into(),
            mission: Some("checkout".into()),
            measurement_schedule: vec![],
            items: vec![],
        }),
        Event::FlagEvaluated(FlagEvaluated {
            flag: "new-checkout".into(),
            ok: true,
            detail: "on in staging".into(),
        }),
        Event::Rehearsal(RehearsalRun {
            rehearsal: shiploop_gates::Rehearsal {
                at: at(2),
                ok: true,
                target: "staging".into(),
                rollback_ms: 120,
                total_ms: 900,
                detail: "rolled back".into(),
            },
            shift_ms: 300,
        }),
        Event::WebhookFailed(WebhookFailed {
            url: "http://127.0.0.1:9/hook".into(),
            event: "r1-4".into(),
            kind: "dev.shiploop.rollout.started".into(),
            error: "connection refused".into(),
        }),
        Event::OncallNotification(OncallNotification {
            team: "payments".into(),
            message: "r1 ships today".into(),
        }),
        Event::OncallNotified(OncallNotified {
            team: "payments".into(),
            via: "webhooks".into(),
            message: "r1 ships today".into(),
            problems: vec![],
        }),
        Event::OncallAcked(OncallAcked { by: "alice".into() }),
        Event::GateOverridden(GateOverridden {
            gate: shiploop_gates::Gate::FeatureFlags,
            by: "alice".into(),
            reason: "known".into(),
            evidence: vec!["2 flags registered".into()],
        }),
        Event::GatesChecked(shiploop_gates::Report {
            release: "r1".into(),
            checked_at: at(3),
            hotfix: false,
            gates: vec![shiploop_gates::GateResult::new(
                shiploop_gates::Gate::Oncall,
                shiploop_gates::Status::Pass,
                vec!["payments acknowledged".into()],
                None,
            )],
        }),
        Event::ApprovalNeeded(ApprovalNeeded {
            release: "r1".into(),
            submitted_by: "bob".into(),
            digest: "sha256:00".into(),
        }),
        Event::ReleaseWithdrawn(ReleaseWithdrawn {
            withdrawn_id: "r1.withdrawn-1".into(),
            file: "releases/r1.withdrawn-1.md".into(),
            was: "draft".into(),
            by: "bob".into(),
            reason: "wrong flag".into(),
        }),
        Event::Unrecognised(Unrecognised {
            kind: "from-a-later-version".into(),
            data: json!({ "anything": [1, 2] }),
        }),
    ]
}

/// Every behaviour test of the contract, each on a fresh store from `fresh`.
pub fn run_all<S: StateStore>(mut fresh: impl FnMut() -> S) {
    rollouts_are_created_once(&mut fresh());
    a_step_records_state_decision_samples_and_events(&mut fresh());
    every_event_reads_back_as_written(&mut fresh());
    the_chain_links_every_event(&mut fresh());
    events_since_filters_and_limits(&mut fresh());
    only_the_lease_holder_records(&mut fresh());
    commands_wait_until_a_step_takes_them(&mut fresh());
    cursors_move_by_compare_and_set(&mut fresh());
    samples_of_several_releases_merge_by_time(&mut fresh());
    fencing_tokens_never_go_backwards(&mut fresh());
    a_stale_token_writes_nothing(&mut fresh());
    a_holder_renews_all_its_leases_at_once(&mut fresh());
    leases_are_listed_by_prefix(&mut fresh());
    samples_are_pruned_and_decisions_kept(&mut fresh());
    phases_are_read_without_decoding_rollouts(&mut fresh());
}

/// A rollout is recorded once, with its plan, state and `rollout-created` event.
pub fn rollouts_are_created_once<S: StateStore>(st: &mut S) {
    assert!(st.rollout("r1").unwrap().is_none());
    st.create_rollout("r1", &plan("sha256:1"), &state(0), at(0))
        .unwrap();
    let again = st.create_rollout("r1", &plan("sha256:2"), &state(0), at(1));
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let r = st.rollout("r1").unwrap().unwrap();
    assert_eq!(r.plan, plan("sha256:1"));
    assert_eq!(r.state, state(0));
    assert_eq!(r.kind, "standard");
    assert_eq!((r.created_at, r.updated_at), (at(0), at(0)));
    let created = st.rollout_created("r1").unwrap().unwrap();
    match &created.event {
        Event::RolloutCreated(c) => assert_eq!(c.plan, plan("sha256:1")),
        other => panic!("first event: {other:?}"),
    }
    assert_eq!(st.created_rollouts().unwrap(), vec!["r1".to_string()]);
    assert_eq!(st.state_problem("r1").unwrap(), None);
    assert_eq!(st.state_problem("nope").unwrap(), None);
}

/// A step records its state, decision, samples and events, or nothing.
pub fn a_step_records_state_decision_samples_and_events<S: StateStore>(st: &mut S) {
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    let obs: Observation = [(
        "canary/error_rate".to_string(),
        Measurement::value(0.01, 100),
    )]
    .into();
    let d = decision(DecisionKind::Start, at(1), 5);
    let router = Event::Router(RouterCall::intent(RouterAction::SetWeight, 5));
    st.record_step(Step {
        release: "r1",
        holder: None,
        token: None,
        command: None,
        state: &state(5),
        decision: &d,
        samples: Some(&obs),
        events: std::slice::from_ref(&router),
    })
    .unwrap();
    let r = st.rollout("r1").unwrap().unwrap();
    assert_eq!(r.state, state(5));
    assert_eq!(r.updated_at, at(1));
    let decisions = st.decisions("r1").unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, d);
    let events = st.events(Some("r1")).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, ["rollout-created", "decision", "router"]);
    match &events[1].event {
        Event::Decision(e) => {
            assert_eq!(e.decision, d);
            assert!(e.state_sha256.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events[2].event, router);
    assert_eq!(st.state_problem("r1").unwrap(), None);
    let missing = st.record_step(Step {
        release: "nope",
        ..Step {
            release: "r1",
            holder: None,
            token: None,
            command: None,
            state: &state(5),
            decision: &d,
            samples: None,
            events: &[],
        }
    });
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        st.events(None).unwrap().len(),
        3,
        "nothing of a failed step"
    );
}

/// Every kind of event reads back as it was appended.
pub fn every_event_reads_back_as_written<S: StateStore>(st: &mut S) {
    let all = one_of_each();
    for (i, e) in all.iter().enumerate() {
        let logged = st.append("r1", e, at(i as i64)).unwrap();
        assert_eq!(&logged.event, e);
    }
    let read: Vec<Event> = st
        .events(Some("r1"))
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(read, all);
    assert!(st.verify_chain().unwrap().ok);
}

/// Each event links to the previous one's hash, from the genesis hash.
pub fn the_chain_links_every_event<S: StateStore>(st: &mut S) {
    let empty = st.verify_chain().unwrap();
    assert!(empty.ok && empty.events == 0);
    assert_eq!(st.head().unwrap(), (0, crate::chain::GENESIS.to_string()));
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    let ack = Event::OncallAcked(OncallAcked { by: "a".into() });
    let e = st.append("r1", &ack, at(1)).unwrap();
    let first = st.events(None).unwrap();
    assert_eq!(first[0].prev_hash, crate::chain::GENESIS);
    assert_eq!(e.prev_hash, first[0].hash);
    assert_eq!(st.head().unwrap(), (2, e.hash.clone()));
    assert_eq!(st.hash_of(2).unwrap(), Some(e.hash.clone()));
    assert_eq!(st.hash_of(3).unwrap(), None);
    let report = st.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events, report.head), (2, e.hash));
}

/// Events are read after a sequence number, by release, a page at a time.
pub fn events_since_filters_and_limits<S: StateStore>(st: &mut S) {
    for i in 0..9 {
        let release = ["r1", "r2", "r3"][i % 3];
        let ev = Event::OncallAcked(OncallAcked { by: i.to_string() });
        st.append(release, &ev, at(i as i64)).unwrap();
    }
    let r2 = st.events_since(Some("r2"), 0, Some(2)).unwrap();
    assert_eq!(r2.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 5]);
    let rest = st.events_since(Some("r2"), 5, None).unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [8]);
    assert_eq!(st.events_since(None, 7, Some(5)).unwrap().len(), 2);
    assert!(st.events_since(None, 9, None).unwrap().is_empty());
    assert_eq!(st.last_seq(None).unwrap(), 9);
    assert_eq!(st.last_seq(Some("r2")).unwrap(), 8);
    assert_eq!(st.last_seq(Some("nope")).unwrap(), 0);
    assert_eq!(st.events(Some("r3")).unwrap().len(), 3);
}

/// Leases expire, renew, are taken over from a dead holder, and guard steps.
pub fn only_the_lease_holder_records<S: StateStore>(st: &mut S) {
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    let ttl = Duration::from_secs(30);
    assert!(st.acquire_lease("r1", "a", ttl, at(0)).unwrap());
    assert!(!st.acquire_lease("r1", "b", ttl, at(10)).unwrap());
    assert!(st.acquire_lease("r1", "a", ttl, at(20)).unwrap(), "renewal");
    assert_eq!(st.lease_holder("r1", at(40)).unwrap().as_deref(), Some("a"));
    assert_eq!(st.lease_holder("r1", at(50)).unwrap(), None, "expired");
    let d = decision(DecisionKind::Hold, at(41), 0);
    let s0 = state(0);
    let step = |holder| Step {
        release: "r1",
        holder: Some(holder),
        token: None,
        command: None,
        state: &s0,
        decision: &d,
        samples: None,
        events: &[],
    };
    let lost = st.record_step(step("b"));
    assert!(
        matches!(&lost, Err(StoreError::LeaseLost(h)) if h == "a"),
        "{lost:?}"
    );
    st.record_step(step("a")).unwrap();
    assert!(!st.take_over_lease("r1", "c", "b", ttl, at(42)).unwrap());
    assert!(st.take_over_lease("r1", "a", "b", ttl, at(42)).unwrap());
    assert_eq!(st.lease_holder("r1", at(43)).unwrap().as_deref(), Some("b"));
    st.release_lease("r1", "a").unwrap();
    assert_eq!(st.lease_holder("r1", at(43)).unwrap().as_deref(), Some("b"));
    st.release_lease("r1", "b").unwrap();
    assert_eq!(st.lease_holder("r1", at(43)).unwrap(), None);
    assert!(st.acquire_lease("r1", "c", ttl, at(44)).unwrap());
}

/// Queued commands wait, oldest first, until a step or a rejection takes them.
pub fn commands_wait_until_a_step_takes_them<S: StateStore>(st: &mut S) {
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    let pause = Input::Pause { reason: "x".into() };
    let first = st
        .push_command("r1", &pause, "api operator", at(1))
        .unwrap();
    let second = st.push_command("r1", &Input::Resume, "cli", at(2)).unwrap();
    let queued: Vec<_> = st
        .events(Some("r1"))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::CommandQueued(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(queued.len(), 2);
    assert_eq!(
        (queued[0].id, &queued[0].by),
        (first, &"api operator".to_string())
    );
    assert_eq!(queued[0].command, pause);
    let next = st.next_command("r1").unwrap();
    assert_eq!(
        next,
        Some(QueuedCommand::Input {
            id: first,
            input: pause.clone()
        })
    );
    assert_eq!(st.next_command("r1").unwrap(), next, "not taken by looking");
    assert_eq!(st.next_command("r2").unwrap(), None);
    st.acquire_lease("r1", "a", Duration::from_secs(30), at(3))
        .unwrap();
    let d = decision(DecisionKind::Pause, at(3), 0);
    let s0 = state(0);
    let step = |holder, command| Step {
        release: "r1",
        holder: Some(holder),
        token: None,
        command: Some(command),
        state: &s0,
        decision: &d,
        samples: None,
        events: &[],
    };
    st.record_step(step("a", first)).unwrap();
    assert_eq!(st.next_command("r1").unwrap().map(|c| c.id()), Some(second));
    // Nothing is taken by a step that may not record.
    assert!(st.record_step(step("b", second)).is_err());
    assert_eq!(st.next_command("r1").unwrap().map(|c| c.id()), Some(second));
    st.reject_command(second, at(4)).unwrap();
    assert_eq!(st.next_command("r1").unwrap(), None);
}

/// A reader's cursor moves only from where the mover says it is.
pub fn cursors_move_by_compare_and_set<S: StateStore>(st: &mut S) {
    assert_eq!(st.cursor("webhooks:r1").unwrap(), 0);
    assert!(st.advance_cursor("webhooks:r1", 0, 4).unwrap());
    assert!(
        !st.advance_cursor("webhooks:r1", 0, 6).unwrap(),
        "moved first"
    );
    assert_eq!(st.cursor("webhooks:r1").unwrap(), 4);
    assert!(st.advance_cursor("webhooks:r1", 4, 6).unwrap());
    assert_eq!(st.cursor("webhooks:r1").unwrap(), 6);
    assert_eq!(st.cursor("webhooks:r2").unwrap(), 0);
}

/// Samples of several releases come back as one series in time order.
pub fn samples_of_several_releases_merge_by_time<S: StateStore>(st: &mut S) {
    let key = "canary/error_rate";
    for (i, r) in ["r1", "r2", "r3"].iter().enumerate() {
        st.create_rollout(r, &plan("d"), &state(0), at(0)).unwrap();
        for s in 0..3 {
            let obs: Observation = [(
                key.to_string(),
                Measurement::value((10 * i + s) as f64, 100),
            )]
            .into();
            // r1 at 0, 3, 6 s; r2 at 1, 4, 7 s: the merge interleaves them.
            let d = decision(DecisionKind::Hold, at(3 * s as i64 + i as i64), 0);
            st.record_step(Step {
                release: r,
                holder: None,
                token: None,
                command: None,
                state: &state(0),
                decision: &d,
                samples: Some(&obs),
                events: &[],
            })
            .unwrap();
        }
    }
    let both = st
        .sample_values(&["r2".into(), "r1".into()], key, at(0), at(100))
        .unwrap();
    let values: Vec<f64> = both.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
    let window = st.sample_values(&["r1".into()], key, at(3), at(5)).unwrap();
    assert_eq!(window, vec![(at(3), 1.0)]);
    assert!(st
        .sample_values(&["r1".into()], "other", at(0), at(100))
        .unwrap()
        .is_empty());
}

/// A lease's token stays while its holder renews it and grows every time it passes to a
/// holder: after a release, after an expiry (to the same holder too), on a take-over.
pub fn fencing_tokens_never_go_backwards<S: StateStore>(st: &mut S) {
    let ttl = Duration::from_secs(30);
    let t1 = st.lease_acquire("r1", "a", ttl, at(0)).unwrap().unwrap();
    assert_eq!(
        st.lease_acquire("r1", "a", ttl, at(10)).unwrap(),
        Some(t1),
        "renewal"
    );
    assert_eq!(st.lease_acquire("r1", "b", ttl, at(20)).unwrap(), None);
    assert_eq!(
        st.lease("r1", at(20)).unwrap(),
        Some(Lease {
            holder: "a".into(),
            token: t1,
            expires_at: at(40)
        })
    );
    st.release_lease("r1", "a").unwrap();
    assert_eq!(st.lease("r1", at(21)).unwrap(), None, "released");
    let t2 = st.lease_acquire("r1", "a", ttl, at(21)).unwrap().unwrap();
    assert!(t2 > t1, "re-acquired after a release: {t2} > {t1}");
    // Expired, then taken again by the same holder: a new token all the same.
    let t3 = st.lease_acquire("r1", "a", ttl, at(60)).unwrap().unwrap();
    assert!(t3 > t2, "re-acquired after expiry: {t3} > {t2}");
    let t4 = st
        .lease_take_over("r1", "a", "b", ttl, at(61))
        .unwrap()
        .unwrap();
    assert!(t4 > t3, "taken over: {t4} > {t3}");
    assert_eq!(
        st.lease_take_over("r1", "a", "c", ttl, at(62)).unwrap(),
        None
    );
    let t5 = st.lease_acquire("r1", "c", ttl, at(100)).unwrap().unwrap();
    assert!(t5 > t4, "after b's expiry: {t5} > {t4}");
    assert!(st.acquire_lease("r1", "c", ttl, at(101)).unwrap());
    assert_eq!(st.lease("r1", at(101)).unwrap().unwrap().token, t5);
    // Leases are counted per name.
    assert!(st.lease_acquire("r2", "a", ttl, at(0)).unwrap().is_some());
}

/// A step or an event fenced with a token the lease no longer carries is refused whole.
pub fn a_stale_token_writes_nothing<S: StateStore>(st: &mut S) {
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    let ttl = Duration::from_secs(30);
    let old = st.lease_acquire("r1", "a", ttl, at(0)).unwrap().unwrap();
    // a's lease expires and a takes it again: its old token is stale, its holder name is not.
    let new = st.lease_acquire("r1", "a", ttl, at(40)).unwrap().unwrap();
    let d = decision(DecisionKind::Hold, at(41), 0);
    let s5 = state(5);
    let obs: Observation = [("canary/error_rate".to_string(), Measurement::value(0.5, 10))].into();
    let ack = Event::OncallAcked(OncallAcked { by: "a".into() });
    let step = |token| Step {
        release: "r1",
        holder: Some("a"),
        token: Some(token),
        command: None,
        state: &s5,
        decision: &d,
        samples: Some(&obs),
        events: std::slice::from_ref(&ack),
    };
    let before = st.events(None).unwrap();
    let lost = st.record_step(step(old));
    assert!(matches!(&lost, Err(StoreError::LeaseLost(_))), "{lost:?}");
    let fence = |token| Some(Fence { holder: "a", token });
    let lost = st.append_fenced("r1", &ack, at(41), fence(old));
    assert!(matches!(&lost, Err(StoreError::LeaseLost(_))), "{lost:?}");
    let lost = st.append_fenced(
        "r1",
        &ack,
        at(41),
        Some(Fence {
            holder: "b",
            token: new,
        }),
    );
    assert!(
        matches!(&lost, Err(StoreError::LeaseLost(h)) if h == "a"),
        "{lost:?}"
    );
    assert_eq!(st.events(None).unwrap(), before, "nothing appended");
    assert!(st.decisions("r1").unwrap().is_empty());
    assert_eq!(st.rollout("r1").unwrap().unwrap().state, state(0));
    let samples = st.sample_values(&["r1".into()], "canary/error_rate", at(0), at(100));
    assert!(samples.unwrap().is_empty());
    // The current token writes.
    st.record_step(step(new)).unwrap();
    let e = st.append_fenced("r1", &ack, at(42), fence(new)).unwrap();
    assert_eq!(e.seq, st.last_seq(None).unwrap());
    assert_eq!(st.rollout("r1").unwrap().unwrap().state, state(5));
    // Released: no token writes any more.
    st.release_lease("r1", "a").unwrap();
    let lost = st.append_fenced("r1", &ack, at(43), fence(new));
    assert!(
        matches!(&lost, Err(StoreError::LeaseLost(h)) if h == "nobody"),
        "{lost:?}"
    );
    assert!(st.verify_chain().unwrap().ok);
}

/// One renewal extends every live lease of a holder, tokens unchanged, and no one else's.
pub fn a_holder_renews_all_its_leases_at_once<S: StateStore>(st: &mut S) {
    let ttl = Duration::from_secs(30);
    let mut tokens = vec![];
    for r in ["r1", "r2", "r3"] {
        tokens.push(st.lease_acquire(r, "a", ttl, at(0)).unwrap().unwrap());
    }
    st.lease_acquire("r4", "b", ttl, at(0)).unwrap().unwrap();
    st.lease_acquire("r5", "a", Duration::from_secs(5), at(0))
        .unwrap()
        .unwrap();
    st.release_lease("r3", "a").unwrap();
    // r5 expired at 5 s: renewing does not bring it back.
    let renewed = st.renew_leases("a", ttl, at(20)).unwrap();
    let want: Vec<(String, i64)> = vec![("r1".into(), tokens[0]), ("r2".into(), tokens[1])];
    assert_eq!(renewed, want, "what was renewed, with its token");
    for (r, token) in ["r1", "r2"].iter().zip(&tokens) {
        let l = st.lease(r, at(45)).unwrap().unwrap();
        assert_eq!(
            (l.holder.as_str(), l.token, l.expires_at),
            ("a", *token, at(50))
        );
    }
    assert_eq!(st.lease("r3", at(45)).unwrap(), None);
    assert_eq!(st.lease("r4", at(45)).unwrap(), None, "b's is not renewed");
    assert_eq!(st.lease("r5", at(20)).unwrap(), None);
    assert_eq!(st.renew_leases("nobody", ttl, at(20)).unwrap(), vec![]);
}

/// The live leases whose name starts with a prefix (the replicas' heartbeats).
pub fn leases_are_listed_by_prefix<S: StateStore>(st: &mut S) {
    let ttl = Duration::from_secs(30);
    st.lease_acquire("replica:a", "a", ttl, at(0)).unwrap();
    st.lease_acquire("replica:b", "b", Duration::from_secs(5), at(0))
        .unwrap();
    st.lease_acquire("replica:c", "c", ttl, at(0)).unwrap();
    st.release_lease("replica:c", "c").unwrap();
    st.lease_acquire("r1", "a", ttl, at(0)).unwrap();
    st.lease_acquire("replica_x", "x", ttl, at(0)).unwrap();
    let names = |prefix, t| -> Vec<String> {
        st.leases(prefix, at(t))
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    assert_eq!(names("replica:", 1), ["replica:a", "replica:b"]);
    assert_eq!(names("replica:", 10), ["replica:a"], "b expired");
    assert_eq!(names("", 10), ["r1", "replica:a", "replica_x"]);
    assert!(names("zzz", 1).is_empty());
    let (_, lease) = &st.leases("replica:a", at(1)).unwrap()[0];
    assert_eq!((lease.holder.as_str(), lease.expires_at), ("a", at(30)));
}

/// Pruning forgets old samples only: decisions and the event log stay whole.
pub fn samples_are_pruned_and_decisions_kept<S: StateStore>(st: &mut S) {
    let key = "canary/error_rate";
    st.create_rollout("r1", &plan("d"), &state(0), at(0))
        .unwrap();
    for s in 0..4 {
        let obs: Observation = [(key.to_string(), Measurement::value(s as f64, 100))].into();
        st.record_step(Step {
            release: "r1",
            holder: None,
            token: None,
            command: None,
            state: &state(0),
            decision: &decision(DecisionKind::Hold, at(10 * s), 0),
            samples: Some(&obs),
            events: &[],
        })
        .unwrap();
    }
    let events = st.events(None).unwrap();
    assert_eq!(st.prune_samples(at(20)).unwrap(), 2);
    assert_eq!(st.prune_samples(at(20)).unwrap(), 0);
    let left = st
        .sample_values(&["r1".into()], key, at(0), at(100))
        .unwrap();
    assert_eq!(left, vec![(at(20), 2.0), (at(30), 3.0)]);
    assert_eq!(st.decisions("r1").unwrap().len(), 4);
    assert_eq!(st.events(None).unwrap(), events);
    assert!(st.verify_chain().unwrap().ok);
}

/// `phases` names every rollout's phase in the order of `releases`, as decoding each rollout
/// does (the trait's default), the phase a step left included.
pub fn phases_are_read_without_decoding_rollouts<S: StateStore>(st: &mut S) {
    use shiploop_rollout::Phase;
    assert_eq!(st.phases().unwrap(), vec![]);
    let why = || "because".to_string();
    let every = [
        Phase::Pending,
        Phase::Progressing,
        Phase::Paused { reason: why() },
        Phase::RollingBack { reason: why() },
        Phase::RolledBack { reason: why() },
        Phase::Completing,
        Phase::Completed,
        Phase::Failed { reason: why() },
    ];
    // Created newest name first: the order is by creation, not by name.
    for (i, phase) in every.iter().enumerate() {
        let mut s = state(0);
        s.phase = phase.clone();
        let release = format!("r{}", every.len() - i);
        st.create_rollout(&release, &plan("d"), &s, at(i as i64))
            .unwrap();
    }
    let mut moved = state(5);
    moved.phase = Phase::Progressing;
    st.record_step(Step {
        release: "r8",
        holder: None,
        token: None,
        command: None,
        state: &moved,
        decision: &decision(DecisionKind::Start, at(20), 5),
        samples: None,
        events: &[],
    })
    .unwrap();
    let phases = st.phases().unwrap();
    let names: Vec<(&str, &str)> = phases
        .iter()
        .map(|(r, p)| (r.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("r8", "progressing"),
            ("r7", "progressing"),
            ("r6", "paused"),
            ("r5", "rolling-back"),
            ("r4", "rolled-back"),
            ("r3", "completing"),
            ("r2", "completed"),
            ("r1", "failed"),
        ]
    );
    assert_eq!(phases, crate::state_store::phases_by_rollout(st).unwrap());
}
