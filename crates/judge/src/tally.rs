//! From the cumulative counts a metric source reports at each tick to the counts of each
//! interval between ticks, and the totals of each stage.
//!
//! Sources count from different origins: ship's proxy from its own start (a counter that only
//! restarts with the process), Prometheus' `increase(…[since the stage began])` from the start
//! of the stage. Both are handled by differencing each reading from high-water marks of the
//! readings before it.
//!
//! A source's counts can be a little out of step: Prometheus extrapolates each series of an
//! `increase()` on its own, so in one reading the errors can run ahead of the requests, and a
//! request count can go down a little from one tick to the next. So the marks move only by
//! what was counted: errors that an interval's requests do not cover (no more errors than
//! requests are counted in an interval) stay above the mark and are counted in a later
//! interval, never dropped; and a count that went down counts nothing until it is above its
//! mark again, never twice. Dropping them lost errors for good: a canary failing 5 % of its
//! requests was judged at 0.8 % to 1.9 %.
//!
//! A running counter (ship's proxy) counts exactly, so a request count of it that went down is
//! a restart: counting starts again from that reading (the interval it ends is lost, which
//! costs evidence, never validity). Counts since the stage began have no restart within the
//! stage (`increase()` already counts across a counter's resets): a drop is noise, even a large
//! one early in a stage — which any fraction of the count would take for a restart, and then
//! count the requests between the dip and the mark twice. A source that lost its data costs the
//! evidence until its count is above the mark again, never validity.

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

/// The counts of the interval from the marks `before` to the reading `now`, and the marks
/// moved by exactly what the interval counted.
///
/// No more errors (or slow requests) than requests are counted in an interval; the rest stays
/// above the mark for a later interval. Counts that went down (a source's rounding or
/// extrapolation) count nothing and leave the mark where it was, so they are neither
/// subtracted nor counted twice.
fn advance(now: &Counts, before: &Counts) -> (Counts, Counts) {
    let requests = now.requests.saturating_sub(before.requests);
    let take = |now: u64, before: u64| now.saturating_sub(before).min(requests);
    let errors = take(now.errors, before.errors);
    let (slow, slow_mark) = partial(now.slow, before.slow, take);
    let (slow_target, slow_target_mark) = partial(now.slow_target, before.slow_target, take);
    let interval = Counts {
        requests,
        errors,
        slow,
        slow_target,
    };
    let mark = Counts {
        requests: now.requests.max(before.requests),
        errors: before.errors + errors,
        slow: slow_mark,
        slow_target: slow_target_mark,
    };
    (interval, mark)
}

/// A count some readings may lack (`slow`): over the interval it is unknown unless both ends
/// are known (a reading that lacked it leaves the next interval unknown too, rather than
/// counting a running total as one interval), and the mark is the reading's when it was not
/// counted.
fn partial(
    now: Option<u64>,
    before: Option<u64>,
    take: impl Fn(u64, u64) -> u64,
) -> (Option<u64>, Option<u64>) {
    match (now, before) {
        (Some(a), Some(b)) => {
            let counted = take(a, b);
            (Some(counted), Some(b + counted))
        }
        (a, _) => (None, a),
    }
}

/// Whether a reading of a running counter whose request count went down below the last mark
/// starts the counts again (see the module's documentation).
fn restarted(origin: Origin, now: &Reading, mark: &Reading) -> bool {
    origin == Origin::Counter
        && (now.stable.requests < mark.stable.requests
            || now.canary.requests < mark.canary.requests)
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
    if restarted(origin, &now, &previous) {
        return (Step::Baseline, fresh);
    }
    let (stable, stable_mark) = advance(&now.stable, &previous.stable);
    let (canary, canary_mark) = advance(&now.canary, &previous.canary);
    let interval = Reading { stable, canary };
    let kept = Last {
        stage,
        reading: Reading {
            stable: stable_mark,
            canary: canary_mark,
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

    #[test]
    fn errors_the_requests_did_not_cover_are_counted_in_a_later_interval() {
        let (_, l) = step(Origin::Stage, None, 0, r(10, 0, 10, 0));
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(11, 5, 10, 3));
        assert_eq!(s, Step::Interval(r(1, 1, 0, 0)));
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(20, 5, 20, 3));
        assert_eq!(s, Step::Interval(r(9, 4, 10, 3)), "carried, not dropped");
        let (s, _) = step(Origin::Stage, Some(&l), 0, r(30, 5, 30, 3));
        assert_eq!(s, Step::Interval(r(10, 0, 10, 0)), "and counted once");
        // A slow count too.
        let slow = |req: u64, slow: u64| Reading {
            stable: Counts::new(req, 0, None),
            canary: Counts::new(req, 0, Some(slow)),
        };
        let (_, l) = step(Origin::Counter, None, 0, slow(100, 10));
        let (s, l) = step(Origin::Counter, Some(&l), 0, slow(102, 15));
        assert!(matches!(s, Step::Interval(iv) if iv.canary.slow == Some(2)));
        let (s, _) = step(Origin::Counter, Some(&l), 0, slow(110, 15));
        assert!(matches!(s, Step::Interval(iv) if iv.canary.slow == Some(3)));
    }

    #[test]
    fn a_count_since_the_stage_began_that_goes_down_is_not_a_restart() {
        let (_, l) = step(Origin::Stage, None, 0, r(100, 5, 100, 5));
        // Prometheus extrapolated the requests a little less this time: nothing is counted,
        // and the marks stay.
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(97, 6, 98, 5));
        assert_eq!(s, Step::Interval(r(0, 0, 0, 0)));
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(105, 7, 104, 6));
        assert_eq!(s, Step::Interval(r(5, 2, 4, 1)));
        // Far below (a source that lost its data): nothing is counted until the count is
        // above the mark again, and nothing twice.
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(105, 7, 40, 1));
        assert_eq!(s, Step::Interval(r(0, 0, 0, 0)));
        let (s, l) = step(Origin::Stage, Some(&l), 0, r(110, 7, 90, 3));
        assert_eq!(s, Step::Interval(r(5, 0, 0, 0)));
        let (s, _) = step(Origin::Stage, Some(&l), 0, r(110, 7, 108, 9));
        assert_eq!(s, Step::Interval(r(0, 0, 4, 3)));
        // A running counter (ship's proxy) counts exactly: any drop is a restart.
        let (_, l) = step(Origin::Counter, None, 0, r(100, 5, 100, 5));
        let (s, _) = step(Origin::Counter, Some(&l), 0, r(100, 5, 99, 5));
        assert_eq!(s, Step::Baseline);
    }
}
