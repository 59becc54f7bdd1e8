//! Outcomes of many runs of one cell, summarised per algorithm.

use crate::rollout::End;

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub runs: usize,
    pub rolled_back: usize,
    pub paused: usize,
    pub completed: usize,
    /// Seconds to the rollback, and bad requests before it, of the runs that rolled back.
    pub times: Vec<u64>,
    pub bad: Vec<u64>,
    /// Seconds to completing the plan, of the runs that completed.
    pub completion_times: Vec<u64>,
}

impl Summary {
    pub fn add(&mut self, e: &End) {
        self.runs += 1;
        match *e {
            End::RolledBack { t, bad, .. } => {
                self.rolled_back += 1;
                self.times.push(t);
                self.bad.push(bad);
            }
            End::Paused { .. } => self.paused += 1,
            End::Completed { t, .. } => {
                self.completed += 1;
                self.completion_times.push(t);
            }
        }
    }

    pub fn rate(&self, n: usize) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            n as f64 / self.runs as f64
        }
    }

    pub fn median_time(&self) -> Option<u64> {
        median(&self.times)
    }

    pub fn median_bad(&self) -> Option<u64> {
        median(&self.bad)
    }
}

pub fn median(v: &[u64]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    Some(s[s.len() / 2])
}

/// The upper end of a 95 % confidence interval for a proportion seen `k` times in `n` runs
/// (Wilson score interval).
pub fn upper95(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z * z / n)).min(1.0)
}

/// A percentage for a table: "0.0 %", "99.9 %".
pub fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Seconds for a table: "42 s", "12 m".
pub fn secs(s: Option<u64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s < 600 => format!("{s} s"),
        Some(s) => format!("{} m", (s + 30) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_upper_bound() {
        assert!(
            (upper95(0, 1000) - 0.0038).abs() < 0.0002,
            "{}",
            upper95(0, 1000)
        );
        assert!(upper95(10, 1000) > 0.01);
        assert_eq!(median(&[3, 1, 2]), Some(2));
    }
}
