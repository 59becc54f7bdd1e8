//! A rollout plan and the driver that runs every algorithm through it on the same stream:
//! each second, each algorithm sees the traffic of its own canary weight and decides.

use crate::stream::{Second, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSpec {
    pub weight: u8,
    pub secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub stages: Vec<StageSpec>,
    /// How long past its duration a stage may hold for evidence (`rollout.max_hold`).
    pub max_hold: u64,
}

impl Plan {
    /// The default plan of a `ship init` workspace: 5 % for 10m, 25 % for 30m, 50 % for 1h.
    pub fn default_rollout() -> Plan {
        Plan {
            stages: vec![
                StageSpec {
                    weight: 5,
                    secs: 600,
                },
                StageSpec {
                    weight: 25,
                    secs: 1800,
                },
                StageSpec {
                    weight: 50,
                    secs: 3600,
                },
            ],
            max_hold: 900,
        }
    }

    /// One stage of the default plan on its own.
    pub fn single(weight: u8) -> Plan {
        let secs = match weight {
            0..=5 => 600,
            6..=25 => 1800,
            _ => 3600,
        };
        Plan {
            stages: vec![StageSpec { weight, secs }],
            max_hold: 900,
        }
    }
}

/// What an algorithm knows when it decides at the end of a second.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Seconds since the rollout started.
    pub t: u64,
    pub stage: usize,
    /// Seconds into the stage, this one included.
    pub elapsed: u64,
    pub duration: u64,
    pub max_hold: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Continue,
    Promote,
    Rollback,
    /// Hold for a person (ship's judge when the evidence stayed inconclusive).
    Pause,
}

pub trait Algorithm {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    RolledBack {
        t: u64,
        stage: usize,
        bad: u64,
    },
    Paused {
        t: u64,
        stage: usize,
        bad: u64,
    },
    /// Promoted out of the last stage: the plan's stages are done (the next step is 100 %).
    Completed {
        t: u64,
        bad: u64,
    },
}

/// Runs each algorithm through `plan` on `stream` until each has ended. `bad` counts the
/// canary's failed requests, or with `latency_bad` its requests over the latency target.
pub fn run(
    plan: &Plan,
    stream: &Stream,
    algos: &mut [Box<dyn Algorithm + '_>],
    latency_bad: bool,
) -> Vec<End> {
    struct Track {
        stage: usize,
        elapsed: u64,
        bad: u64,
        end: Option<End>,
    }
    let mut tracks: Vec<Track> = algos
        .iter()
        .map(|_| Track {
            stage: 0,
            elapsed: 0,
            bad: 0,
            end: None,
        })
        .collect();
    let mut t = 0u64;
    let mut cache: Vec<(u8, Second)> = Vec::with_capacity(4);
    while tracks.iter().any(|k| k.end.is_none()) {
        t += 1;
        cache.clear();
        for (algo, k) in algos.iter_mut().zip(tracks.iter_mut()) {
            if k.end.is_some() {
                continue;
            }
            let spec = plan.stages[k.stage];
            let s = match cache.iter().find(|(w, _)| *w == spec.weight) {
                Some((_, s)) => *s,
                None => {
                    let s = stream.second(t, spec.weight);
                    cache.push((spec.weight, s));
                    s
                }
            };
            k.bad += if latency_bad {
                s.canary.over_target
            } else {
                s.canary.errors
            };
            k.elapsed += 1;
            let ctx = Ctx {
                t,
                stage: k.stage,
                elapsed: k.elapsed,
                duration: spec.secs,
                max_hold: plan.max_hold,
            };
            match algo.second(&ctx, &s) {
                Decision::Continue => {}
                Decision::Rollback => {
                    k.end = Some(End::RolledBack {
                        t,
                        stage: k.stage,
                        bad: k.bad,
                    })
                }
                Decision::Pause => {
                    k.end = Some(End::Paused {
                        t,
                        stage: k.stage,
                        bad: k.bad,
                    })
                }
                Decision::Promote => {
                    k.stage += 1;
                    k.elapsed = 0;
                    if k.stage == plan.stages.len() {
                        k.end = Some(End::Completed { t, bad: k.bad });
                    }
                }
            }
        }
    }
    tracks.into_iter().filter_map(|k| k.end).collect()
}
