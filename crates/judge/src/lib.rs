//! The statistical judge of a rollout: request counts in, a verdict out. No I/O, no clock.
//!
//! The Ship loop's rollback triggers "error rate increases more than MAX_ERROR_RATE_INCREASE
//! above baseline" and "p99 latency exceeds 2× target" are tested on the evidence accumulated
//! since each stage began, not on one window: a healthy canary is rolled back with probability
//! at most α over the whole rollout however often the judge looks, a clearly broken one is
//! rolled back as soon as the counts show it, and a stage is promoted only when the counts rule
//! out a regression of the configured size. See [`bet`] for the method and docs/ROLLOUT.md for
//! what it means for a release.

pub mod bet;
pub mod judge;
pub mod replay;
pub mod tally;
pub mod text;
pub mod trace;

pub use bet::Counts;
pub use judge::{
    Bound, Call, Evidence, Judge, Limits, Numbers, Settings, StageInfo, State, Tally, Verdict,
    SLOW_ALLOWED,
};
pub use tally::{Origin, Reading};
