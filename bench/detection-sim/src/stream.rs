//! Seeded request streams: every second, how many requests each version served, how many
//! failed, and how many were slower than the latency target and the p99 limit.
//!
//! A second's draws come from a generator seeded with (run seed, second): every algorithm that
//! has the same canary weight at that second sees exactly the same requests.

use crate::latency;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, Poisson};
use rand_pcg::Pcg64Mcg;

/// What the canary does differently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// The same as the stable version (A/A).
    None,
    /// The error rate plus this many percentage points.
    PlusPp(f64),
    /// The error rate times this factor.
    Times(f64),
    /// This fraction of requests three times slower.
    Slower(f64),
}

impl Effect {
    pub fn label(&self) -> String {
        match self {
            Effect::None => "none (A/A)".into(),
            Effect::PlusPp(x) => format!("+{x} pp"),
            Effect::Times(x) => format!("{x}×"),
            Effect::Slower(f) => format!("{} % 3× slower", f * 100.0),
        }
    }

    pub fn is_latency(&self) -> bool {
        matches!(self, Effect::Slower(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Requests per second, both versions together.
    pub rate: f64,
    /// Error rate of the stable version (and of the canary, before the effect).
    pub background: f64,
    pub effect: Effect,
}

impl Scenario {
    pub fn canary_error_rate(&self) -> f64 {
        match self.effect {
            Effect::PlusPp(x) => (self.background + x / 100.0).min(1.0),
            Effect::Times(x) => (self.background * x).min(1.0),
            _ => self.background,
        }
    }

    pub fn canary_slower(&self) -> f64 {
        match self.effect {
            Effect::Slower(f) => f,
            _ => 0.0,
        }
    }
}

/// One version's second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    pub errors: u64,
    /// Slower than the latency target, and slower than the p99 limit (a subset).
    pub over_target: u64,
    pub over_limit: u64,
}

impl Served {
    pub fn add(&mut self, o: &Served) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.over_target += o.over_target;
        self.over_limit += o.over_limit;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    pub stable: Served,
    pub canary: Served,
}

/// Probabilities of (over target, over limit | over target) for a version.
#[derive(Debug, Clone, Copy)]
struct Tails {
    over_target: f64,
    over_limit_given: f64,
}

impl Tails {
    fn new(slower: f64) -> Tails {
        let t = latency::tail(latency::TARGET, slower);
        let l = latency::tail(latency::LIMIT, slower);
        Tails {
            over_target: t,
            over_limit_given: if t > 0.0 { (l / t).min(1.0) } else { 0.0 },
        }
    }
}

pub struct Stream {
    seed: u64,
    pub scenario: Scenario,
    poisson: Option<Poisson<f64>>,
    stable_tails: Tails,
    canary_tails: Tails,
}

/// SplitMix64: spreads (seed, t) over the generator's seed space.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn binomial(rng: &mut Pcg64Mcg, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p).map_or(0, |b| b.sample(rng))
}

impl Stream {
    pub fn new(seed: u64, scenario: Scenario) -> Stream {
        Stream {
            seed,
            scenario,
            poisson: Poisson::new(scenario.rate).ok(),
            stable_tails: Tails::new(0.0),
            canary_tails: Tails::new(scenario.canary_slower()),
        }
    }

    fn version(&self, rng: &mut Pcg64Mcg, n: u64, error_rate: f64, tails: Tails) -> Served {
        let over_target = binomial(rng, n, tails.over_target);
        Served {
            requests: n,
            errors: binomial(rng, n, error_rate),
            over_target,
            over_limit: binomial(rng, over_target, tails.over_limit_given),
        }
    }

    /// Second `t` (the interval (t−1, t]) with the canary at `weight` percent.
    pub fn second(&self, t: u64, weight: u8) -> Second {
        let mut rng = Pcg64Mcg::seed_from_u64(mix(self.seed, t));
        let n = match &self.poisson {
            Some(p) => p.sample(&mut rng) as u64,
            None => 0,
        };
        let canary = binomial(&mut rng, n, f64::from(weight) / 100.0);
        let s = self.scenario;
        Second {
            stable: self.version(&mut rng, n - canary, s.background, self.stable_tails),
            canary: self.version(&mut rng, canary, s.canary_error_rate(), self.canary_tails),
        }
    }

    /// Latency bucket counts for a minute of one version, given how many of its requests were
    /// over the target and over the limit (Kayenta's p99 series needs the shape, the other
    /// algorithms only the counts).
    pub fn minute_buckets(
        &self,
        minute: u64,
        canary: bool,
        s: &Served,
    ) -> [u64; latency::EDGES.len() + 1] {
        let mut rng = Pcg64Mcg::seed_from_u64(mix(mix(self.seed, minute), 1 + canary as u64));
        let probs = latency::buckets(if canary {
            self.scenario.canary_slower()
        } else {
            0.0
        });
        let mut out = [0u64; latency::EDGES.len() + 1];
        // Three bands with known counts; within a band, split by the bucket probabilities.
        let bands = [
            (0, latency::TARGET_FROM, s.requests - s.over_target),
            (
                latency::TARGET_FROM,
                latency::SLOW_FROM,
                s.over_target - s.over_limit,
            ),
            (latency::SLOW_FROM, latency::EDGES.len() + 1, s.over_limit),
        ];
        for (from, to, mut left) in bands {
            let mut mass: f64 = probs[from..to].iter().sum();
            for i in from..to {
                if i + 1 == to || mass <= 0.0 {
                    out[i] += left;
                    break;
                }
                let k = binomial(&mut rng, left, (probs[i] / mass).clamp(0.0, 1.0));
                out[i] += k;
                left -= k;
                mass -= probs[i];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_weight_give_the_same_second() {
        let sc = Scenario {
            rate: 100.0,
            background: 0.01,
            effect: Effect::PlusPp(5.0),
        };
        let a = Stream::new(7, sc);
        let b = Stream::new(7, sc);
        assert_eq!(a.second(42, 5), b.second(42, 5));
        assert_ne!(a.second(42, 5), a.second(43, 5));
    }

    #[test]
    fn rates_come_out_as_configured() {
        let sc = Scenario {
            rate: 1000.0,
            background: 0.01,
            effect: Effect::PlusPp(5.0),
        };
        let s = Stream::new(1, sc);
        let mut tot = Second::default();
        for t in 0..2000 {
            let x = s.second(t, 25);
            tot.stable.add(&x.stable);
            tot.canary.add(&x.canary);
        }
        let share = tot.canary.requests as f64 / (tot.canary.requests + tot.stable.requests) as f64;
        assert!((share - 0.25).abs() < 0.005, "{share}");
        let cr = tot.canary.errors as f64 / tot.canary.requests as f64;
        let sr = tot.stable.errors as f64 / tot.stable.requests as f64;
        assert!(
            (cr - 0.06).abs() < 0.002 && (sr - 0.01).abs() < 0.001,
            "{cr} {sr}"
        );
        let slow = tot.stable.over_target as f64 / tot.stable.requests as f64;
        assert!(
            (slow - latency::tail(latency::TARGET, 0.0)).abs() < 0.0005,
            "{slow}"
        );
    }

    #[test]
    fn minute_buckets_keep_the_bands() {
        let sc = Scenario {
            rate: 100.0,
            background: 0.0,
            effect: Effect::Slower(0.05),
        };
        let s = Stream::new(3, sc);
        let served = Served {
            requests: 1000,
            errors: 0,
            over_target: 40,
            over_limit: 3,
        };
        let b = s.minute_buckets(1, true, &served);
        assert_eq!(b.iter().sum::<u64>(), 1000);
        assert_eq!(b[latency::TARGET_FROM..].iter().sum::<u64>(), 40);
        assert_eq!(b[latency::SLOW_FROM..].iter().sum::<u64>(), 3);
    }
}
