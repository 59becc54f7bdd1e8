//! The one error type of this crate: a gate name, a waiver or an acceptance that a rule refuses.
//! The messages say what to do instead; callers decide by variant, never by the text.

use crate::Gate;

/// Why a gate, a waiver or an acceptance was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// A gate id that is not one of [`Gate::ALL`].
    #[error("unknown gate `{name}` (gates: {})", Gate::ALL.map(|g| g.id()).join(", "))]
    UnknownGate {
        /// What was written.
        name: String,
    },
    /// The approval gate: never waivable.
    #[error("the approval gate can never be overridden: a release needs its human approval (`ship release approve`)")]
    ApprovalNotWaivable,
    /// A hotfix's gate that keeps its security checks mandatory.
    #[error("the {0} gate cannot be overridden for a hotfix: security checks stay mandatory on the emergency path")]
    NotWaivableForHotfix(Gate),
    /// A waiver without its reason.
    #[error("--override {0} needs a --reason")]
    OverrideWithoutReason(Gate),
    /// An acceptance of a handoff warning without its reason.
    #[error("--accept {0} needs a reason: --accept {0}=\"why\"")]
    AcceptanceWithoutReason(String),
    /// An acceptance naming no exit criterion of the report.
    #[error("unknown exit criterion `{item}` (criteria: {known})")]
    UnknownCriterion {
        /// What was written.
        item: String,
        /// The report's criteria, comma-separated.
        known: String,
    },
    /// An acceptance of a criterion that is not a warning.
    #[error("`{item}` is {status}, not a warning: only a criterion the evidence could not confirm can be accepted")]
    NotAWarning {
        /// The criterion.
        item: String,
        /// Its status (`pass`, `fail`, …).
        status: &'static str,
    },
}
