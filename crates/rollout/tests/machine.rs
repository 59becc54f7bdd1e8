//! The state machine, driven with a fake clock: every instant is passed in.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod support;
use support::*;

use chrono::{DateTime, Duration as CDuration, Utc};
use shiploop_rollout::machine::Step;
use shiploop_rollout::measure::{self, Measurement, Observation};
use shiploop_rollout::{DecisionKind, Effect, Input, Phase, Plan, RollbackCause, Rollout};

struct Run {
    plan: Plan,
    r: Rollout,
    now: DateTime<Utc>,
    weights: Vec<u8>,
    log: Vec<Step>,
}

impl Run {
    fn start(plan: Plan) -> Run {
        let mut run = Run {
            plan,
            r: Rollout::new(),
            now: t0(),
            weights: vec![],
            log: vec![],
        };
        run.input(Input::Start);
        run
    }

    /// Applies an input; a router that does as it is told confirms completion at once.
    fn input(&mut self, input: Input) -> DecisionKind {
        let step = self.r.step(&self.plan, self.now, input);
        let mut completed = false;
        for e in &step.effects {
            match e {
                Effect::SetWeight { weight, .. } => self.weights.push(*weight),
                Effect::RollBack => self.weights.push(0),
                Effect::Complete => completed = true,
            }
        }
        let kind = step.decision.kind;
        self.log.push(step);
        if completed {
            let ack = self.r.step(&self.plan, self.now, Input::Promoted);
            assert_eq!(ack.decision.kind, DecisionKind::Completed);
        }
        kind
    }

    fn tick_after(&mut self, secs: i64, obs: Observation) -> DecisionKind {
        self.now += CDuration::seconds(secs);
        self.input(Input::Tick { observation: obs })
    }

    /// Ticks every 30 s with `obs` until a decision other than Hold, at most `max` ticks.
    fn until_change(&mut self, obs: &Observation, max: usize) -> DecisionKind {
        for _ in 0..max {
            let k = self.tick_after(30, obs.clone());
            if k != DecisionKind::Hold {
                return k;
            }
        }
        DecisionKind::Hold
    }

    fn last_reason(&self) -> &str {
        &self.log.last().unwrap().decision.reason
    }

    fn elapsed_since_start(&self) -> i64 {
        (self.now - t0()).num_seconds()
    }
}

#[test]
fn a_healthy_release_walks_every_stage_and_honours_durations() {
    let mut run = Run::start(plan());
    assert_eq!(run.weights, vec![5]);
    // 10 minutes of canary: 19 ticks of 30 s hold, the 20th promotes.
    for _ in 0..19 {
        assert_eq!(run.tick_after(30, healthy()), DecisionKind::Hold);
    }
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Promote);
    assert_eq!(run.elapsed_since_start(), 600);
    assert_eq!(run.until_change(&healthy(), 1000), DecisionKind::Promote);
    assert_eq!(run.elapsed_since_start(), 600 + 1800);
    assert_eq!(run.until_change(&healthy(), 1000), DecisionKind::Complete);
    assert_eq!(run.elapsed_since_start(), 600 + 1800 + 3600);
    assert_eq!(run.weights, vec![5, 25, 50, 100]);
    assert_eq!(run.r.phase, Phase::Completed);
    assert!(run.log.last().unwrap().effects.contains(&Effect::Complete));
    assert_eq!(run.r.weight, 100);
}

fn fires(obs: Observation) -> bool {
    let mut run = Run::start(plan());
    run.tick_after(30, obs) == DecisionKind::Rollback
}

#[test]
fn error_rate_rolls_back_on_evidence_of_more_than_the_margin() {
    // stable 0.2 %; margin +1 pp. Exactly at the margin is never a regression.
    assert!(!fires(canary_errors(240)));
    assert!(fires(canary_errors(1000)));
    let mut run = Run::start(plan());
    run.tick_after(30, canary_errors(1000));
    assert!(
        run.last_reason().contains(
            "automatic rollback (error-rate): canary errors 1,000/20,000 (5.00 %) vs stable 200/100,000 (0.20 %): +4.80 pp, above the 1 pp margin with 99 % confidence"
        ),
        "{}",
        run.last_reason()
    );
    assert_eq!(run.weights, vec![5, 0]);
    let d = &run.log.last().unwrap().decision;
    assert_eq!(d.rollback_cause, Some(RollbackCause::ErrorRate));
    let evidence = d.findings[0].judge.as_ref().expect("the judge's numbers");
    assert_eq!(
        (evidence.canary.requests, evidence.canary.errors),
        (20_000, 1000)
    );
    assert!(evidence.regression >= evidence.regression_needed);
}

#[test]
fn p99_rolls_back_when_more_than_one_percent_is_slower_than_twice_the_target() {
    assert!(!fires(with(
        measure::CANARY_SLOW,
        Measurement::value(100.0, 1)
    )));
    assert!(fires(with(
        measure::CANARY_SLOW,
        Measurement::value(600.0, 1)
    )));
    let mut run = Run::start(plan());
    run.tick_after(30, with(measure::CANARY_SLOW, Measurement::value(600.0, 1)));
    assert!(
        run.last_reason().contains(
            "canary requests slower than 600ms: 600/20,000 (3.00 %), more than the 1 % a p99 of 600ms allows, with 99 % confidence"
        ),
        "{}",
        run.last_reason()
    );
}

#[test]
fn health_checks_fire_above_the_failure_rate() {
    assert!(!fires(with(
        measure::CANARY_FAILED_INSTANCES,
        Measurement::value(0.20, 5)
    )));
    assert!(fires(with(
        measure::CANARY_FAILED_INSTANCES,
        Measurement::value(0.40, 5)
    )));
}

#[test]
fn a_critical_security_alert_fires() {
    assert!(!fires(with(
        measure::CRITICAL_SECURITY_ALERTS,
        Measurement::value(0.0, 1)
    )));
    assert!(fires(with(
        measure::CRITICAL_SECURITY_ALERTS,
        Measurement::value(1.0, 1)
    )));
}

#[test]
fn a_failed_data_integrity_check_fires() {
    assert!(!fires(with(
        &measure::integrity("orders"),
        Measurement::value(1.0, 1)
    )));
    assert!(fires(with(
        &measure::integrity("orders"),
        Measurement::value(0.0, 1)
    )));
}

/// 49 canary requests without an error: far too few to tell anything.
fn few() -> Observation {
    let mut o = healthy();
    o.extend(counts((49, 0), (931, 1)));
    o.insert(measure::CANARY_SLOW.into(), Measurement::value(0.0, 1));
    o.insert(
        measure::CANARY_SLOW_TARGET.into(),
        Measurement::value(0.0, 1),
    );
    o
}

#[test]
fn no_data_or_too_little_evidence_holds_then_pauses_for_a_person() {
    for obs in [
        with(&measure::requests("canary"), Measurement::NoData),
        few(),
        with(measure::CANARY_FAILED_INSTANCES, Measurement::NoData),
    ] {
        let mut run = Run::start(plan());
        // Well past the 10 minute canary: still holding, never promoting.
        for _ in 0..40 {
            assert_eq!(run.tick_after(30, obs.clone()), DecisionKind::Hold);
        }
        assert_eq!(run.weights, vec![5]);
        assert!(
            run.last_reason().contains("holding until checks pass"),
            "{}",
            run.last_reason()
        );
        // After duration + max_hold (10m + 15m) without enough evidence: never a rollback,
        // a pause for a person that says what would settle it.
        assert_eq!(run.until_change(&obs, 100), DecisionKind::Pause);
        assert_eq!(run.elapsed_since_start(), 25 * 60);
        assert_eq!(run.weights, vec![5]);
        let d = &run.log.last().unwrap().decision;
        assert_eq!(
            d.pause_cause,
            Some(shiploop_rollout::PauseCause::Inconclusive)
        );
        assert!(
            d.reason
                .starts_with("inconclusive: canary at 5 %: no decision on the evidence after 25m"),
            "{}",
            d.reason
        );
        assert!(
            d.reason.contains("resume to collect for another 15m"),
            "{}",
            d.reason
        );
        // Triggers still watch while it waits; resuming gives it another max_hold.
        assert_eq!(run.tick_after(30, obs.clone()), DecisionKind::Hold);
        assert_eq!(run.input(Input::Resume), DecisionKind::Resume);
        for _ in 0..29 {
            assert_eq!(run.tick_after(30, obs.clone()), DecisionKind::Hold);
        }
        assert_eq!(run.tick_after(30, obs.clone()), DecisionKind::Pause);
    }
}

#[test]
fn too_few_requests_says_how_many_more_would_settle_it() {
    let mut run = Run::start(plan());
    assert_eq!(run.until_change(&few(), 100), DecisionKind::Pause);
    let reason = run.last_reason().to_string();
    assert!(reason.contains("49 canary requests"), "{reason}");
    assert!(
        reason.contains("more canary requests would settle it"),
        "{reason}"
    );
}

#[test]
fn the_inconclusive_policy_can_promote_or_roll_back_instead() {
    let obs = with(&measure::requests("canary"), Measurement::NoData);
    let mut p = plan();
    p.settings.inconclusive = shiploop_rollout::plan::Inconclusive::Promote;
    let mut run = Run::start(p);
    assert_eq!(run.until_change(&obs, 100), DecisionKind::Promote);
    assert_eq!(run.elapsed_since_start(), 25 * 60);
    assert!(
        run.last_reason()
            .starts_with("promoted without the evidence (judge.inconclusive = \"promote\")"),
        "{}",
        run.last_reason()
    );
    let mut p = plan();
    p.settings.inconclusive = shiploop_rollout::plan::Inconclusive::Rollback;
    let mut run = Run::start(p);
    assert_eq!(run.until_change(&obs, 100), DecisionKind::Rollback);
    let d = &run.log.last().unwrap().decision;
    assert_eq!(d.rollback_cause, Some(RollbackCause::Inconclusive));
}

/// The plan with `resource-usage` as a user-defined check: canary/cpu < 0.8.
fn with_cpu_check() -> Plan {
    let mut p = plan();
    p.checks.insert(
        "resource-usage".into(),
        shiploop_rollout::CheckDef {
            metric: "cpu".into(),
            condition: "< 0.8".parse().unwrap(),
            min_samples: 1,
        },
    );
    p
}

#[test]
fn a_failing_check_still_rolls_back_at_max_hold() {
    // A user-defined check that fails now and then (never three times in a row) is a failure,
    // not a lack of evidence.
    let p = with_cpu_check();
    let mut run = Run::start(p);
    let (nodata, bad) = (
        with("canary/cpu", Measurement::NoData),
        with("canary/cpu", Measurement::value(0.9, 3)),
    );
    let mut k = DecisionKind::Hold;
    for i in 0..100 {
        // Failing on odd ticks, no data on even ones: never three failures in a row, never
        // passing; the deadline (tick 50) falls on a failure.
        k = run.tick_after(
            30,
            if i % 2 == 1 {
                bad.clone()
            } else {
                nodata.clone()
            },
        );
        if k != DecisionKind::Hold {
            break;
        }
    }
    assert_eq!(k, DecisionKind::Rollback);
    assert!(
        run.last_reason().contains("checks did not pass within"),
        "{}",
        run.last_reason()
    );
}

#[test]
fn consecutive_metric_errors_roll_back_at_the_limit() {
    let err = with(
        measure::CANARY_SLOW,
        Measurement::error("connection refused"),
    );
    let mut run = Run::start(plan());
    for _ in 0..3 {
        assert_eq!(run.tick_after(30, err.clone()), DecisionKind::Hold);
    }
    // A good tick resets the count.
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Hold);
    for _ in 0..3 {
        assert_eq!(run.tick_after(30, err.clone()), DecisionKind::Hold);
    }
    assert_eq!(run.tick_after(30, err), DecisionKind::Rollback);
    assert!(
        run.last_reason()
            .contains("4 consecutive ticks with metric errors (limit 4)"),
        "{}",
        run.last_reason()
    );
    assert!(run.last_reason().contains("connection refused"));
}

#[test]
fn the_latency_check_fails_on_evidence_that_p99_is_over_the_target() {
    // 3 % of requests over the 300ms target, none over 2 × target: the check, not the trigger.
    let slow = with(measure::CANARY_SLOW_TARGET, Measurement::value(600.0, 1));
    let mut run = Run::start(plan());
    assert_eq!(run.tick_after(30, slow), DecisionKind::Rollback);
    assert!(
        run.last_reason().contains(
            "stage check latency failed: canary requests slower than 300ms: 600/20,000 (3.00 %), more than the 1 % a p99 of 300ms allows, with 99 % confidence"
        ),
        "{}",
        run.last_reason()
    );
    let d = &run.log.last().unwrap().decision;
    assert_eq!(d.rollback_cause, Some(RollbackCause::StageCheck));
    // 1.2 % over the target in 20,000 requests is not proof: it holds.
    let mut run = Run::start(plan());
    let marginal = with(measure::CANARY_SLOW_TARGET, Measurement::value(240.0, 1));
    assert_eq!(run.tick_after(30, marginal), DecisionKind::Hold);
}

#[test]
fn a_user_check_rolls_back_after_the_failure_limit() {
    let p = with_cpu_check();
    let bad = with("canary/cpu", Measurement::value(0.9, 3));
    let mut run = Run::start(p);
    assert_eq!(run.tick_after(30, bad.clone()), DecisionKind::Hold);
    assert_eq!(run.tick_after(30, bad.clone()), DecisionKind::Hold);
    assert_eq!(run.tick_after(30, bad), DecisionKind::Rollback);
    assert!(
        run.last_reason()
            .contains("stage check resource-usage failed 3 consecutive times"),
        "{}",
        run.last_reason()
    );
}

#[test]
fn pause_stops_the_clock_resume_reasserts_the_weight() {
    let mut run = Run::start(plan());
    for _ in 0..10 {
        run.tick_after(30, healthy());
    }
    assert_eq!(
        run.input(Input::Pause {
            reason: "investigating a ticket".into()
        }),
        DecisionKind::Pause
    );
    // An hour paused: holds, and the time does not count.
    for _ in 0..120 {
        assert_eq!(run.tick_after(30, healthy()), DecisionKind::Hold);
    }
    assert!(run.last_reason().contains("paused: investigating a ticket"));
    // Triggers still fire while paused.
    let mut other = Run::start(plan());
    other.input(Input::Pause { reason: "x".into() });
    assert_eq!(
        other.tick_after(
            30,
            with(
                measure::CRITICAL_SECURITY_ALERTS,
                Measurement::value(2.0, 1)
            )
        ),
        DecisionKind::Rollback
    );

    assert_eq!(run.input(Input::Resume), DecisionKind::Resume);
    assert_eq!(run.weights, vec![5, 5]);
    // 5 minutes were watched before the pause; 5 more are needed.
    for _ in 0..9 {
        assert_eq!(run.tick_after(30, healthy()), DecisionKind::Hold);
    }
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Promote);
    assert_eq!(run.input(Input::Resume), DecisionKind::Ignored);
}

#[test]
fn operator_promote_and_abort() {
    let mut run = Run::start(plan());
    assert_eq!(
        run.input(Input::Promote {
            reason: "internal users happy".into()
        }),
        DecisionKind::Promote
    );
    assert_eq!(run.weights, vec![5, 25]);
    assert!(run
        .last_reason()
        .contains("promoted by an operator: internal users happy"));
    assert_eq!(
        run.input(Input::Abort {
            reason: "customer reports of broken checkout".into()
        }),
        DecisionKind::Rollback
    );
    assert_eq!(run.weights, vec![5, 25, 0]);
    // Until the router confirms, ticks keep asking for the rollback.
    run.now += CDuration::seconds(30);
    let step = run.r.step(
        &run.plan,
        run.now,
        Input::Tick {
            observation: healthy(),
        },
    );
    assert_eq!(step.effects, vec![Effect::RollBack]);
    assert_eq!(run.input(Input::RolledBack), DecisionKind::RolledBack);
    assert!(
        matches!(&run.r.phase, Phase::RolledBack { reason } if reason.contains("manual rollback: customer reports"))
    );
    assert_eq!(
        run.input(Input::Promote { reason: "x".into() }),
        DecisionKind::Ignored
    );
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Ignored);
}

#[test]
fn completion_waits_for_the_router_and_is_retried() {
    let mut p = hotfix_plan();
    p.stages[0].duration = Some(mins(1));
    let mut r = Rollout::new();
    let now = t0();
    r.step(&p, now, Input::Start);
    let mut step = r.step(
        &p,
        now + CDuration::seconds(30),
        Input::Tick {
            observation: healthy(),
        },
    );
    assert_eq!(step.decision.kind, DecisionKind::Hold);
    step = r.step(
        &p,
        now + CDuration::seconds(60),
        Input::Tick {
            observation: healthy(),
        },
    );
    assert_eq!(step.decision.kind, DecisionKind::Complete);
    assert_eq!(
        r.phase,
        Phase::Completing,
        "not completed until the router confirms"
    );
    assert!(!r.phase.is_terminal());
    // The router fails: the next tick asks again.
    assert_eq!(
        r.step(
            &p,
            now,
            Input::PromoteFailed {
                error: "503".into()
            }
        )
        .decision
        .kind,
        DecisionKind::Hold
    );
    let again = r.step(
        &p,
        now + CDuration::seconds(90),
        Input::Tick {
            observation: healthy(),
        },
    );
    assert_eq!(again.effects, vec![Effect::Complete]);
    assert_eq!(
        r.step(&p, now, Input::Promoted).decision.kind,
        DecisionKind::Completed
    );
    assert_eq!(r.phase, Phase::Completed);
}

#[test]
fn exactly_at_the_limits_holds() {
    // 7 % vs 6 %: exactly the 1 pp margin, which 0.07 - 0.06 overshoots by 1e-17.
    assert!(!fires(counts((20_000, 1400), (100_000, 6000))));
    assert!(!fires(with(
        measure::CANARY_FAILED_INSTANCES,
        Measurement::value(0.2, 5)
    )));
}

#[test]
fn a_corrupt_stage_index_fails_instead_of_panicking() {
    let mut run = Run::start(plan());
    run.r.stage = 9;
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Failed);
}

#[test]
fn a_router_that_cannot_roll_back_ends_in_failed() {
    let mut run = Run::start(plan());
    run.input(Input::Abort { reason: "x".into() });
    for _ in 0..3 {
        assert_eq!(
            run.input(Input::RollbackFailed {
                error: "nginx -t failed".into()
            }),
            DecisionKind::Rollback
        );
    }
    assert_eq!(
        run.input(Input::RollbackFailed {
            error: "nginx -t failed".into()
        }),
        DecisionKind::Failed
    );
    assert!(run.r.phase.is_terminal());
}

#[test]
fn the_hotfix_path_goes_canary_then_full() {
    let mut run = Run::start(hotfix_plan());
    assert_eq!(run.until_change(&healthy(), 100), DecisionKind::Complete);
    assert_eq!(run.elapsed_since_start(), 300);
    assert_eq!(run.weights, vec![5, 100]);
}

#[test]
fn a_final_stage_with_a_window_completes_when_it_ends() {
    let mut run = Run::start(hotfix_validated_plan());
    assert_eq!(run.until_change(&healthy(), 100), DecisionKind::Promote);
    assert_eq!(run.weights, vec![5, 100]);
    assert_eq!(run.until_change(&healthy(), 100), DecisionKind::Complete);
    assert_eq!(run.elapsed_since_start(), 5 * 60 + 15 * 60);
    assert_eq!(run.r.phase, Phase::Completed);
}

#[test]
fn unconfigured_checks_block_only_when_strict() {
    let mut p = plan();
    p.settings.strict_checks = true;
    let mut run = Run::start(p);
    for _ in 0..20 {
        run.tick_after(30, healthy());
    }
    assert_eq!(run.weights, vec![5]);
    assert!(
        run.last_reason().contains("check:resource-usage"),
        "{}",
        run.last_reason()
    );
}

#[test]
fn time_nobody_watched_does_not_count() {
    let mut run = Run::start(plan());
    run.tick_after(30, healthy());
    // The controller was down for an hour: at most max_tick_gap (60 s) counts.
    assert_eq!(run.tick_after(3600, healthy()), DecisionKind::Hold);
    assert_eq!(run.r.elapsed().as_secs(), 90);
}

#[test]
fn after_a_restart_the_time_since_the_last_tick_is_not_watched() {
    let mut run = Run::start(plan());
    run.tick_after(30, healthy());
    // The controller died and a new one took over 45 s later (less than max_tick_gap).
    run.r.lost_sight();
    assert_eq!(run.tick_after(45, healthy()), DecisionKind::Hold);
    assert_eq!(run.r.elapsed().as_secs(), 30, "{}", run.last_reason());
    run.tick_after(30, healthy());
    assert_eq!(run.r.elapsed().as_secs(), 60);

    // Killed during a promotion's router call, resumed 5 s later: the new stage starts at 0.
    let mut run = Run::start(plan());
    assert_eq!(run.until_change(&healthy(), 100), DecisionKind::Promote);
    run.now += CDuration::seconds(5);
    run.r.lost_sight();
    assert_eq!(run.tick_after(1, healthy()), DecisionKind::Hold);
    assert_eq!(run.r.elapsed().as_millis(), 0, "{}", run.last_reason());
    assert!(run.last_reason().contains("0s of"), "{}", run.last_reason());

    // A paused rollout whose controller died: neither the pause nor the dead time counts.
    let mut run = Run::start(plan());
    run.tick_after(30, healthy());
    run.input(Input::Pause { reason: "x".into() });
    run.tick_after(30, healthy());
    run.now += CDuration::minutes(50);
    run.r.lost_sight();
    assert_eq!(run.tick_after(30, healthy()), DecisionKind::Hold);
    assert_eq!(run.input(Input::Resume), DecisionKind::Resume);
    run.tick_after(30, healthy());
    assert_eq!(run.r.elapsed().as_secs(), 60);
}

#[test]
fn at_100_percent_the_stable_rate_seen_before_stands_in_for_stable() {
    let mut p = plan();
    p.stages[3].duration = Some(mins(15));
    let mut run = Run::start(p);
    run.input(Input::Promote { reason: "a".into() });
    run.input(Input::Promote { reason: "b".into() });
    run.input(Input::Promote { reason: "c".into() });
    assert_eq!(run.weights, vec![5, 25, 50, 100]);
    let mut at_full = canary_errors(1000);
    at_full.remove(&measure::requests("stable"));
    at_full.remove(&measure::errors("stable"));
    // No stable rate was ever measured in this run: nothing to compare with, it holds.
    assert_eq!(run.tick_after(30, at_full.clone()), DecisionKind::Hold);
    assert!(
        run.last_reason()
            .contains("no stable traffic was measured to compare with"),
        "{}",
        run.last_reason()
    );
    let mut run = Run::start(plan());
    run.tick_after(30, healthy());
    run.input(Input::Promote { reason: "a".into() });
    run.input(Input::Promote { reason: "b".into() });
    run.plan.stages[3].duration = Some(mins(15));
    run.input(Input::Promote { reason: "c".into() });
    assert_eq!(run.tick_after(30, at_full), DecisionKind::Rollback);
    assert!(
        run.last_reason().contains(
            "vs the stable version's 0.20 % before this stage: +4.80 pp, above the 1 pp margin"
        ),
        "{}",
        run.last_reason()
    );
}

#[test]
fn a_running_counter_is_read_across_stages() {
    // ship's proxy counts from its own start: increments, not totals, are the evidence.
    let mut p = plan();
    p.settings.judge.origin = shiploop_judge::Origin::Counter;
    let mut run = Run::start(p);
    let at = |k: u64| {
        let mut o = counts(
            (5_000 + k * 2_000, 10 + k * 4),
            (100_000 + k * 38_000, 200 + k * 76),
        );
        o.insert(measure::CANARY_SLOW.into(), Measurement::value(0.0, 1));
        o.insert(
            measure::CANARY_SLOW_TARGET.into(),
            Measurement::value(0.0, 1),
        );
        o.extend(healthy().into_iter().filter(|(k, _)| {
            !k.contains("requests") && !k.contains("errors") && !k.contains("slow")
        }));
        o
    };
    let mut k = 0;
    while run.r.stage == 0 && k < 100 {
        run.tick_after(30, at(k));
        k += 1;
    }
    assert_eq!(run.r.stage, 1, "promoted on the increments");
    // The first reading was the starting point, not evidence.
    let tally = run.r.judge.stage_tally(0);
    assert_eq!(tally.canary.requests, 2_000 * (k - 1));
}
