//! The rollout engine's brain, with no I/O and no clock: a rollout's state plus an input (a tick
//! at time T with measurements, or an operator command) gives the next state, the effects the
//! controller must carry out (set a weight, roll back), and a decision that explains itself.
//!
//! Time only ever arrives inside inputs, so every behaviour — durations, limits, timeouts — is
//! tested by feeding instants, never by sleeping.

pub mod cause;
pub mod condition;
pub mod criteria;
pub mod machine;
pub mod measure;
pub mod plan;

pub use cause::{PauseCause, Rollback, RollbackCause};
pub use condition::Condition;
pub use machine::{Decision, DecisionKind, Effect, HoldKind, Input, Phase, Rollout};
pub use measure::{Measurement, Observation};
pub use plan::{CheckDef, Plan, Settings, StagePlan};
