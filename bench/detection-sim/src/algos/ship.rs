//! ship's judge, as a rollout runs it with the builtin proxy: the counts are read every
//! second; a regression call rolls back at once; a stage promotes when its duration has passed
//! and every test cleared it; after duration + max_hold without that, it pauses for a person.
//! (`shiploop-rollout`'s state machine does the same with the same crate; this driver skips
//! its records and sentences, which a million simulated rollouts do not need.)

use crate::rollout::{Algorithm, Ctx, Decision, Plan};
use crate::stream::{Second, Served};
use shiploop_judge::{Call, Counts, Judge, Limits, Origin, Reading, Settings, StageInfo, State};

pub struct Ship {
    judge: Judge,
    state: State,
    total: Reading,
    /// `judge.inconclusive = "promote"`: a stage whose evidence stayed inconclusive until
    /// duration + max_hold is promoted (loudly) instead of paused.
    promote_inconclusive: bool,
}

fn add(c: &mut Counts, s: &Served) {
    c.requests += s.requests;
    c.errors += s.errors;
    c.slow = Some(c.slow.unwrap_or(0) + s.over_limit);
    c.slow_target = Some(c.slow_target.unwrap_or(0) + s.over_target);
}

impl Ship {
    /// The default contract's tests: error rate within 1 pp, p99 under 2 × target, and the
    /// latency stage check (p99 within target), at α = 1 %, β = 5 %.
    pub fn new(plan: &Plan, settings: Settings, promote_inconclusive: bool) -> Ship {
        let judge = Judge::new(
            Settings {
                origin: Origin::Counter,
                ..settings
            },
            Limits {
                error_margin: Some(0.01),
                slow_limit_secs: Some(crate::latency::LIMIT),
                target_secs: Some(crate::latency::TARGET),
            },
            plan.stages
                .iter()
                .map(|s| StageInfo {
                    weight: s.weight,
                    watched: true,
                })
                .collect(),
        );
        let mut state = State::default();
        // The counter's reading when the rollout starts.
        state.observe(&judge, 0, Reading::default());
        Ship {
            judge,
            state,
            total: Reading::default(),
            promote_inconclusive,
        }
    }
}

impl Algorithm for Ship {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision {
        add(&mut self.total.stable, &s.stable);
        add(&mut self.total.canary, &s.canary);
        self.state.observe(&self.judge, ctx.stage, self.total);
        let (j, st, k) = (&self.judge, &self.state, ctx.stage);
        let calls = [
            st.error_call(j, k),
            st.latency_call(j, k),
            st.latency_check_call(j, k),
        ];
        if calls.contains(&Some(Call::Regression)) {
            return Decision::Rollback;
        }
        if ctx.elapsed < ctx.duration {
            return Decision::Continue;
        }
        if calls.iter().all(|c| *c == Some(Call::Clear)) {
            return Decision::Promote;
        }
        if ctx.elapsed >= ctx.duration + ctx.max_hold {
            return if self.promote_inconclusive {
                Decision::Promote
            } else {
                Decision::Pause
            };
        }
        Decision::Continue
    }
}
