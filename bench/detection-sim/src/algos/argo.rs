//! A typical Argo Rollouts AnalysisTemplate (argoproj/argo-rollouts analysis/analysis.go,
//! docs/features/analysis.md): a background analysis over the whole rollout with a
//! success-rate metric (`result[0] >= 0.99`) and a p99 metric (`result[0] <= target`), each
//! measured every `interval` (1m) over the last minute, `failureLimit: 3`. A measurement that
//! fails its condition — NaN included, as when the canary served nothing that minute — counts
//! against its metric; the run fails (and the rollout aborts) when a metric's failures exceed
//! the limit, i.e. at the 4th. Steps advance when their pause ends, whatever the measurements
//! said so far. (The docs' template queries `irate(…[5m])`; the variant is a 1-minute
//! success rate. The first measurement is taken one interval in, as with `initialDelay: 1m`:
//! at the very start there is nothing to measure.)

use crate::rollout::{Algorithm, Ctx, Decision};
use crate::stream::{Second, Served};

const INTERVAL: u64 = 60;
const FAILURE_LIMIT: u32 = 3;
const MIN_SUCCESS: f64 = 0.99;

#[derive(Default)]
pub struct Argo {
    minute: Served,
    success_failures: u32,
    latency_failures: u32,
}

impl Algorithm for Argo {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision {
        self.minute.add(&s.canary);
        if ctx.t % INTERVAL == 0 {
            let m = std::mem::take(&mut self.minute);
            let success_ok =
                m.requests > 0 && (m.requests - m.errors) as f64 / m.requests as f64 >= MIN_SUCCESS;
            let latency_ok = m.requests > 0 && m.over_target as f64 <= 0.01 * m.requests as f64;
            self.success_failures += u32::from(!success_ok);
            self.latency_failures += u32::from(!latency_ok);
            if self.success_failures > FAILURE_LIMIT || self.latency_failures > FAILURE_LIMIT {
                return Decision::Rollback;
            }
        }
        if ctx.elapsed >= ctx.duration {
            Decision::Promote
        } else {
            Decision::Continue
        }
    }
}
