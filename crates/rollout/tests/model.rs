//! Model-based test: random sequences of ticks, measurements and operator commands against the
//! state machine, checking the properties that make a rollout safe.

mod support;
use support::*;

use chrono::Duration as CDuration;
use proptest::prelude::*;
use shiploop_rollout::criteria::Outcome;
use shiploop_rollout::measure::{self, Measurement, Observation};
use shiploop_rollout::{DecisionKind, Effect, Input, Phase, Plan, Rollout};

#[derive(Debug, Clone)]
enum Obs {
    Healthy,
    Trigger(usize),
    NoData,
    Error,
    SlowCheck,
    FewSamples,
}

fn observation(o: &Obs) -> Observation {
    match o {
        Obs::Healthy => healthy(),
        Obs::Trigger(i) => match i % 5 {
            0 => with(
                &measure::error_rate("canary"),
                Measurement::value(0.2, 1000),
            ),
            1 => with(measure::CANARY_P99, Measurement::value(2.0, 1000)),
            2 => with(measure::CANARY_FAILED_INSTANCES, Measurement::value(0.6, 5)),
            3 => with(
                measure::CRITICAL_SECURITY_ALERTS,
                Measurement::value(1.0, 1),
            ),
            _ => with(&measure::integrity("orders"), Measurement::value(0.0, 1)),
        },
        Obs::NoData => with(&measure::error_rate("canary"), Measurement::NoData),
        Obs::Error => with(
            measure::CANARY_P99,
            Measurement::Error {
                message: "timeout".into(),
            },
        ),
        Obs::SlowCheck => with(measure::CANARY_P99, Measurement::value(0.45, 1000)),
        Obs::FewSamples => with(&measure::error_rate("canary"), Measurement::value(0.0, 3)),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Tick { secs: i64, obs: Obs },
    Pause,
    Resume,
    Promote,
    Abort,
    RouterAck,
    RouterFail,
    RouterGaveUp,
}

fn obs_strategy() -> impl Strategy<Value = Obs> {
    prop_oneof![
        6 => Just(Obs::Healthy),
        1 => (0usize..5).prop_map(Obs::Trigger),
        1 => Just(Obs::NoData),
        1 => Just(Obs::Error),
        1 => Just(Obs::SlowCheck),
        1 => Just(Obs::FewSamples),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => (1i64..400, obs_strategy()).prop_map(|(secs, obs)| Step::Tick { secs, obs }),
        1 => Just(Step::Pause),
        1 => Just(Step::Resume),
        1 => Just(Step::Promote),
        1 => Just(Step::Abort),
        2 => Just(Step::RouterAck),
        1 => Just(Step::RouterFail),
        1 => Just(Step::RouterGaveUp),
    ]
}

/// Applies one input and checks the per-step properties.
fn apply(
    plan: &Plan,
    r: &mut Rollout,
    now: chrono::DateTime<chrono::Utc>,
    input: Input,
) -> Result<(), TestCaseError> {
    let before = r.clone();
    let operator = matches!(input, Input::Promote { .. });
    let rollback_input = matches!(input, Input::Abort { .. } | Input::ValidationFailed { .. });
    let step = r.step(plan, now, input);
    let d = &step.decision;
    // Terminal states never change — except that a completed rollout can still be rolled back
    // (post-deployment validation failed, or a person aborts during it), and only to 0 %.
    if before.phase == Phase::Completed && rollback_input {
        prop_assert!(
            matches!(r.phase, Phase::RollingBack { .. }),
            "{:?}",
            r.phase
        );
        prop_assert_eq!(r.weight, 0);
        prop_assert_eq!(&step.effects, &vec![Effect::RollBack]);
    } else if before.phase.is_terminal() {
        prop_assert_eq!(&before, &*r);
        prop_assert!(step.effects.is_empty());
    }
    // Never skip a stage, never go back.
    prop_assert!(
        r.stage == before.stage || r.stage == before.stage + 1,
        "stage {} -> {}",
        before.stage,
        r.stage
    );
    // An automatic promotion happens only when every trigger and check passed at that tick.
    if matches!(d.kind, DecisionKind::Promote | DecisionKind::Complete) && !operator {
        for f in &d.findings {
            let ok = f.outcome == Outcome::Pass
                || (f.outcome == Outcome::Unconfigured && !plan.settings.strict_checks)
                || (f.outcome == Outcome::Unconfigured && f.name.starts_with("trigger:"));
            prop_assert!(ok, "promoted past {:?}", f);
        }
    }
    // Completion is only ever reached through the router's confirmation, at 100 %.
    if r.phase == Phase::Completed && before.phase != Phase::Completed {
        prop_assert_eq!(r.weight, 100);
        prop_assert_eq!(before.phase.clone(), Phase::Completing);
    }
    // A rollback always asks the router for 0 % and wants 0 % from then on.
    if d.kind == DecisionKind::Rollback && !before.phase.is_terminal() {
        prop_assert_eq!(r.weight, 0);
    }
    if let Phase::RollingBack { .. } | Phase::RolledBack { .. } = r.phase {
        prop_assert_eq!(r.weight, 0);
    }
    // The decision that starts a rollback, and only that one, says why, from a fixed set
    // (a /metrics label: never free text).
    let rolling = |p: &Phase| matches!(p, Phase::RollingBack { .. });
    let started = rolling(&r.phase) && !rolling(&before.phase);
    prop_assert_eq!(d.rollback_cause.is_some(), started, "{:?}", d);
    if let Some(cause) = &d.rollback_cause {
        let causes = [
            "error-rate",
            "p99-latency",
            "health-checks",
            "critical-security-alert",
            "data-integrity",
            "metric-errors",
            "stage-check",
            "max-hold",
            "router",
            "manual",
            "validation",
        ];
        prop_assert!(causes.contains(&cause.as_str()), "{}", cause);
    }
    // Weights only come from the plan.
    for e in &step.effects {
        if let Effect::SetWeight { weight, .. } = e {
            prop_assert!(plan.stages.iter().any(|s| s.weight == *weight));
        }
    }
    Ok(())
}

fn run(plan: Plan, steps: Vec<Step>, settle: Obs) -> Result<(), TestCaseError> {
    let mut r = Rollout::new();
    let mut now = t0();
    apply(&plan, &mut r, now, Input::Start)?;
    for s in steps {
        let input = match s {
            Step::Tick { secs, obs } => {
                now += CDuration::seconds(secs);
                Input::Tick {
                    observation: observation(&obs),
                }
            }
            Step::Pause => Input::Pause { reason: "p".into() },
            Step::Resume => Input::Resume,
            Step::Promote => Input::Promote {
                reason: "op".into(),
            },
            Step::Abort => Input::Abort {
                reason: "op".into(),
            },
            Step::RouterAck if r.phase == Phase::Completing => Input::Promoted,
            Step::RouterAck => Input::RolledBack,
            Step::RouterFail if r.phase == Phase::Completing => {
                Input::PromoteFailed { error: "e".into() }
            }
            Step::RouterFail => Input::RollbackFailed { error: "e".into() },
            Step::RouterGaveUp => Input::RouterFailing { reason: "r".into() },
        };
        apply(&plan, &mut r, now, input)?;
    }
    // The inputs stop changing: an operator resumes a paused rollout, then the same observation
    // arrives every 30 s and the router does what it is asked. It must end.
    apply(&plan, &mut r, now, Input::Resume)?;
    let total: u64 = plan
        .stages
        .iter()
        .filter_map(|s| s.duration)
        .map(|d| d.as_secs())
        .sum();
    let bound = (total + plan.settings.max_hold.as_secs() * plan.stages.len() as u64) / 30 + 20;
    for _ in 0..bound {
        if r.phase.is_terminal() {
            break;
        }
        if let Phase::RollingBack { .. } = r.phase {
            apply(&plan, &mut r, now, Input::RolledBack)?;
            continue;
        }
        if r.phase == Phase::Completing {
            apply(&plan, &mut r, now, Input::Promoted)?;
            continue;
        }
        now += CDuration::seconds(30);
        apply(
            &plan,
            &mut r,
            now,
            Input::Tick {
                observation: observation(&settle),
            },
        )?;
    }
    prop_assert!(
        r.phase.is_terminal(),
        "not terminal after {bound} steady ticks: {:?}",
        r.phase
    );
    if matches!(settle, Obs::Healthy) && r.phase == Phase::Completed {
        prop_assert_eq!(r.weight, 100);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_rollouts_are_safe_and_always_end(
        steps in proptest::collection::vec(step_strategy(), 0..80),
        settle in obs_strategy(),
        strict in any::<bool>(),
        which in 0u8..3,
    ) {
        let mut plan = match which { 0 => plan(), 1 => hotfix_plan(), _ => hotfix_validated_plan() };
        plan.settings.strict_checks = strict;
        run(plan, steps, settle)?;
    }
}
