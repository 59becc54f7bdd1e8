//! ship's rule before the judge: every 10 s, over the last 60 s, "canary error rate − stable
//! error rate > 1 pp" (with ≥ 50 requests) rolls back, as does a canary p99 over 2 × target;
//! the `latency` stage check (p99 within target) rolls back after 3 failing ticks in a row;
//! a stage promotes at the first tick after its duration where everything passes with enough
//! data, and rolls back `max_hold` after its duration otherwise.

use crate::rollout::{Algorithm, Ctx, Decision};
use crate::stream::{Second, Served};
use std::collections::VecDeque;

const TICK: u64 = 10;
const WINDOW: usize = 60;
const MIN_SAMPLES: u64 = 50;
const MARGIN: f64 = 0.01;
const FAILURE_LIMIT: u32 = 3;

#[derive(Default)]
pub struct Threshold {
    window: VecDeque<Second>,
    baseline: Option<f64>,
    failures: u32,
}

#[derive(PartialEq)]
enum Finding {
    Pass,
    Fail,
    NoData,
}

impl Algorithm for Threshold {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision {
        self.window.push_back(*s);
        if self.window.len() > WINDOW {
            self.window.pop_front();
        }
        if ctx.t % TICK != 0 {
            return Decision::Continue;
        }
        let (mut st, mut ca) = (Served::default(), Served::default());
        for x in &self.window {
            st.add(&x.stable);
            ca.add(&x.canary);
        }
        let rate = |v: &Served| v.errors as f64 / v.requests as f64;
        let stable = if st.requests >= MIN_SAMPLES {
            self.baseline = Some(rate(&st));
            self.baseline
        } else {
            self.baseline
        };
        let error = match stable {
            _ if ca.requests < MIN_SAMPLES => Finding::NoData,
            None => Finding::NoData,
            Some(b) if rate(&ca) - b > MARGIN + 1e-9 => Finding::Fail,
            Some(_) => Finding::Pass,
        };
        // p99 > x exactly when more than 1 % of the window's requests are slower than x.
        let p99_over = |over: u64| over as f64 > 0.01 * ca.requests as f64;
        let p99 = if ca.requests < MIN_SAMPLES {
            Finding::NoData
        } else if p99_over(ca.over_limit) {
            Finding::Fail
        } else {
            Finding::Pass
        };
        if error == Finding::Fail || p99 == Finding::Fail {
            return Decision::Rollback;
        }
        let check = if ca.requests < MIN_SAMPLES {
            Finding::NoData
        } else if p99_over(ca.over_target) {
            Finding::Fail
        } else {
            Finding::Pass
        };
        if check == Finding::Fail {
            self.failures += 1;
            if self.failures >= FAILURE_LIMIT {
                return Decision::Rollback;
            }
        } else {
            self.failures = 0;
        }
        if ctx.elapsed < ctx.duration {
            return Decision::Continue;
        }
        if [error, p99, check].iter().all(|f| *f == Finding::Pass) {
            self.failures = 0;
            return Decision::Promote;
        }
        if ctx.elapsed >= ctx.duration + ctx.max_hold {
            return Decision::Rollback;
        }
        Decision::Continue
    }
}
