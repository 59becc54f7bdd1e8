//! The judge on simulated traffic: its error bound, its speed on a broken canary, and what it
//! says. Randomness from a seeded SplitMix64, so every run is the same.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_judge::{Call, Counts, Judge, Limits, Origin, Reading, Settings, StageInfo, State};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn judge(alpha: f64, stages: &[u8]) -> Judge {
    Judge::new(
        Settings {
            alpha,
            beta: 0.05,
            origin: Origin::Counter,
        },
        Limits {
            error_margin: Some(0.01),
            ..Limits::default()
        },
        stages
            .iter()
            .map(|w| StageInfo {
                weight: *w,
                watched: true,
            })
            .collect(),
    )
}

/// Runs one stage second by second: `rate` requests a second, each to the canary with
/// probability `w`, failing with `pc` or `ps`. Returns the second of the first regression
/// call, if any, and the state at the end.
fn run(
    j: &Judge,
    rng: &mut Rng,
    secs: u64,
    rate: u64,
    w: f64,
    pc: f64,
    ps: f64,
) -> (Option<u64>, State) {
    let mut state = State::default();
    let mut total = Reading::default();
    state.observe(j, 0, total);
    for t in 1..=secs {
        for _ in 0..rate {
            let canary = rng.next() < w;
            let failed = rng.next() < if canary { pc } else { ps };
            let c = if canary {
                &mut total.canary
            } else {
                &mut total.stable
            };
            c.requests += 1;
            c.errors += u64::from(failed);
        }
        state.observe(j, 0, total);
        if state.error_call(j, 0) == Some(Call::Regression) {
            return (Some(t), state);
        }
    }
    (None, state)
}

#[test]
fn a_canary_exactly_at_the_margin_is_rolled_back_at_most_alpha_of_the_time() {
    // α = 20 % so that the bound can be seen in 300 runs: a canary 1 pp worse (the margin
    // itself, the worst case the hypothesis allows), watched every second for 10 minutes.
    let j = judge(0.2, &[25]);
    let mut rng = Rng(7);
    let runs = 300;
    let rolled = (0..runs)
        .filter(|_| run(&j, &mut rng, 600, 20, 0.25, 0.03, 0.02).0.is_some())
        .count();
    assert!(
        rolled as f64 / runs as f64 <= 0.2 + 0.05,
        "{rolled} of {runs}"
    );
}

#[test]
fn a_healthy_canary_is_cleared_and_a_broken_one_rolled_back_within_seconds() {
    let j = judge(0.01, &[5]);
    let mut rng = Rng(11);
    // 200 req/s, 5 % to a canary that fails 10 % of requests, the stable version none.
    let mut times: Vec<u64> = (0..50)
        .map(|_| {
            run(&j, &mut rng, 120, 200, 0.05, 0.10, 0.0)
                .0
                .expect("rolled back")
        })
        .collect();
    times.sort_unstable();
    assert!(times[25] <= 6, "median {} s: {times:?}", times[25]);
    // A healthy one at 1 % errors and 100 req/s: never rolled back, cleared within the 10
    // minutes of the stage and its 15 minutes of hold.
    for _ in 0..20 {
        let (rolled, state) = run(&j, &mut rng, 1500, 100, 0.05, 0.01, 0.01);
        assert_eq!(rolled, None);
        assert_eq!(state.error_call(&j, 0), Some(Call::Clear));
    }
}

#[test]
fn sentences_cite_the_counts_and_the_confidence() {
    let j = judge(0.01, &[5, 25]);
    let mut s = State::default();
    let reading = |cr: u64, ce: u64, sr: u64, se: u64| Reading {
        stable: Counts::new(sr, se, None),
        canary: Counts::new(cr, ce, None),
    };
    s.observe(&j, 0, reading(0, 0, 0, 0));
    s.observe(&j, 0, reading(12_300, 410, 234_000, 2_120));
    let v = s.error_rate(&j, 0).unwrap();
    assert_eq!(v.call, Call::Regression);
    assert_eq!(
        v.sentence,
        "canary errors 410/12,300 (3.33 %) vs stable 2,120/234,000 (0.91 %): +2.43 pp, above the 1 pp margin with 99 % confidence"
    );
    // The same rates in a tenth of the requests are not proof yet.
    let mut s = State::default();
    s.observe(&j, 0, reading(0, 0, 0, 0));
    s.observe(&j, 0, reading(1_230, 41, 23_400, 212));
    assert_eq!(s.error_call(&j, 0), Some(Call::Open));
    let mut s = State::default();
    s.observe(&j, 0, reading(0, 0, 0, 0));
    s.observe(&j, 0, reading(5_230, 3, 99_400, 40));
    let v = s.error_rate(&j, 0).unwrap();
    assert_eq!(v.call, Call::Clear);
    assert!(
        v.sentence
            .ends_with("+0.02 pp, below the 1 pp margin with 95 % confidence"),
        "{}",
        v.sentence
    );
    let mut s = State::default();
    s.observe(&j, 0, reading(0, 0, 0, 0));
    s.observe(&j, 0, reading(160, 3, 3_040, 30));
    let v = s.error_rate(&j, 0).unwrap();
    assert_eq!(v.call, Call::Open);
    assert!(
        v.sentence.starts_with("canary errors 3/160 (1.88 %) vs stable 30/3,040 (0.99 %): +0.89 pp; not yet known to be within the 1 pp margin (evidence "),
        "{}",
        v.sentence
    );
    assert!(s.more_canary_requests(&j, 0).unwrap() > 160);
}

#[test]
fn evidence_of_a_regression_carries_into_the_next_stage() {
    // A canary stage that almost convinced the judge: its bettor keeps betting at 25 %.
    let j = judge(0.01, &[5, 25]);
    let mut rng = Rng(3);
    let (_, mut state) = run(&j, &mut rng, 60, 1000, 0.05, 0.03, 0.01);
    let before = state.error_numbers(&j, 0).unwrap().regression;
    let last = state.last.unwrap().reading;
    let mut next = last;
    next.canary.requests += 2_500;
    next.canary.errors += 75;
    next.stable.requests += 7_500;
    next.stable.errors += 75;
    state.observe(&j, 1, next);
    let after = state.error_numbers(&j, 1).unwrap();
    assert!(after.regression > before, "{before} → {}", after.regression);
    assert_eq!(state.worse.len(), 2, "each stage starts its own bettor");
}
