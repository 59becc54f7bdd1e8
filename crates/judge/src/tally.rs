//! From the cumulative counts a metric source reports at each tick to the counts of each
//! interval between ticks, and the totals of each stage.
//!
//! Sources count from different origins: ship's proxy from its own start (a counter that only
//! restarts with the process), Prometheus' `increase(…[since the stage began])` from the start
//! of the stage. Both are handled by differencing successive readings; a reading whose request
//! count went down is a restart, and counting starts again from it (the interval it ends is
//! lost, which costs evidence, never validity).

use crate::bet::Counts;
use serde::{Deserialize, Serialize};

/// Where a source's cumulative counts start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Counted since the stage began (Prometheus `increase` over the stage, a command given
    /// `{since}`): the first reading of a stage is that stage's first interval.
    #[default]
    Stage,
    /// A counter that keeps running across stages (ship's proxy): readings are only compared
    /// with the previous one.
    Counter,
}

/// One reading: cumulative counts of both versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// The stable version's cumulative counts.
    pub stable: Counts,
    /// The canary's cumulative counts.
    pub canary: Counts,
}

/// What a reading contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The counts of the interval since the previous reading.
    Interval(Reading),
    /// The first reading of a running counter, or one after a restart: a new starting point.
    Baseline,
}

/// The last reading, with the stage it was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Last {
    /// The stage it was taken in.
    pub stage: usize,
    /// The reading.
    pub reading: Reading,
}

fn minus(now: &Counts, before: &Counts) -> Counts {
    let requests = now.requests - before.requests;
    let clamp = |x: u64| x.min(requests);
    Counts {
        requests,
        errors: clamp(now.errors.saturating_sub(before.errors)),
        slow: sub(now.slow, before.slow).map(clamp),
        slow_target: sub(now.slow_target, before.slow_target).map(clamp),
    }
}

/// A count over the interval: unknown unless both ends are known (a reading that lacked it
/// leaves the next interval unknown too, rather than counting a running total as one interval).
fn sub(now: Option<u64>, before: Option<u64>) -> Option<u64> {
    match (now, before) {
        (Some(a), Some(b)) => Some(a.saturating_sub(b)),
        _ => None,
    }
}

fn max(now: Option<u64>, before: Option<u64>) -> Option<u64> {
    match (now, before) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, _) => a,
    }
}

/// High-water marks: errors or slow counts that went down while requests did not (a source's
/// rounding) are neither subtracted nor counted twice.
fn mark(now: &Counts, before: &Counts) -> Counts {
    Counts {
        requests: now.requests,
        errors: now.errors.max(before.errors),
        slow: max(now.slow, before.slow),
        slow_target: max(now.slow_target, before.slow_target),
    }
}

/// The interval a reading closes, given the previous one.
pub fn step(origin: Origin, last: Option<&Last>, stage: usize, now: Reading) -> (Step, Last) {
    let fresh = Last {
        stage,
        reading: now,
    };
    // Counted from zero: slow requests too, even when the source did not say so yet.
    let zero = Reading {
        stable: Counts {
            slow: Some(0),
            slow_target: Some(0),
            ..Counts::default()
        },
        canary: Counts {
            slow: Some(0),
            slow_target: Some(0),
            ..Counts::default()
        },
    };
    let previous = match (origin, last) {
        (Origin::Stage, Some(l)) if l.stage == stage => l.reading,
        (Origin::Stage, _) => zero,
        (Origin::Counter, Some(l)) => l.reading,
        (Origin::Counter, None) => return (Step::Baseline, fresh),
    };
    if now.stable.requests < previous.stable.requests
        || now.canary.requests < previous.canary.requests
    {
        return (Step::Baseline, fresh);
    }
    let interval = Reading {
        stable: minus(&now.stable, &previous.stable),
        canary: minus(&now.canary, &previous.canary),
    };
    let kept = Last {
        stage,
        reading: Reading {
            stable: mark(&now.stable, &previous.stable),
            canary: mark(&now.canary, &previous.canary),
        },
    };
    (Step::Interval(interval), kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sr: u64, se: u64, cr: u64, ce: u64) -> Reading {
        Reading {
            stable: Counts::new(sr, se, None),
            canary: Counts::new(cr, ce, None),
        }
    }

    #[test]
    fn stage_counts_restart_with_each_stage() {
        let (s, l) = step(Origin::Stage, None, 0, r(100, 1, 10, 0));
        assert_eq!(s, Step::Interval(r(100, 1, 10, 0)));
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(250, 2, 30, 1));
        assert_eq!(s, Step::Interval(r(150, 1, 20, 1)));
        // The next stage's first reading counts from zero, even when it is above the last one.
        let (s, _) = step(Origin::Stage, Some(&l), 1, r(400, 3, 90, 1));
        assert_eq!(s, Step::Interval(r(400, 3, 90, 1)));
    }

    #[test]
    fn a_running_counter_starts_from_its_first_reading_and_crosses_stages() {
        let (s, l) = step(Origin::Counter, None, 0, r(1000, 10, 0, 0));
        assert_eq!(s, Step::Baseline);
        let (s, l) = step(Origin::Counter, Some(&l), 0, r(1100, 11, 5, 0));
        assert_eq!(s, Step::Interval(r(100, 1, 5, 0)));
        let (s, _) = step(Origin::Counter, Some(&l), 1, r(1150, 11, 30, 2));
        assert_eq!(s, Step::Interval(r(50, 0, 25, 2)));
    }

    #[test]
    fn a_restart_is_a_new_baseline_and_noise_is_never_counted_twice() {
        let (_, l) = step(Origin::Counter, None, 0, r(1000, 10, 50, 5));
        let (s, l) = step(Origin::Counter, Some(&l), 0, r(20, 0, 1, 0));
        assert_eq!(s, Step::Baseline);
        // Errors that went down by a rounding: this interval has none, and the mark stays.
        let (s, l) = step(Origin::Counter, Some(&l), 0, r(40, 0, 3, 0));
        assert_eq!(s, Step::Interval(r(20, 0, 2, 0)));
        let (_, l2) = step(Origin::Stage, None, 0, r(100, 5, 10, 2));
        let (s, l2) = step(Origin::Stage, Some(&l2), 0, r(110, 4, 12, 2));
        assert_eq!(s, Step::Interval(r(10, 0, 2, 0)));
        let (s, _) = step(Origin::Stage, Some(&l2), 0, r(120, 6, 14, 2));
        assert_eq!(
            s,
            Step::Interval(r(10, 1, 2, 0)),
            "5 → 4 → 6 is one new error"
        );
        let _ = l;
    }

    #[test]
    fn a_slow_count_missing_at_one_end_leaves_the_interval_unknown() {
        let with_slow = |req: u64, slow: Option<u64>| Reading {
            stable: Counts::new(req * 10, 0, None),
            canary: Counts::new(req, 0, slow),
        };
        // A running counter with 5,000 slow requests since the proxy started.
        let (_, l) = step(Origin::Counter, None, 0, with_slow(100_000, Some(5_000)));
        let (s, l) = step(Origin::Counter, Some(&l), 0, with_slow(100_100, None));
        assert!(matches!(s, Step::Interval(iv) if iv.canary.slow.is_none()));
        let (s, l) = step(
            Origin::Counter,
            Some(&l),
            0,
            with_slow(100_200, Some(5_001)),
        );
        assert!(
            matches!(s, Step::Interval(iv) if iv.canary.slow.is_none()),
            "never 5,001 slow requests in an interval of 100"
        );
        let (s, _) = step(
            Origin::Counter,
            Some(&l),
            0,
            with_slow(100_300, Some(5_002)),
        );
        assert!(matches!(s, Step::Interval(iv) if iv.canary.slow == Some(1)));
        // Counted since the stage began, the first reading is an interval from zero.
        let (s, _) = step(Origin::Stage, None, 0, with_slow(100, Some(3)));
        assert!(matches!(s, Step::Interval(iv) if iv.canary.slow == Some(3)));
    }

    #[test]
    fn more_errors_than_requests_in_an_interval_are_capped() {
        let (_, l) = step(Origin::Stage, None, 0, r(10, 0, 10, 0));
        let (s, _) = step(Origin::Stage, Some(&l), 0, r(11, 5, 10, 3));
        assert_eq!(s, Step::Interval(r(1, 1, 0, 0)));
    }
}
