//! Flagger's canary analysis (fluxcd/flagger, pkg/controller/scheduler.go and
//! scheduler_metrics.go; docs "How it works"), with the documented example values the issue
//! names: every `interval` (1m) the builtin `request-success-rate` over the last minute must be
//! ≥ 99 % and `request-duration` (p99 over the last minute) ≤ its max (here the latency
//! target); a check that fails — including "no values found" when the canary served nothing
//! that minute — adds one to `FailedChecks`, which is never reset during the analysis; at the
//! start of the interval after `FailedChecks` reached `threshold` (5) the canary is rolled
//! back. A failing check halts advancement: a stage advances at the first passing check once
//! its duration has passed. The first check comes one interval after the canary starts.
//! Flagger's own weight schedule (stepWeight every interval) is replaced by the plan's stages
//! so that every algorithm sees the same traffic.

use crate::rollout::{Algorithm, Ctx, Decision};
use crate::stream::{Second, Served};

const INTERVAL: u64 = 60;
const THRESHOLD: u32 = 5;
const MIN_SUCCESS: f64 = 0.99;

#[derive(Default)]
pub struct Flagger {
    minute: Served,
    failed: u32,
}

impl Algorithm for Flagger {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision {
        self.minute.add(&s.canary);
        if ctx.t % INTERVAL != 0 {
            return Decision::Continue;
        }
        // Checked before this interval's analysis, as the scheduler does.
        if self.failed >= THRESHOLD {
            return Decision::Rollback;
        }
        let m = std::mem::take(&mut self.minute);
        let ok = m.requests > 0
            && (m.requests - m.errors) as f64 / m.requests as f64 >= MIN_SUCCESS
            // histogram_quantile(0.99) is above the target exactly when more than 1 % of the
            // minute's requests were slower than it.
            && m.over_target as f64 <= 0.01 * m.requests as f64;
        if !ok {
            self.failed += 1;
            return Decision::Continue;
        }
        if ctx.elapsed >= ctx.duration {
            Decision::Promote
        } else {
            Decision::Continue
        }
    }
}
