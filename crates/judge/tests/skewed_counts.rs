//! The judge's tally on cumulative counts that are a little out of step, as Prometheus'
//! `increase()` reports them: in one reading the errors run up to a second ahead of the
//! requests (each series is extrapolated on its own), and a request count since the stage
//! began can go down a little from one tick to the next. Whatever the skews, the error rate
//! the judge tallies converges to the traffic's: no error is lost, none counted twice.
//!
//! Randomised: the seed is printed, and `SHIP_TEST_SEED=<n>` replays it (the convention of
//! shiploop-testkit, whose dependencies the judge does not take on for one test).

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_judge::{Counts, Judge, Limits, Origin, Reading, Settings, StageInfo, State};

/// Requests a second to each version.
const RATE: f64 = 20.0;
/// Ticks per run.
const TICKS: usize = 400;
/// How much later than the requests the errors may be read, in seconds.
const ERRORS_AHEAD: f64 = 1.0;
/// How much later than the tick the requests may be read, in seconds (counts since the stage
/// began only: a running counter is exact, and any drop of it is a restart).
const REQUESTS_JITTER: f64 = 0.3;

/// This run's seed: `$SHIP_TEST_SEED` when set (a replay), else a new one; printed.
fn seed(what: &str) -> u64 {
    let seed = match std::env::var("SHIP_TEST_SEED") {
        Ok(s) => s.trim().parse().unwrap(),
        // A fresh one from the standard library's per-process random hash keys (the judge's
        // crate takes no clock).
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    eprintln!("SHIP_TEST_SEED={seed} replays {what}");
    seed
}

/// SplitMix64: the same seed gives the same numbers on every machine.
struct Rng(u64);

impl Rng {
    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// One version's traffic: the times of its requests (a Poisson process at [`RATE`]) and which
/// of them failed, with cumulative counts at any instant.
struct Traffic {
    /// (time, failed), in time order.
    requests: Vec<(f64, bool)>,
}

impl Traffic {
    fn new(rng: &mut Rng, p: f64, until: f64) -> Traffic {
        let mut requests = vec![];
        let mut t = 0.0;
        loop {
            t += -(1.0 - rng.next()).ln() / RATE;
            if t > until {
                return Traffic { requests };
            }
            requests.push((t, rng.next() < p));
        }
    }

    fn requests_by(&self, t: f64) -> u64 {
        self.requests.partition_point(|(at, _)| *at <= t) as u64
    }

    fn errors_by(&self, t: f64) -> u64 {
        let n = self.requests.partition_point(|(at, _)| *at <= t);
        self.requests[..n].iter().filter(|(_, f)| *f).count() as u64
    }

    /// A reading at `t`: requests as of `t`, errors as of `t + ahead`, both above `offset` (a
    /// running counter's count before the stage).
    fn read(&self, t: f64, ahead: f64, offset: Counts) -> Counts {
        Counts::new(
            offset.requests + self.requests_by(t),
            offset.errors + self.errors_by(t + ahead),
            None,
        )
    }
}

fn judge(origin: Origin) -> Judge {
    Judge::new(
        Settings {
            origin,
            ..Settings::default()
        },
        Limits {
            error_margin: Some(0.01),
            ..Limits::default()
        },
        vec![StageInfo {
            weight: 50,
            watched: true,
        }],
    )
}

/// What one run found: the tallied and the true rate of each version, and its parameters.
struct Run {
    what: String,
    /// (tallied, true, p, requests tallied) for the stable version and the canary.
    rates: [(f64, f64, f64, u64); 2],
    /// The requests served up to the last reading of each version.
    served: [u64; 2],
}

fn run(rng: &mut Rng, origin: Origin) -> Run {
    let tick = [0.1, 0.25, 0.5][(rng.next() * 3.0) as usize];
    let p = [rng.between(0.005, 0.02), rng.between(0.02, 0.3)];
    let end = tick * TICKS as f64;
    let until = end + REQUESTS_JITTER + ERRORS_AHEAD;
    let traffic = [
        Traffic::new(rng, p[0], until),
        Traffic::new(rng, p[1], until),
    ];
    let (offset, jitter) = match origin {
        Origin::Stage => (Counts::default(), REQUESTS_JITTER),
        Origin::Counter => (Counts::new(120_000, 900, None), 0.0),
    };
    let j = judge(origin);
    let mut state = State::default();
    // A running counter's first reading is its baseline; counted since the stage began, the
    // first reading (at the stage's start) is all zero.
    let mut last = [0.0f64; 2];
    state.observe(
        &j,
        0,
        Reading {
            stable: traffic[0].read(0.0, 0.0, offset),
            canary: traffic[1].read(0.0, 0.0, offset),
        },
    );
    for k in 1..=TICKS {
        let mut read = |v: usize| {
            let at = k as f64 * tick + rng.between(0.0, jitter);
            last[v] = last[v].max(at);
            traffic[v].read(at, rng.between(0.0, ERRORS_AHEAD), offset)
        };
        let reading = Reading {
            stable: read(0),
            canary: read(1),
        };
        state.observe(&j, 0, reading);
    }
    let tally = state.stage_tally(0);
    let rate = |v: usize, c: &Counts| {
        let requests = traffic[v].requests_by(last[v]);
        let truth = traffic[v].errors_by(last[v]) as f64 / requests as f64;
        (c.error_rate().unwrap_or(0.0), truth, p[v], c.requests)
    };
    Run {
        what: format!(
            "{origin:?}, a tick every {tick} s, p = {:.4} / {:.4}",
            p[0], p[1]
        ),
        rates: [rate(0, &tally.stable), rate(1, &tally.canary)],
        served: [0, 1].map(|v| traffic[v].requests_by(last[v])),
    }
}

/// Every run of `origin` tallies each version's error rate within the errors of a couple of
/// seconds of traffic of the truth (what is still above the mark at the end), and the truth
/// is within five standard deviations of p.
fn converges(test: &str, origin: Origin) {
    let seed = seed(&format!(
        "{test} (cargo test -p shiploop-judge --test skewed_counts {test}): the traffic, \
         the skews and the error rates"
    ));
    let mut rng = Rng(seed);
    for i in 0..40 {
        let r = run(&mut rng, origin);
        for (v, (tallied, truth, p, n)) in r.rates.iter().enumerate() {
            let version = ["stable", "canary"][v];
            assert_eq!(
                *n, r.served[v],
                "run {i} ({}), {version}: every request served is tallied once",
                r.what
            );
            let n = *n as f64;
            // The errors of the last second or two may still wait for requests to cover them.
            let slack = (2.0 * (ERRORS_AHEAD + REQUESTS_JITTER) * RATE * p + 3.0) / n;
            assert!(
                (tallied - truth).abs() <= slack,
                "run {i} ({}), {version}: tallied {:.4} %, the traffic failed {:.4} % \
                 (allowed ± {:.4} %)",
                r.what,
                tallied * 100.0,
                truth * 100.0,
                slack * 100.0
            );
            let sd = (p * (1.0 - p) / n).sqrt();
            assert!(
                (tallied - p).abs() <= 5.0 * sd + slack,
                "run {i} ({}), {version}: tallied {:.4} %, p = {:.4} %",
                r.what,
                tallied * 100.0,
                p * 100.0
            );
        }
    }
}

#[test]
fn counts_since_the_stage_began_that_are_out_of_step_lose_no_errors() {
    converges(
        "counts_since_the_stage_began_that_are_out_of_step_lose_no_errors",
        Origin::Stage,
    );
}

#[test]
fn a_running_counter_whose_errors_run_ahead_loses_no_errors() {
    converges(
        "a_running_counter_whose_errors_run_ahead_loses_no_errors",
        Origin::Counter,
    );
}
