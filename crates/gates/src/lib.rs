//! Pre-deployment gates: the Ship loop's Step 2 checklist, one gate per item, each decided from
//! evidence gathered elsewhere (this crate does no I/O and never reads the clock), and the
//! overrides a human may record for the gates that allow one.

mod error;
mod evidence;
pub mod handoff;
pub mod validation;

pub use error::GateError;
pub use evidence::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One item of the Ship loop's pre-deployment checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// Every change's evaluation verdict says PASS.
    QualityEvaluations,
    /// A human approved the contract.
    Approval,
    /// The rollback was rehearsed in staging, recently enough.
    RollbackRehearsal,
    /// The release's feature flags are registered and valid.
    FeatureFlags,
    /// The migrations pass the lint.
    Migrations,
    /// The metric source answers the rollout's queries.
    Monitoring,
    /// The on-call team was notified.
    Oncall,
}

impl Gate {
    /// Every gate, in the checklist's order.
    pub const ALL: [Gate; 7] = [
        Gate::QualityEvaluations,
        Gate::Approval,
        Gate::RollbackRehearsal,
        Gate::FeatureFlags,
        Gate::Migrations,
        Gate::Monitoring,
        Gate::Oncall,
    ];

    /// The gate's id (`quality-evaluations`, …), as `--override` names it.
    pub fn id(&self) -> &'static str {
        match self {
            Gate::QualityEvaluations => "quality-evaluations",
            Gate::Approval => "approval",
            Gate::RollbackRehearsal => "rollback-rehearsal",
            Gate::FeatureFlags => "feature-flags",
            Gate::Migrations => "migrations",
            Gate::Monitoring => "monitoring",
            Gate::Oncall => "oncall",
        }
    }

    /// The checklist item as the Ship loop's Step 2 words it.
    pub fn item(&self) -> &'static str {
        match self {
            Gate::QualityEvaluations => "All quality evaluations passed",
            Gate::Approval => "Release contract approved by human",
            Gate::RollbackRehearsal => "Rollback plan documented and tested",
            Gate::FeatureFlags => "Feature flags configured and tested in staging",
            Gate::Migrations => "Database migrations backward-compatible",
            Gate::Monitoring => "Monitoring dashboards ready",
            Gate::Oncall => "On-call team notified",
        }
    }

    /// Whether a human may waive this gate. Never the approval (the deployer must not be able
    /// to stand in for the approver); for a hotfix, never the quality evaluations either, which
    /// carry the security checks the Ship loop's hotfix path keeps mandatory.
    pub fn waivable(&self, hotfix: bool) -> bool {
        match self {
            Gate::Approval => false,
            Gate::QualityEvaluations => !hotfix,
            _ => true,
        }
    }

    /// The gate with this id (`quality-evaluations`, `approval`, …).
    pub fn parse(s: &str) -> Result<Gate, GateError> {
        Gate::ALL
            .into_iter()
            .find(|g| g.id() == s)
            .ok_or_else(|| GateError::UnknownGate {
                name: s.to_string(),
            })
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// A gate's or an exit criterion's status.
pub enum Status {
    /// Passes.
    Pass,
    /// Passes, with something a person should look at.
    Warn,
    /// Fails.
    Fail,
    /// Failed, and a human waived it with a reason.
    Overridden,
}

impl Status {
    /// The status's name (`pass`, `warn`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Overridden => "overridden",
        }
    }
}

/// A human's waiver of one failing gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The gate waived.
    pub gate: Gate,
    /// Who waived it.
    pub by: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One gate's result.
pub struct GateResult {
    /// The gate.
    pub gate: Gate,
    /// Its checklist line.
    pub item: String,
    /// Its status.
    pub status: Status,
    /// What was looked at, one line each.
    pub evidence: Vec<String>,
    /// What to do about a failure or warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The waiver, when a failure was overridden.
    pub overridden: Option<Override>,
}

impl GateResult {
    /// A result with its checklist line.
    pub fn new(gate: Gate, status: Status, evidence: Vec<String>, fix: Option<String>) -> Self {
        GateResult {
            gate,
            item: gate.item().to_string(),
            status,
            evidence,
            fix,
            overridden: None,
        }
    }

    /// A passed gate.
    pub fn pass(gate: Gate, evidence: Vec<String>) -> Self {
        Self::new(gate, Status::Pass, evidence, None)
    }

    /// A failed gate, with what to do.
    pub fn fail(gate: Gate, evidence: Vec<String>, fix: impl Into<String>) -> Self {
        Self::new(gate, Status::Fail, evidence, Some(fix.into()))
    }

    /// A gate that passes with a warning, with what to look at.
    pub fn warn(gate: Gate, evidence: Vec<String>, fix: impl Into<String>) -> Self {
        Self::new(gate, Status::Warn, evidence, Some(fix.into()))
    }

    /// The evidence in one line, for tables.
    pub fn summary(&self) -> String {
        self.evidence.join("; ")
    }
}

/// `ship check`'s answer to "may this release start?".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The release's id.
    pub release: String,
    /// When the gates were checked.
    pub checked_at: DateTime<Utc>,
    /// Whether it is a hotfix (fewer gates may be waived).
    pub hotfix: bool,
    /// Every gate's result.
    pub gates: Vec<GateResult>,
}

impl Report {
    /// True when no gate fails (warnings and recorded overrides do not block).
    pub fn passed(&self) -> bool {
        self.gates.iter().all(|g| g.status != Status::Fail)
    }

    /// The gates that fail (not overridden).
    pub fn failing(&self) -> Vec<Gate> {
        self.gates
            .iter()
            .filter(|g| g.status == Status::Fail)
            .map(|g| g.gate)
            .collect()
    }

    /// Applies waivers. A waiver for a gate that may not be waived is refused as a whole
    /// (nothing applied), so a script cannot half-start; a waiver for a gate that does not fail
    /// is not needed and is returned as a note instead of being recorded.
    pub fn apply_overrides(&mut self, overrides: &[Override]) -> Result<Vec<String>, GateError> {
        for o in overrides {
            if !o.gate.waivable(self.hotfix) {
                return Err(match o.gate {
                    Gate::Approval => GateError::ApprovalNotWaivable,
                    g => GateError::NotWaivableForHotfix(g),
                });
            }
            if o.reason.trim().is_empty() {
                return Err(GateError::OverrideWithoutReason(o.gate));
            }
        }
        let mut notes = Vec::new();
        for o in overrides {
            match self.gates.iter_mut().find(|g| g.gate == o.gate) {
                Some(g) if g.status == Status::Fail => {
                    g.status = Status::Overridden;
                    g.overridden = Some(o.clone());
                }
                Some(g) => notes.push(format!(
                    "--override {}: the gate is {}, nothing to override",
                    o.gate,
                    g.status.as_str()
                )),
                None => notes.push(format!("--override {}: the gate was not checked", o.gate)),
            }
        }
        Ok(notes)
    }
}

#[cfg(test)]
mod tests;
