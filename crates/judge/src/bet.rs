//! Testing by betting (Shafer 2021; Waudby-Smith & Ramdas, JRSS-B 2023): to test a
//! hypothesis, bet against it one request at a time with a stake that can never lose more than
//! everything. If the hypothesis holds, no bet has a positive expected return, so the capital
//! is a nonnegative supermartingale that starts at 1, and Ville's inequality bounds the chance
//! that it *ever* reaches 1/α by α — however often it is looked at, and whenever the looking
//! stops. That is what lets the judge decide at every tick without paying for each look.
//!
//! Each test runs several bettors side by side (a grid of stake sizes, [`GRID`]) and averages
//! their capital: the average of supermartingales is one, and the best stake for the effect at
//! hand is found without knowing it in advance, at a cost of at most ln(1/weight) of capital.
//!
//! Stakes are fractions `c` in (0, 1) of the largest stake that keeps the capital positive
//! whatever the next request does, so one grid fits every traffic split and error rate.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Stake fractions, from all-in-but-a-tenth down to a thousandth, each 1.6× the next: a stake
/// within a factor 1.26 of the best keeps over 93 % of the best growth rate.
pub const GRID: [f64; 15] = [
    0.9, 0.5625, 0.3516, 0.2197, 0.1373, 0.0858, 0.0536, 0.0335, 0.0210, 0.0131, 0.0082, 0.0051,
    0.0032, 0.0020, 0.0012,
];

/// Which way a test bets: that the canary is worse than the hypothesis allows (evidence for a
/// rollback), or better (evidence that rules a regression out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The canary is worse than the hypothesis allows.
    Worse,
    /// The canary is better: a regression is ruled out.
    Better,
}

/// Counts of one version over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests served.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests slower than the p99 trigger's limit, when the source counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<u64>,
    /// Requests slower than the latency target, when the source counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_target: Option<u64>,
}

impl Counts {
    /// Counts of requests, errors and (when counted) slow requests.
    pub fn new(requests: u64, errors: u64, slow: Option<u64>) -> Counts {
        Counts {
            requests,
            errors,
            slow,
            slow_target: None,
        }
    }

    /// Requests and errors of `other` added (the slow counts are tallied apart, over the
    /// intervals that counted them).
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.errors += other.errors;
    }

    /// Errors as a fraction of requests; None without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

/// The log of one bettor's capital growth over an interval in which the canary served
/// `canary` and the stable version `stable`, betting that the canary's error rate differs from
/// the stable one's by `margin` (a fraction) in direction `side`.
///
/// Each request is a round. With w the canary's share of the interval's requests, a request's
/// score is Y = error/w for the canary and −error/(1−w) for the stable version: its expectation
/// is p_canary − p_stable whatever the rates, and conditioning on which version served each
/// request makes w exact (no assumption about how the router splits). The bettor multiplies
/// its capital by 1 + λ(Y − margin) each round. Rates may drift during the rollout, together or
/// apart: only their difference at each moment matters.
pub fn diff_log_growth(c: f64, side: Side, stable: &Counts, canary: &Counts, margin: f64) -> f64 {
    let (nc, ns) = (canary.requests as f64, stable.requests as f64);
    if nc == 0.0 || ns == 0.0 {
        return 0.0;
    }
    let w = nc / (nc + ns);
    let (ec, es) = (
        canary.errors.min(canary.requests) as f64,
        stable.errors.min(stable.requests) as f64,
    );
    let ok = (nc - ec) + (ns - es);
    match side {
        Side::Worse => {
            // λ > 0; the stake that a stable error would wipe out is 1 / (1/(1−w) + margin).
            let lambda = c / (1.0 / (1.0 - w) + margin);
            times(ec, || (lambda * (1.0 / w - margin)).ln_1p())
                + times(ok, || (-lambda * margin).ln_1p())
                + times(es, || (-c).ln_1p())
        }
        Side::Better => {
            // λ < 0; a canary error is the round that can wipe the bettor out.
            let stake = c / (1.0 / w - margin);
            times(ec, || (-c).ln_1p())
                + times(ok, || (stake * margin).ln_1p())
                + times(es, || (stake * (1.0 / (1.0 - w) + margin)).ln_1p())
        }
    }
}

/// `n · f()`, without computing f when n is 0 (most intervals have no errors).
fn times(n: f64, f: impl Fn() -> f64) -> f64 {
    if n == 0.0 {
        0.0
    } else {
        n * f()
    }
}

/// The log of one bettor's capital growth after `hits` of `n` requests were "hits" (slow, or
/// errors), betting that the hit rate differs from `limit` in direction `side`.
pub fn rate_log_growth(c: f64, side: Side, n: u64, hits: u64, limit: f64) -> f64 {
    let hits = hits.min(n) as f64;
    let misses = n as f64 - hits;
    match side {
        // λ = c/limit: a miss costs c, a hit pays c(1 − limit)/limit.
        Side::Worse => hits * (c * (1.0 - limit) / limit).ln_1p() + misses * (-c).ln_1p(),
        // λ = −c/(1 − limit): a hit costs c, a miss pays c·limit/(1 − limit).
        Side::Better => hits * (-c).ln_1p() + misses * (c * limit / (1.0 - limit)).ln_1p(),
    }
}

/// How much of the starting capital each bettor of [`GRID`] gets, as ln: more for the larger
/// stakes, in proportion to c^power. A large regression must be caught within seconds, when
/// every nat of evidence counts; a small one takes long enough that a smaller share costs
/// little.
fn log_weights(side: Side) -> &'static [f64; GRID.len()] {
    static WORSE: OnceLock<[f64; GRID.len()]> = OnceLock::new();
    static BETTER: OnceLock<[f64; GRID.len()]> = OnceLock::new();
    let (cell, power) = match side {
        Side::Worse => (&WORSE, WORSE_POWER),
        Side::Better => (&BETTER, BETTER_POWER),
    };
    cell.get_or_init(|| {
        let total: f64 = GRID.iter().map(|c| c.powf(power)).sum();
        let mut w = [0.0; GRID.len()];
        for (o, c) in w.iter_mut().zip(GRID) {
            *o = (c.powf(power) / total).ln();
        }
        w
    })
}

/// The power of the stake c that sets each regression bettor's share of the starting capital.
pub const WORSE_POWER: f64 = 0.5;
/// The power of the stake c that sets each bettor's share against a regression.
pub const BETTER_POWER: f64 = 1.0;

/// ln of the capital of the whole grid of bettors whose own ln capital is `logs`.
pub fn log_capital(logs: &[f64], side: Side) -> f64 {
    if logs.len() != GRID.len() {
        return f64::NEG_INFINITY;
    }
    let w = log_weights(side);
    let max = logs
        .iter()
        .zip(w)
        .map(|(l, w)| l + w)
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    let sum: f64 = logs.iter().zip(w).map(|(l, w)| (l + w - max).exp()).sum();
    max + sum.ln()
}

/// The log capital of every bettor of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wealth(pub Vec<f64>);

impl Default for Wealth {
    fn default() -> Self {
        Wealth(vec![0.0; GRID.len()])
    }
}

impl Wealth {
    /// Adds each bettor's growth `f(c)`.
    pub fn grow(&mut self, f: impl Fn(f64) -> f64) {
        let growth: Vec<f64> = GRID.iter().map(|c| f(*c)).collect();
        self.add(&growth);
    }

    /// Adds growth computed once for the grid (`growth[i]` for `GRID[i]`).
    pub fn add(&mut self, growth: &[f64]) {
        if self.0.len() != GRID.len() {
            // Written by another version of the grid: start over rather than misread it.
            *self = Wealth::default();
        }
        for (w, g) in self.0.iter_mut().zip(growth) {
            *w += g;
        }
    }

    /// ln of the grid's capital.
    pub fn log_capital(&self, side: Side) -> f64 {
        log_capital(&self.0, side)
    }
}

/// The grid's log capital, computed at once from totals: for tests whose growth depends only on
/// total counts (a fixed limit, no traffic split).
pub fn rate_log_capital(side: Side, n: u64, hits: u64, limit: f64) -> f64 {
    RateBets::new(side, limit).log_capital(n, hits)
}

/// A rate test's per-bettor log factors for one hit and one miss, computed once per limit:
/// the capital after any counts is then a sum of products.
#[derive(Debug, Clone, PartialEq)]
pub struct RateBets {
    side: Side,
    hit: Vec<f64>,
    miss: Vec<f64>,
}

impl RateBets {
    /// A grid of bets on `side` of a rate `limit`.
    pub fn new(side: Side, limit: f64) -> RateBets {
        RateBets {
            side,
            hit: GRID
                .iter()
                .map(|c| rate_log_growth(*c, side, 1, 1, limit))
                .collect(),
            miss: GRID
                .iter()
                .map(|c| rate_log_growth(*c, side, 1, 0, limit))
                .collect(),
        }
    }

    /// ln of the grid's capital after `hits` of `n` requests.
    pub fn log_capital(&self, n: u64, hits: u64) -> f64 {
        let hits = hits.min(n);
        let (h, m) = (hits as f64, (n - hits) as f64);
        let logs: Vec<f64> = self
            .hit
            .iter()
            .zip(&self.miss)
            .map(|(a, b)| h * a + m * b)
            .collect();
        log_capital(&logs, self.side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected growth factor of one round in an interval where the canary serves a share
    /// `w`: a canary request with probability w, a stable one otherwise.
    fn exp_factor_diff(c: f64, side: Side, w: f64, pc: f64, ps: f64, margin: f64) -> f64 {
        let lambda = match side {
            Side::Worse => c / (1.0 / (1.0 - w) + margin),
            Side::Better => -c / (1.0 / w - margin),
        };
        let f = |y: f64| 1.0 + lambda * (y - margin);
        w * (pc * f(1.0 / w) + (1.0 - pc) * f(0.0))
            + (1.0 - w) * (ps * f(-1.0 / (1.0 - w)) + (1.0 - ps) * f(0.0))
    }

    #[test]
    fn no_bet_gains_in_expectation_when_the_hypothesis_holds() {
        for &w in &[0.01, 0.05, 0.25, 0.5, 0.9] {
            for &ps in &[0.0, 0.001, 0.01, 0.05, 0.3] {
                for &c in &GRID {
                    let margin: f64 = 0.01;
                    // Worse: the hypothesis is "canary ≤ stable + margin"; at the boundary and
                    // below, one round's expected factor is at most 1.
                    for pc in [ps, (ps + margin).min(1.0)] {
                        let f = exp_factor_diff(c, Side::Worse, w, pc, ps, margin);
                        assert!(f <= 1.0 + 1e-12, "worse w={w} ps={ps} pc={pc} c={c}: {f}");
                    }
                    // Better: the hypothesis is "canary ≥ stable + margin".
                    let pc = (ps + margin).min(1.0);
                    if pc - ps >= margin - 1e-12 {
                        let f = exp_factor_diff(c, Side::Better, w, pc, ps, margin);
                        assert!(f <= 1.0 + 1e-12, "better w={w} ps={ps} c={c}: {f}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_outcome_leaves_some_capital() {
        for &w in &[0.001, 0.05, 0.5, 0.999] {
            for &c in &GRID {
                for side in [Side::Worse, Side::Better] {
                    for (s, k) in [
                        (Counts::new(0, 0, None), Counts::new(1, 1, None)),
                        (Counts::new(1, 1, None), Counts::new(0, 0, None)),
                    ] {
                        // One error of either version, in an interval with share w.
                        let n: f64 = 1000.0;
                        let (ns, nc) = (
                            (n * (1.0 - w)).round() as u64,
                            (n * w).round().max(1.0) as u64,
                        );
                        let stable = Counts::new(ns + s.requests, s.errors, None);
                        let canary = Counts::new(nc + k.requests, k.errors, None);
                        let g = diff_log_growth(c, side, &stable, &canary, 0.01);
                        assert!(g.is_finite(), "w={w} c={c} {side:?}: {g}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_rate_bet_is_fair_at_the_limit() {
        for &limit in &[0.001, 0.01, 0.2] {
            for &c in &GRID {
                let worse = limit * (1.0 + c * (1.0 - limit) / limit) + (1.0 - limit) * (1.0 - c);
                let better = limit * (1.0 - c) + (1.0 - limit) * (1.0 + c * limit / (1.0 - limit));
                assert!((worse - 1.0).abs() < 1e-12 && (better - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn capital_grows_against_a_false_hypothesis() {
        // 10 % canary errors against a 1 pp margin over a healthy stable version.
        let stable = Counts::new(19_000, 0, None);
        let canary = Counts::new(1_000, 100, None);
        let mut w = Wealth::default();
        w.grow(|c| diff_log_growth(c, Side::Worse, &stable, &canary, 0.01));
        assert!(
            w.log_capital(Side::Worse) > 50.0,
            "{}",
            w.log_capital(Side::Worse)
        );
        let mut b = Wealth::default();
        b.grow(|c| diff_log_growth(c, Side::Better, &stable, &canary, 0.01));
        assert!(b.log_capital(Side::Better) < 0.0);
    }

    #[test]
    fn the_grid_starts_with_one_unit_of_capital_and_sums_stably() {
        for side in [Side::Worse, Side::Better] {
            assert!(log_capital(&[0.0; GRID.len()], side).abs() < 1e-12);
            let mut logs = [f64::NEG_INFINITY; GRID.len()];
            logs[0] = 1000.0;
            let l = log_capital(&logs, side);
            assert!(l.is_finite() && l < 1000.0 && l > 990.0, "{l}");
        }
    }
}
