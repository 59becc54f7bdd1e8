//! `--mode clear`: how long a healthy canary stage takes to gather the evidence that clears it
//! (every test of ship's judge ruling its regression out), by traffic and background error
//! rate — the table of docs/ROLLOUT.md, "How much traffic a stage needs".

use crate::algos::ship::Ship;
use crate::rollout::{Algorithm, Ctx, Decision, Plan, StageSpec};
use crate::stream::{Effect, Scenario, Stream};
use shiploop_judge::Settings;

/// The longest a stage is watched for its evidence.
const HORIZON: u64 = 24 * 3600;

/// Seconds until a run's stage cleared and the canary requests it took; None when it did not
/// within the horizon.
pub type Cleared = Option<(u64, u64)>;

/// Each run's [`Cleared`].
pub fn times(
    seed: u64,
    runs: usize,
    rate: f64,
    background: f64,
    weight: u8,
    settings: &Settings,
) -> Vec<Cleared> {
    let plan = Plan {
        stages: vec![StageSpec { weight, secs: 1 }],
        max_hold: HORIZON,
    };
    let scenario = Scenario {
        rate,
        background,
        effect: Effect::None,
    };
    (0..runs)
        .map(|r| {
            let stream = Stream::new(crate::stream::mix(seed, r as u64), scenario);
            let mut judge = Ship::new(&plan, settings.clone(), false);
            let mut canary = 0u64;
            for t in 1..=HORIZON {
                let s = stream.second(t, weight);
                canary += s.canary.requests;
                let ctx = Ctx {
                    t,
                    stage: 0,
                    elapsed: t,
                    duration: 1,
                    max_hold: HORIZON,
                };
                match judge.second(&ctx, &s) {
                    Decision::Promote => return Some((t, canary)),
                    Decision::Continue => {}
                    Decision::Rollback | Decision::Pause => return None,
                }
            }
            None
        })
        .collect()
}
