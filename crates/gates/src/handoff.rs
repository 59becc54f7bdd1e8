//! The Ship loop's exit criteria (Handoff to Operate), one item each, from recorded evidence:
//! the approval's verification, the rollout's state, the validation record, the outcome
//! contract, the runbook, the on-call acknowledgement and the flag registry. No I/O here.

use crate::{GateError, Status};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// The three sections of the Ship loop's exit-criteria checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// The artifacts the handoff needs (contract, validation, outcome contract, runbook).
    RequiredArtifacts,
    /// The gates the rollout and validation passed.
    QualityGates,
    /// Who owns what after the handoff.
    OwnershipTransfer,
}

impl Section {
    /// The section's heading.
    pub fn title(&self) -> &'static str {
        match self {
            Section::RequiredArtifacts => "Required artifacts",
            Section::QualityGates => "Quality gates passed",
            Section::OwnershipTransfer => "Ownership transfer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
/// One exit criterion and what the evidence says of it.
pub struct Item {
    /// Its section.
    pub section: Section,
    /// Its id, as `--accept` names it.
    pub id: &'static str,
    /// The checklist line as the Ship loop's exit criteria word it.
    pub item: &'static str,
    /// Pass, warn, fail, or accepted (overridden).
    pub status: Status,
    /// What the evidence shows.
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// What to do about a failure or warning.
    pub fix: Option<String>,
    /// A person accepted this warning, with a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// A person's acceptance of one exit criterion the evidence could not confirm (a warning, such
/// as "no alert source to check critical alerts"); a failing criterion is never acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    /// The criterion's id.
    pub item: String,
    /// Who accepted it.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// One validation item as recorded in the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The item's name.
    pub name: String,
    /// pass, warn or fail.
    pub status: String,
    /// What it saw.
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq)]
/// The post-deployment validation recorded in the contract.
pub struct ValidationEvidence {
    /// running, passed or failed.
    pub result: String,
    /// When it ended (None: still running).
    pub ended_at: Option<DateTime<Utc>>,
    /// Its items.
    pub items: Vec<Recorded>,
}

#[derive(Debug, Clone, PartialEq)]
/// A flag the release names, as the registry knows it.
pub struct FlagEvidence {
    /// The flag's name.
    pub name: String,
    /// None: not in the registry.
    pub temporary: Option<bool>,
    /// Its cleanup date, if any.
    pub cleanup_by: Option<NaiveDate>,
    /// Its owner.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq)]
/// One checkpoint of the outcome contract's schedule.
pub struct Checkpoint {
    /// Its name.
    pub name: String,
    /// When it is due.
    pub date: NaiveDate,
}

/// What `ship release verify` found for the handoff.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalEvidence {
    /// The signatures verify: who approved, as the report says it.
    Approved(String),
    /// The contract is not (or no longer) approved: why, as `release verify` says it.
    NotApproved(String),
}

/// The mission's outcome contract as the caller read it.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeEvidence {
    /// Read: its file (workspace-relative) and its measurement schedule.
    Read {
        /// The outcome contract's file.
        file: String,
        /// Its checkpoints.
        schedule: Vec<Checkpoint>,
    },
    /// It exists but cannot be read: why.
    Unreadable(String),
}

/// The runbook `service.runbook` declares.
#[derive(Debug, Clone, PartialEq)]
pub struct RunbookEvidence {
    /// Its path, as ship.toml writes it.
    pub path: String,
    /// Why it cannot be used (missing, empty, unreadable); None when it can.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
/// Everything the handoff checklist is decided from, gathered by the caller.
pub struct Evidence {
    /// The release's id.
    pub release: String,
    /// Whether it is a hotfix.
    pub hotfix: bool,
    /// The release's status (shipped, validating, …).
    pub status: String,
    /// `release verify`: who approved, or why it is not approved.
    pub approval: ApprovalEvidence,
    /// The rollout's phase in the state database (None: never started).
    pub rollout_phase: Option<String>,
    /// The rollout's weight on the new version.
    pub rollout_weight: u8,
    /// Every stage of the plan, and those the decision log shows the rollout entered (with
    /// the rollout completed, each of them was completed).
    pub plan_stages: Vec<String>,
    /// The stages the rollout entered.
    pub reached_stages: Vec<String>,
    /// The recorded post-deployment validation, if any.
    pub validation: Option<ValidationEvidence>,
    /// The mission the release belongs to.
    pub mission: Option<String>,
    /// The outcome contract; None when the mission has none.
    pub outcome: Option<OutcomeEvidence>,
    /// `service.runbook`; None when none is declared.
    pub runbook: Option<RunbookEvidence>,
    /// Who acknowledged the release for the on-call team, and when.
    pub oncall_ack: Option<(String, DateTime<Utc>)>,
    /// The on-call team (`oncall.team`).
    pub oncall_team: String,
    /// Automatic rollback triggers and manual ones the contract documents.
    pub rollback_triggers: usize,
    /// The flags the release names.
    pub flags: Vec<FlagEvidence>,
    /// The flag registry could not be read.
    pub flag_registry_error: Option<String>,
    /// Who owns the Ship loop's side (`handoff.ship_owner`).
    pub ship_owner: String,
    /// Who owns operating the service (`handoff.operate_owner`).
    pub operate_owner: String,
    /// The status file the handoff is recorded in.
    pub status_file: String,
    /// Today, for due dates.
    pub today: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
/// The handoff checklist.
pub struct Report {
    /// The release's id.
    pub release: String,
    /// Its mission.
    pub mission: Option<String>,
    /// Every exit criterion, by section.
    pub items: Vec<Item>,
}

impl Report {
    /// Every Ship loop exit criterion must hold: a warning (unconfirmed) blocks like a failure
    /// until a person accepts it.
    pub fn passed(&self) -> bool {
        self.failing().is_empty()
    }

    /// Failing items and unaccepted warnings.
    pub fn failing(&self) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| matches!(i.status, Status::Fail | Status::Warn))
            .collect()
    }

    /// One command that accepts every unaccepted warning, each with its own reason to fill in:
    /// `ship handoff R --accept critical-alerts="…" --accept smoke-tests="…"`; None when no
    /// warning is left.
    pub fn accept_command(&self) -> Option<String> {
        let accepts: Vec<String> = self
            .items
            .iter()
            .filter(|i| i.status == Status::Warn)
            .map(|i| format!("--accept {}=\"…\"", i.id))
            .collect();
        (!accepts.is_empty())
            .then(|| format!("ship handoff {} {}", self.release, accepts.join(" ")))
    }

    /// Records acceptances of warnings. Refused as a whole (nothing applied) when one names an
    /// unknown item, an item that is not a warning, or has no reason.
    pub fn accept(&mut self, acceptances: &[Acceptance]) -> Result<(), GateError> {
        for a in acceptances {
            if a.reason.trim().is_empty() {
                return Err(GateError::AcceptanceWithoutReason(a.item.clone()));
            }
            let Some(item) = self.items.iter().find(|i| i.id == a.item) else {
                let ids: Vec<&str> = self.items.iter().map(|i| i.id).collect();
                return Err(GateError::UnknownCriterion {
                    item: a.item.clone(),
                    known: ids.join(", "),
                });
            };
            if item.status != Status::Warn {
                return Err(GateError::NotAWarning {
                    item: a.item.clone(),
                    status: item.status.as_str(),
                });
            }
        }
        for a in acceptances {
            if let Some(item) = self.items.iter_mut().find(|i| i.id == a.item) {
                item.status = Status::Overridden;
                item.accepted = Some(a.clone());
            }
        }
        Ok(())
    }
}

struct Builder {
    items: Vec<Item>,
}

impl Builder {
    fn push(
        &mut self,
        section: Section,
        id: &'static str,
        item: &'static str,
        result: (Status, String, Option<String>),
    ) {
        let (status, evidence, fix) = result;
        self.items.push(Item {
            section,
            id,
            item,
            status,
            evidence,
            fix,
            accepted: None,
        });
    }
}

fn pass(evidence: impl Into<String>) -> (Status, String, Option<String>) {
    (Status::Pass, evidence.into(), None)
}

fn fail(evidence: impl Into<String>, fix: impl Into<String>) -> (Status, String, Option<String>) {
    (Status::Fail, evidence.into(), Some(fix.into()))
}

fn warn(evidence: impl Into<String>, fix: impl Into<String>) -> (Status, String, Option<String>) {
    (Status::Warn, evidence.into(), Some(fix.into()))
}

/// Decides every exit criterion. The handoff may happen only when none fails.
pub fn decide(e: &Evidence) -> Report {
    let mut b = Builder { items: vec![] };
    let id = &e.release;
    use Section::*;

    b.push(
        RequiredArtifacts,
        "contract-approved",
        "Release contract exists and is approved",
        match &e.approval {
            ApprovalEvidence::Approved(who) => pass(format!("signature verifies: {who}")),
            ApprovalEvidence::NotApproved(why) => fail(
                why.clone(),
                format!("`ship release verify {id}` names what is wrong"),
            ),
        },
    );

    b.push(
        RequiredArtifacts,
        "rollout-completed",
        "Progressive deployment completed through all stages",
        rollout_item(e),
    );

    b.push(
        RequiredArtifacts,
        "validation-passed",
        "Post-deployment validation passed",
        match &e.validation {
            None => fail(
                "no post-deployment validation is recorded",
                format!("`ship validate {id}` watches production for validation.window"),
            ),
            Some(v) if v.result == "passed" => pass(format!(
                "passed{}",
                v.ended_at
                    .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%SZ")))
                    .unwrap_or_default()
            )),
            Some(v) => fail(
                format!("validation {}", v.result),
                format!("a validation that did not pass cannot be handed over; fix and ship again, or `ship validate {id}`"),
            ),
        },
    );

    let schedule = schedule_item(e);
    b.push(
        RequiredArtifacts,
        "measurement-schedule",
        "Outcome contract has measurement_schedule dates",
        schedule.0.clone(),
    );

    b.push(
        RequiredArtifacts,
        "runbook",
        "Runbook exists for the service (if applicable)",
        match &e.runbook {
            None => pass("not applicable: ship.toml declares no service.runbook"),
            Some(RunbookEvidence {
                path,
                problem: None,
            }) => pass(format!("{path} exists")),
            Some(RunbookEvidence {
                path,
                problem: Some(why),
            }) => fail(
                format!("{path}: {why}"),
                "write the runbook, or clear service.runbook if the service has none",
            ),
        },
    );

    let quality: [(&'static str, &'static str, &[&str]); 4] = [
        (
            "error-rates",
            "Error rates within normal bounds after full rollout",
            &["error-rate"],
        ),
        (
            "critical-alerts",
            "No critical alerts triggered during validation window",
            &["critical-alerts"],
        ),
        (
            "latency",
            "Latency within target for all affected endpoints",
            &["latency"],
        ),
        (
            "smoke-tests",
            "Smoke tests and user-facing functionality verified",
            &["smoke-tests", "user-facing"],
        ),
    ];
    for (item_id, text, names) in quality {
        b.push(QualityGates, item_id, text, quality_item(e, names));
    }

    b.push(
        OwnershipTransfer,
        "ship-owner",
        "Ship owner: release complete from their perspective",
        if e.status == "shipped" {
            pass(format!("{}: {id} is shipped", e.ship_owner))
        } else {
            fail(
                format!("{id} is {}, not shipped", e.status),
                "a release is complete for Ship once it is validated at 100 % (shipped)",
            )
        },
    );

    b.push(
        OwnershipTransfer,
        "operate-owner",
        "Operate owner takes over (outcomes, signals, stalls)",
        match &e.mission {
            Some(m) => pass(format!("{} takes over mission {m}", e.operate_owner)),
            None if e.hotfix => pass(format!(
                "{} takes over production signals (a hotfix without a mission has no outcomes to measure)",
                e.operate_owner
            )),
            None => fail(
                format!("{id} belongs to no mission: there is nothing for {} to own", e.operate_owner),
                "compile the release with `ship release new … --mission <name>`",
            ),
        },
    );

    b.push(
        OwnershipTransfer,
        "measurement-dates",
        "Operate owner has the measurement_schedule dates",
        schedule.1,
    );

    b.push(
        OwnershipTransfer,
        "oncall-aware",
        "On-call team aware, with the rollback procedure",
        match &e.oncall_ack {
            None => fail(
                format!("{} has not acknowledged {id}", e.oncall_team),
                format!("`ship oncall ack {id} --as <name>`"),
            ),
            Some(_) if e.rollback_triggers == 0 => fail(
                "the contract documents no rollback triggers",
                "the contract's Rollback section must list the triggers and procedure",
            ),
            Some((by, at)) => pass(format!(
                "acknowledged by {by} at {}; rollback procedure: the contract's Rollback section ({} triggers){}",
                at.format("%Y-%m-%d %H:%M:%SZ"),
                e.rollback_triggers,
                e.runbook
                    .as_ref()
                    .map(|r| format!(" and {}", r.path))
                    .unwrap_or_default()
            )),
        },
    );

    b.push(
        OwnershipTransfer,
        "flag-cleanup",
        "Feature-flag cleanup scheduled for every temporary flag",
        flags_item(e),
    );

    b.push(
        OwnershipTransfer,
        "status-updated",
        "STATUS.md shows the mission in Operate/measurement",
        match &e.mission {
            Some(m) => pass(format!(
                "on handoff, {} shows {m} in operate, owned by {}",
                e.status_file, e.operate_owner
            )),
            None => pass(format!(
                "on handoff, {} records {id} as operating",
                e.status_file
            )),
        },
    );

    Report {
        release: e.release.clone(),
        mission: e.mission.clone(),
        items: b.items,
    }
}

fn rollout_item(e: &Evidence) -> (Status, String, Option<String>) {
    let id = &e.release;
    match e.rollout_phase.as_deref() {
        None => fail(
            "the rollout never started",
            format!("`ship rollout start {id}`"),
        ),
        Some("completed") if e.rollout_weight == 100 => {
            let missing: Vec<&String> = e
                .plan_stages
                .iter()
                .filter(|s| !e.reached_stages.contains(s))
                .collect();
            if missing.is_empty() {
                pass(format!(
                    "{} at 100 %",
                    e.plan_stages
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(" → ")
                ))
            } else {
                fail(
                    format!(
                        "stages the rollout never went through: {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "the decision log must show every stage of the plan (`ship audit log --release …`)",
                )
            }
        }
        Some(phase) => fail(
            format!("the rollout is {phase} at {} %", e.rollout_weight),
            "only a rollout completed through 100 % is handed over",
        ),
    }
}

type Outcome = (Status, String, Option<String>);

/// (measurement_schedule filled in, dates ahead for the Operate owner).
fn schedule_item(e: &Evidence) -> (Outcome, Outcome) {
    let Some(mission) = &e.mission else {
        let r = if e.hotfix {
            pass("not applicable: a hotfix without a mission")
        } else {
            fail(
                "the release belongs to no mission, so no outcome contract",
                "compile the release with `--mission <name>` (`ship mission new <name>` writes the contract)",
            )
        };
        return (r.clone(), r);
    };
    match &e.outcome {
        None => {
            let r = fail(
                format!("mission {mission} has no outcome contract"),
                format!(
                    "`ship mission new {mission}`, then fill in metrics and measurement_schedule"
                ),
            );
            (r.clone(), r)
        }
        Some(OutcomeEvidence::Unreadable(why)) => {
            let r = fail(why.clone(), "fix the outcome contract");
            (r.clone(), r)
        }
        Some(OutcomeEvidence::Read { file, schedule }) if schedule.is_empty() => {
            let r = fail(
                format!("{file} has no measurement_schedule dates"),
                format!("add checkpoints (e.g. week-1 and day-30 after the release) to {file}"),
            );
            (r.clone(), r)
        }
        Some(OutcomeEvidence::Read { file, schedule }) => {
            let list = schedule
                .iter()
                .map(|c| format!("{} {}", c.name, c.date))
                .collect::<Vec<_>>()
                .join(", ");
            let ahead = schedule.iter().filter(|c| c.date >= e.today).count();
            let first = pass(format!("{file}: {list}"));
            let second = if ahead == 0 {
                fail(
                    format!("every checkpoint ({list}) is before {}", e.today),
                    format!("add a future checkpoint to {file}: the Operate owner needs a date to measure"),
                )
            } else {
                pass(format!(
                    "{} has {list}; `ship operate tick` measures each when due",
                    e.operate_owner
                ))
            };
            (first, second)
        }
    }
}

fn quality_item(e: &Evidence, names: &[&str]) -> Outcome {
    let Some(v) = &e.validation else {
        return fail(
            "no validation record",
            format!("`ship validate {}`", e.release),
        );
    };
    let mut worst = Status::Pass;
    let mut evidence = vec![];
    for name in names {
        match v.items.iter().find(|i| i.name == *name) {
            None => {
                worst = Status::Fail;
                evidence.push(format!("{name}: not in the validation record"));
            }
            Some(i) => {
                let s = match i.status.as_str() {
                    "pass" => Status::Pass,
                    "warn" => Status::Warn,
                    _ => Status::Fail,
                };
                if rank(s) > rank(worst) {
                    worst = s;
                }
                evidence.push(format!("{name} {}: {}", i.status, i.evidence));
            }
        }
    }
    let evidence = evidence.join("; ");
    match worst {
        Status::Pass => pass(evidence),
        Status::Warn => warn(evidence, "the validation window could not confirm it"),
        _ => fail(
            evidence,
            format!(
                "validation must pass this item: `ship validate {}`",
                e.release
            ),
        ),
    }
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Pass | Status::Overridden => 0,
        Status::Warn => 1,
        Status::Fail => 2,
    }
}

fn flags_item(e: &Evidence) -> Outcome {
    if let Some(err) = &e.flag_registry_error {
        return fail(format!("flag registry: {err}"), "fix the flag registry");
    }
    if e.flags.is_empty() {
        return pass("the release uses no feature flags");
    }
    let mut bad = vec![];
    let mut good = vec![];
    for f in &e.flags {
        match (f.temporary, f.cleanup_by) {
            (None, _) => bad.push(format!("{}: not in the flag registry", f.name)),
            (Some(true), None) => bad.push(format!(
                "{}: temporary flag without a cleanup_by date (owner {})",
                f.name,
                if f.owner.is_empty() {
                    "unknown"
                } else {
                    &f.owner
                }
            )),
            (Some(true), Some(d)) => good.push(format!("{} cleanup by {d}", f.name)),
            (Some(false), _) => good.push(format!("{} permanent", f.name)),
        }
    }
    if bad.is_empty() {
        pass(good.join(", "))
    } else {
        fail(
            bad.join("; "),
            "set cleanup_by for each temporary flag in the registry (flags.registry_file)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn good() -> Evidence {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let item = |n: &str| Recorded {
            name: n.into(),
            status: "pass".into(),
            evidence: "ok".into(),
        };
        Evidence {
            release: "2026-11-27-web".into(),
            hotfix: false,
            status: "shipped".into(),
            approval: ApprovalEvidence::Approved("alice".into()),
            rollout_phase: Some("completed".into()),
            rollout_weight: 100,
            plan_stages: vec!["canary".into(), "full".into()],
            reached_stages: vec!["canary".into(), "full".into()],
            validation: Some(ValidationEvidence {
                result: "passed".into(),
                ended_at: Some(t),
                items: [
                    "error-rate",
                    "latency",
                    "critical-alerts",
                    "smoke-tests",
                    "user-facing",
                ]
                .iter()
                .map(|n| item(n))
                .collect(),
            }),
            mission: Some("checkout".into()),
            outcome: Some(OutcomeEvidence::Read {
                file: "work/missions/checkout/OUTCOME-CONTRACT.md".into(),
                schedule: vec![Checkpoint {
                    name: "week-1".into(),
                    date: d("2026-12-04"),
                }],
            }),
            runbook: None,
            oncall_ack: Some(("bob".into(), t)),
            oncall_team: "on-call".into(),
            rollback_triggers: 4,
            flags: vec![FlagEvidence {
                name: "new-cart".into(),
                temporary: Some(true),
                cleanup_by: Some(d("2027-01-05")),
                owner: "team".into(),
            }],
            flag_registry_error: None,
            ship_owner: "Orchestration Layer".into(),
            operate_owner: "Quality Layer".into(),
            status_file: "STATUS.md".into(),
            today: d("2026-11-27"),
        }
    }

    fn failing(e: &Evidence) -> Vec<&'static str> {
        decide(e)
            .items
            .iter()
            .filter(|i| i.status == Status::Fail)
            .map(|i| i.id)
            .collect()
    }

    #[test]
    fn everything_recorded_hands_over() {
        let r = decide(&good());
        assert!(r.passed(), "{:#?}", r.failing());
        assert_eq!(r.items.len(), 15);
        assert_eq!(
            r.items
                .iter()
                .filter(|i| i.section == Section::QualityGates)
                .count(),
            4
        );
    }

    #[test]
    fn each_missing_piece_of_evidence_is_named() {
        let mut e = good();
        e.validation = None;
        assert_eq!(
            failing(&e),
            vec![
                "validation-passed",
                "error-rates",
                "critical-alerts",
                "latency",
                "smoke-tests"
            ]
        );

        let mut e = good();
        e.outcome = Some(OutcomeEvidence::Read {
            file: "o.md".into(),
            schedule: vec![],
        });
        assert_eq!(
            failing(&e),
            vec!["measurement-schedule", "measurement-dates"]
        );

        let mut e = good();
        e.outcome = Some(OutcomeEvidence::Read {
            file: "o.md".into(),
            schedule: vec![Checkpoint {
                name: "old".into(),
                date: d("2026-11-01"),
            }],
        });
        assert_eq!(failing(&e), vec!["measurement-dates"]);

        let mut e = good();
        e.flags[0].cleanup_by = None;
        let r = decide(&e);
        assert_eq!(failing(&e), vec!["flag-cleanup"]);
        assert!(
            r.failing()[0].evidence.contains("new-cart"),
            "{:?}",
            r.failing()
        );

        let mut e = good();
        e.flags[0].temporary = Some(false);
        e.flags[0].cleanup_by = None;
        assert!(failing(&e).is_empty());

        let mut e = good();
        e.oncall_ack = None;
        assert_eq!(failing(&e), vec!["oncall-aware"]);

        let mut e = good();
        e.runbook = Some(RunbookEvidence {
            path: "docs/runbook.md".into(),
            problem: Some("does not exist".into()),
        });
        assert_eq!(failing(&e), vec!["runbook"]);

        let mut e = good();
        e.rollout_phase = Some("rolled-back".into());
        e.rollout_weight = 0;
        e.status = "rolled-back".into();
        assert_eq!(failing(&e), vec!["rollout-completed", "ship-owner"]);

        let mut e = good();
        e.reached_stages.pop();
        assert_eq!(failing(&e), vec!["rollout-completed"]);

        let mut e = good();
        e.approval = ApprovalEvidence::NotApproved(
            "the contract changed after approval (body.Changes)".into(),
        );
        assert_eq!(failing(&e), vec!["contract-approved"]);

        let mut e = good();
        e.mission = None;
        assert_eq!(
            failing(&e),
            vec!["measurement-schedule", "operate-owner", "measurement-dates"]
        );
        e.hotfix = true;
        assert!(failing(&e).is_empty());
    }

    #[test]
    fn unchecked_validation_items_warn_and_failed_ones_fail() {
        let mut e = good();
        let v = e.validation.as_mut().unwrap();
        v.items[2].status = "warn".into();
        v.items[4].status = "fail".into();
        let r = decide(&e);
        let alerts = r.items.iter().find(|i| i.id == "critical-alerts").unwrap();
        assert_eq!(alerts.status, Status::Warn);
        assert_eq!(failing(&e), vec!["smoke-tests"]);
    }

    #[test]
    fn a_warning_blocks_until_a_person_accepts_it_and_a_failure_is_never_acceptable() {
        let mut e = good();
        e.validation.as_mut().unwrap().items[2].status = "warn".into();
        let mut r = decide(&e);
        assert!(!r.passed());
        let accept = |item: &str, reason: &str| Acceptance {
            item: item.into(),
            by: "carol".into(),
            reason: reason.into(),
        };
        assert!(r
            .accept(&[accept("critical-alerts", " ")])
            .unwrap_err()
            .to_string()
            .contains("--accept critical-alerts=\"why\""));
        assert!(r
            .accept(&[accept("latency", "fine")])
            .unwrap_err()
            .to_string()
            .contains("not a warning"));
        assert!(r
            .accept(&[accept("nope", "x")])
            .unwrap_err()
            .to_string()
            .contains("unknown"));
        assert!(!r.passed(), "a refused acceptance applies nothing");
        assert_eq!(
            r.accept_command().unwrap(),
            format!("ship handoff {} --accept critical-alerts=\"…\"", r.release)
        );
        r.accept(&[accept(
            "critical-alerts",
            "no alert source yet; dashboards watched",
        )])
        .unwrap();
        assert!(r.passed());
        let item = r.items.iter().find(|i| i.id == "critical-alerts").unwrap();
        assert_eq!(item.status, Status::Overridden);
        assert_eq!(item.accepted.as_ref().unwrap().by, "carol");
    }

    #[test]
    fn two_warnings_are_accepted_in_one_command_each_with_its_reason() {
        let mut e = good();
        let v = e.validation.as_mut().unwrap();
        v.items[2].status = "warn".into();
        v.items[4].status = "warn".into();
        let mut r = decide(&e);
        assert_eq!(
            r.accept_command().unwrap(),
            format!(
                "ship handoff {} --accept critical-alerts=\"…\" --accept smoke-tests=\"…\"",
                r.release
            )
        );
        let accept = |item: &str, reason: &str| Acceptance {
            item: item.into(),
            by: "carol".into(),
            reason: reason.into(),
        };
        r.accept(&[
            accept("critical-alerts", "no alert source yet"),
            accept("smoke-tests", "checked by hand"),
        ])
        .unwrap();
        assert!(r.passed());
        assert_eq!(r.accept_command(), None);
    }
}
