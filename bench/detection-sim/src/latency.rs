//! The latency model of the simulated service: lognormal request times, a regression that
//! makes a fraction of the canary's requests three times slower, and histogram buckets as a
//! Prometheus client would keep them (the limit of the p99 trigger is one of the edges).

/// Bucket upper edges in seconds; the last bucket is +Inf.
pub const EDGES: [f64; 10] = [0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5];
/// The latency target (the `latency` stage check: p99 within it).
pub const TARGET: f64 = 0.1;
/// The p99 trigger's limit: 2 × target.
pub const LIMIT: f64 = 0.2;
/// Index of the first bucket above the target, and above the limit.
pub const TARGET_FROM: usize = 4;
pub const SLOW_FROM: usize = 6;
/// Median request time and log-scale spread of a healthy version: its p99 is 90 ms, within the
/// 100 ms target; 0.44 % of its requests are slower than the target, almost none than the limit.
/// A regression that makes 1 % (5 %) of requests 3× slower puts 1.14 % (3.9 %) over the target:
/// the p99 leaves the target, not 2 × target.
pub const MEDIAN: f64 = 0.040;
pub const SIGMA: f64 = 0.35;

/// The standard normal upper tail, from erfc (W. J. Cody's rational approximation via
/// Numerical Recipes' erfcc, relative error below 1.2e-7 everywhere).
pub fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = t
        * (-x * x - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    erfc / 2.0
}

/// P(request time > x) for a version whose `slower` fraction of requests take 3× as long.
pub fn tail(x: f64, slower: f64) -> f64 {
    let one = |scale: f64| upper_tail((x / (MEDIAN * scale)).ln() / SIGMA);
    (1.0 - slower) * one(1.0) + slower * one(3.0)
}

/// Probability of each bucket (the last is +Inf).
pub fn buckets(slower: f64) -> [f64; EDGES.len() + 1] {
    let mut out = [0.0; EDGES.len() + 1];
    let mut below = 0.0;
    for (i, e) in EDGES.iter().enumerate() {
        let upto = 1.0 - tail(*e, slower);
        out[i] = (upto - below).max(0.0);
        below = upto;
    }
    out[EDGES.len()] = (1.0 - below).max(0.0);
    out
}

/// The q-quantile of bucket counts, interpolated within its bucket as Prometheus'
/// `histogram_quantile` does (the lowest bucket starts at 0); None without requests.
pub fn quantile(counts: &[u64; EDGES.len() + 1], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut cum = 0u64;
    for (i, n) in counts.iter().enumerate() {
        let next = cum + n;
        if next as f64 >= rank {
            if i == EDGES.len() {
                // histogram_quantile answers the highest finite edge for the +Inf bucket.
                return Some(EDGES[EDGES.len() - 1]);
            }
            let lo = if i == 0 { 0.0 } else { EDGES[i - 1] };
            let within = if *n == 0 {
                0.0
            } else {
                (rank - cum as f64) / *n as f64
            };
            return Some(lo + (EDGES[i] - lo) * within);
        }
        cum = next;
    }
    Some(EDGES[EDGES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_as_documented() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(2.326348) - 0.01).abs() < 1e-6);
        let healthy = tail(TARGET, 0.0);
        assert!((healthy - 0.0044).abs() < 0.0002, "{healthy}");
        assert!(tail(LIMIT, 0.0) < 1e-5);
        // 1 % and 5 % of requests 3× slower push the share over the target past 1 %.
        assert!(
            tail(TARGET, 0.01) > 0.0110 && tail(TARGET, 0.01) < 0.0118,
            "{}",
            tail(TARGET, 0.01)
        );
        assert!(tail(TARGET, 0.05) > 0.038, "{}", tail(TARGET, 0.05));
        assert!(tail(LIMIT, 0.05) < 0.01);
        let b = buckets(0.0);
        assert!((b.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((b[TARGET_FROM..].iter().sum::<f64>() - healthy).abs() < 1e-9);
        assert_eq!(EDGES[SLOW_FROM - 1], LIMIT);
        assert_eq!(EDGES[TARGET_FROM - 1], TARGET);
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let mut c = [0u64; EDGES.len() + 1];
        c[3] = 100; // all in (0.075, 0.1]
        assert!((quantile(&c, 0.5).unwrap() - 0.0875).abs() < 1e-9);
        c[10] = 10;
        assert_eq!(quantile(&c, 0.99), Some(2.5));
        assert_eq!(quantile(&[0; EDGES.len() + 1], 0.99), None);
    }
}
