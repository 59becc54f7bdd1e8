//! Kayenta's NetflixACAJudge (spinnaker/kayenta NetflixACAJudge.scala,
//! MannWhitneyClassifier.scala, ScoringHelper.scala at a69573be) run as Spinnaker's canary
//! stage runs it (spinnaker/orca orca-kayenta RunCanaryIntervalsStage.kt at 2fdb327a): the
//! canary's and the stable version's per-minute error rate and p99 (step 60 s; a minute with no
//! requests is NaN and removed, the default nanStrategy) are compared with the Mann–Whitney
//! test at confidence 0.98 and tolerance 0.25, direction "increase", on the data from the
//! stage's start to the end of each 5-minute analysis interval (the growing window). Both
//! metrics are one group; the score is the share of metrics that pass (Nodata not counted, a
//! score of 0 when half the metrics have no data). An interval scoring ≤ the marginal
//! threshold (75) fails the canary at once; the last one must score ≥ pass (95).

use crate::latency;
use crate::mannwhitney;
use crate::rollout::{Algorithm, Ctx, Decision};
use crate::stream::{Second, Served, Stream};

const INTERVAL: u64 = 300;
const CONFIDENCE: f64 = 0.98;
const TOLERANCE: f64 = 0.25;
const MARGINAL: f64 = 75.0;
const PASS: f64 = 95.0;

pub struct Kayenta<'a> {
    stream: &'a Stream,
    minute: (Served, Served),
    /// Per-minute (canary, stable) error rates and p99s since the stage began.
    errors: (Vec<f64>, Vec<f64>),
    p99: (Vec<f64>, Vec<f64>),
    stage: usize,
}

impl<'a> Kayenta<'a> {
    pub fn new(stream: &'a Stream) -> Kayenta<'a> {
        Kayenta {
            stream,
            minute: Default::default(),
            errors: Default::default(),
            p99: Default::default(),
            stage: 0,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Pass,
    High,
    Nodata,
    Error,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// MannWhitneyClassifier.classify for direction "increase", meanRatio effect size with the
/// default allowedIncrease 1.0.
fn classify(control: &[f64], experiment: &[f64]) -> Class {
    let keep = |v: &[f64]| -> Vec<f64> { v.iter().copied().filter(|x| !x.is_nan()).collect() };
    let (c, mut e) = (keep(control), keep(experiment));
    let mut c = c;
    if c.is_empty() || e.is_empty() {
        return Class::Nodata;
    }
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    if sorted(&c) == sorted(&e) {
        return Class::Pass;
    }
    let first = c[0];
    if c.iter().chain(&e).all(|x| *x == first) {
        return Class::Pass;
    }
    let constant = |v: &[f64]| v.iter().all(|x| *x == v[0]);
    if constant(&c) && constant(&e) {
        // Kayenta adds Gaussian noise of 1e-5 × the value to two constant series; a small
        // deterministic jitter of the same size stands in for it.
        for (i, x) in c.iter_mut().enumerate() {
            *x += *x * 1e-5 * ((i % 7) as f64 - 3.0) / 3.0;
        }
        for (i, x) in e.iter_mut().enumerate() {
            *x += *x * 1e-5 * ((i % 5) as f64 - 2.0) / 2.0;
        }
    }
    let Some(((lower, _), estimate)) = mannwhitney::test(&e, &c, CONFIDENCE) else {
        return Class::Error;
    };
    let (cm, em) = (mean(&c), mean(&e));
    let ratio = if cm == 0.0 || em == 0.0 {
        f64::NAN
    } else {
        em / cm
    };
    let critical = TOLERANCE * estimate.abs();
    if lower > critical && (ratio.is_nan() || ratio >= 1.0) {
        Class::High
    } else {
        Class::Pass
    }
}

/// ScoringHelper for one group of metrics.
fn score(classes: &[Class]) -> f64 {
    let nodata = classes.iter().filter(|c| **c == Class::Nodata).count();
    if nodata * 2 >= classes.len() {
        return 0.0;
    }
    let pass = classes.iter().filter(|c| **c == Class::Pass).count();
    let counted = classes
        .iter()
        .filter(|c| matches!(c, Class::Pass | Class::High))
        .count();
    if counted == 0 {
        return 100.0;
    }
    100.0 * pass as f64 / counted as f64
}

impl Algorithm for Kayenta<'_> {
    fn second(&mut self, ctx: &Ctx, s: &Second) -> Decision {
        if ctx.stage != self.stage {
            // Each stage is one canary analysis with its own data.
            *self = Kayenta::new(self.stream);
            self.stage = ctx.stage;
        }
        self.minute.0.add(&s.canary);
        self.minute.1.add(&s.stable);
        if ctx.elapsed % 60 == 0 {
            let (c, st) = std::mem::take(&mut self.minute);
            let minute = ctx.t / 60;
            let rate = |v: &Served| {
                if v.requests == 0 {
                    f64::NAN
                } else {
                    v.errors as f64 / v.requests as f64
                }
            };
            let p99 = |canary: bool, v: &Served| {
                latency::quantile(&self.stream.minute_buckets(minute, canary, v), 0.99)
                    .unwrap_or(f64::NAN)
            };
            self.errors.0.push(rate(&c));
            self.errors.1.push(rate(&st));
            let (pc, ps) = (p99(true, &c), p99(false, &st));
            self.p99.0.push(pc);
            self.p99.1.push(ps);
        }
        let last = ctx.elapsed >= ctx.duration;
        if ctx.elapsed % INTERVAL != 0 && !last {
            return Decision::Continue;
        }
        let classes = [
            classify(&self.errors.1, &self.errors.0),
            classify(&self.p99.1, &self.p99.0),
        ];
        let sc = score(&classes);
        if sc <= MARGINAL {
            return Decision::Rollback;
        }
        if last {
            return if sc >= PASS {
                Decision::Promote
            } else {
                Decision::Rollback
            };
        }
        Decision::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clearly_higher_series_is_high_and_equal_ones_pass() {
        let control = vec![0.01, 0.012, 0.009, 0.011, 0.010, 0.008, 0.013, 0.01];
        let bad: Vec<f64> = control.iter().map(|x| x + 0.05).collect();
        assert_eq!(classify(&control, &bad), Class::High);
        assert_eq!(classify(&control, &control), Class::Pass);
        assert_eq!(classify(&[], &bad), Class::Nodata);
        assert_eq!(score(&[Class::Pass, Class::High]), 50.0);
        assert_eq!(score(&[Class::Nodata, Class::Pass]), 0.0);
    }
}
