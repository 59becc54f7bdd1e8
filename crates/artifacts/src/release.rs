//! Release contracts: `work/releases/YYYY-MM-DD-<name>.md`.
//!
//! The frontmatter holds the plan the engine executes (changes, stages, rollback triggers) and the
//! records the tool keeps (status, submission, digest, approvals). The body is for people: it is
//! compiled from the template once, and afterwards the tool only rewrites its own blocks (tables
//! rendered from the frontmatter plan, while the contract is still a draft) and its own sections
//! (approvals, checks, rollout log, validation).

use crate::document::Document;
use crate::duration::Dur;
use crate::error::ParseError;
use crate::markdown;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Frontmatter keys the tool maintains after compilation. They are excluded from the approval
/// digest so that the tool's own bookkeeping never invalidates an approval.
pub const RECORD_KEYS: &[&str] = &[
    "status",
    "submitted_by",
    "submitted_at",
    "digest",
    "digest_parts",
    "approvals",
    "checks",
    "rollout",
    "validation",
    "handoff",
    "anchors",
    "withdrawn",
];

/// The line that ends the approved body. Everything after it is ship's rendering of its
/// frontmatter records (approvals, and later gate results, the rollout log, validation); it is
/// outside the approval digest, and `verify` checks it is exactly what ship renders, so no text
/// can hide there.
pub const RECORDS_MARKER: &str =
    "<!-- ship:records v1 — rendered by ship from the frontmatter; edits below this line are overwritten -->";

/// Body sections a contract must fill before it can be submitted.
pub const REQUIRED_SECTIONS: &[&str] = &[
    "Changes",
    "Progressive rollout",
    "Rollback",
    "Release notes",
];

/// Where a release contract stands in the Ship loop, from draft to shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Compiled and being filled in; not submitted yet.
    Draft,
    /// Submitted, awaiting the approvals it needs.
    PendingApproval,
    /// Approved: it may be deployed.
    Approved,
    /// The progressive rollout is running.
    Deploying,
    /// At 100 %; post-deployment validation is watching it.
    Validating,
    /// Validation passed: the release is shipped.
    Shipped,
    /// Rolled back (or its rollout failed): its changes did not ship.
    RolledBack,
    /// Withdrawn before approval (`ship release withdraw`).
    Cancelled,
}

impl Status {
    /// The status as the frontmatter spells it (`pending-approval`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::PendingApproval => "pending-approval",
            Status::Approved => "approved",
            Status::Deploying => "deploying",
            Status::Validating => "validating",
            Status::Shipped => "shipped",
            Status::RolledBack => "rolled-back",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the changes of a release in this status count as shipped or on their way, so a
    /// later release must not include them again.
    pub fn claims_changes(&self) -> bool {
        !matches!(self, Status::RolledBack | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a hotfix is: P0 service down, P1 customer-impacting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// Service down.
    P0,
    /// Customer-impacting.
    P1,
}

/// The rollout's milestones as the contract records them (the full decision log, with evidence,
/// is in the state database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RolloutRecord {
    /// The rollout's phase, as the rollout engine names it.
    pub phase: String,
    /// The current stage's name.
    pub stage: String,
    /// Percentage of traffic on the new version now.
    pub weight: u8,
    /// When the first milestone happened.
    pub started_at: Option<DateTime<Utc>>,
    /// When the latest milestone happened.
    pub updated_at: Option<DateTime<Utc>>,
    /// The milestones, oldest first.
    #[serde(default)]
    pub log: Vec<RolloutLogEntry>,
}

/// One milestone of the rollout: a row of the contract's rollout log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutLogEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What the rollout decided (e.g. `promote`, `rollback`).
    pub event: String,
    /// The stage it happened in.
    pub stage: String,
    /// Percentage of traffic on the new version at that point.
    pub weight: u8,
    /// Why, in the decision's words.
    pub reason: String,
}

/// Whether a release is a standard release or a hotfix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A standard release.
    #[default]
    Standard,
    /// A hotfix: abbreviated testing, its security checks still mandatory.
    Hotfix,
}

/// A change shipped by the release: one PASS verdict, pinned by the digest of its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The verdict's id.
    pub id: String,
    /// The verdict file, relative to the workspace root.
    pub verdict_file: String,
    /// `sha256:<hex>` of the verdict file as compiled in, so a later edit is noticed.
    pub verdict_digest: String,
    /// What the change does, from the verdict.
    pub summary: String,
    /// The mission the verdict names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// When it was evaluated, as the verdict writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// Who evaluated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<String>,
}

/// A verdict that did not pass, listed so approvers see what was left out and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    /// The verdict's id.
    pub id: String,
    /// Its verdict (FAIL, NEEDS_WORK, …).
    pub verdict: String,
    /// The verdict file, relative to the workspace root.
    pub verdict_file: String,
    /// What the change does, from the verdict.
    pub summary: String,
}

/// One stage of the progressive rollout: its traffic, how long it is watched and its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's name (e.g. `canary`), as the rollout log shows it.
    pub name: String,
    /// The stage's title, as the stages table shows it.
    pub title: String,
    /// Percentage of traffic on the new version during this stage.
    pub weight: u8,
    /// How long the stage is watched before promotion; none for the final stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// The health checks watched during the stage.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Notes shown beside the checks in the stages table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An automatic rollback trigger with its threshold, as the Ship loop's criteria list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Trigger {
    /// Canary error rate above the stable baseline (same window) by more than this many
    /// percentage points.
    ErrorRate {
        /// The most the canary's error rate may exceed the baseline by, in percentage points.
        max_increase_pp: f64,
    },
    /// Canary p99 latency above `factor` × `target`.
    P99Latency {
        /// The p99 latency the service aims for.
        target: Dur,
        /// The multiple of `target` above which the canary's p99 rolls back.
        factor: f64,
    },
    /// More than this percentage of the new version's instances failing health checks.
    HealthChecks {
        /// The largest percentage of the new version's instances that may fail them.
        max_failed_pct: f64,
    },
    /// Any active critical security alert.
    CriticalSecurityAlert {},
    /// A user-defined data-integrity check that fails.
    DataIntegrity {
        /// The `[integrity.NAME]` check to run; none while not configured yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
}

impl Trigger {
    /// The trigger and its threshold in plain words, as the contract's table shows it.
    pub fn describe(&self) -> String {
        match self {
            Trigger::ErrorRate { max_increase_pp } => format!(
                "error rate more than {max_increase_pp} percentage point(s) above the stable baseline over the same window"
            ),
            Trigger::P99Latency { target, factor } => {
                match std::time::Duration::try_from_secs_f64(target.0.as_secs_f64() * factor) {
                    Ok(limit) => format!(
                        "p99 latency above {factor} × target (target {target} → {})",
                        Dur(limit)
                    ),
                    Err(_) => format!("p99 latency above {factor} × target {target}"),
                }
            }
            Trigger::HealthChecks { max_failed_pct } => format!(
                "health checks failing on more than {max_failed_pct} % of the new version's instances"
            ),
            Trigger::CriticalSecurityAlert {} => "a critical security alert fires".to_string(),
            Trigger::DataIntegrity { check: Some(c) } => {
                format!("the data-integrity check `{c}` fails")
            }
            Trigger::DataIntegrity { check: None } => {
                "a data-integrity issue is detected (no check configured yet)".to_string()
            }
        }
    }
}

/// The contract's rollback plan: the automatic triggers and the manual ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// Rollback triggers the tool acts on by itself.
    #[serde(default)]
    pub automatic: Vec<Trigger>,
    /// Conditions under which a person aborts the rollout.
    #[serde(default)]
    pub manual: Vec<String>,
}

/// One human approval: an SSH signature (SSHSIG, namespace `shiploop-release`) over the
/// approval message, which binds the release id and the contract digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who signed, as named in `allowed_signers`.
    pub principal: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// `SHA256:…` fingerprint of the signing key, for people; the signature carries the key.
    pub key: String,
    /// The SSH signature (armored); it carries the public key.
    pub signature: String,
}

/// A release contract's frontmatter: the approved plan, then the records the tool keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMeta {
    /// `YYYY-MM-DD-<name>`, also the file's name.
    pub id: String,
    /// The release's name.
    pub name: String,
    /// A standard release or a hotfix.
    #[serde(default)]
    pub kind: Kind,
    /// How urgent a hotfix is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The mission the release belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// The service being deployed.
    pub service: String,
    /// When the contract was compiled.
    pub created_at: DateTime<Utc>,
    /// The changes it ships: PASS verdicts, each pinned by its digest.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Verdicts that did not pass, listed so approvers see what was left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
    /// The progressive rollout's stages, in order.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// The rollback triggers.
    #[serde(default)]
    pub rollback: Rollback,
    /// Feature flags the release relies on (they must be in the flag registry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Migration files or folders the release applies (linted for backward compatibility).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<String>,
    /// How the rollout and the validation decide (from ship.toml when compiled); approved with
    /// the rest. Contracts compiled before it existed have none: ship.toml decides for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<crate::criteria::Criteria>,
    // ---- records kept by the tool (RECORD_KEYS) ----
    /// Where the release stands.
    pub status: Status,
    /// Who submitted it for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// When it was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// The approval digest computed at submission (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The hash of each approved part at submission, so `verify` can name what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest_parts: BTreeMap<String, String>,
    /// The approvals signed so far.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The last pre-deployment check (`ship check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksRecord>,
    /// The rollout's milestones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutRecord>,
    /// Post-deployment validation and its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationRecord>,
    /// The handoff to Operate, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffRecord>,
    /// The head of the state database's event log at each milestone of this release: outside
    /// the database (and in git with the contract), so a log cut short, emptied or re-hashed
    /// no longer matches (`ship audit verify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<Anchor>,
    /// Set when a draft or a contract awaiting approval was withdrawn (`ship release
    /// withdraw`): status cancelled, the file and id renamed `<id>.withdrawn-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Withdrawal>,
}

/// Who withdrew a release before approval, when, why, and what it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    /// Who withdrew it.
    pub by: String,
    /// When it was withdrawn.
    pub at: DateTime<Utc>,
    /// Why, in their words.
    pub reason: String,
    /// The release id it had (its file was `<id>.md`), free again for a new compilation.
    pub id: String,
    /// Its status when withdrawn: draft or pending-approval.
    pub was: String,
}

/// One event of the log, by sequence number and hash, recorded when it was the newest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The event's sequence number in the log.
    pub seq: i64,
    /// The event's hash in the log's chain.
    pub hash: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// The handoff to Operate: who handed over to whom, when, and the exit criteria as checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRecord {
    /// When the release was handed over.
    pub at: DateTime<Utc>,
    /// Who handed it over.
    pub from: String,
    /// Who owns it now, in Operate.
    pub to: String,
    /// The exit criteria as checked.
    #[serde(default)]
    pub items: Vec<CheckLine>,
}

/// The last `ship check`: one line per pre-deployment gate (the full report, with every
/// piece of evidence, is in the state database's event log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksRecord {
    /// When the checks ran.
    pub checked_at: DateTime<Utc>,
    /// Whether the checks passed: no gate failed that was not overridden.
    pub passed: bool,
    /// One line per gate.
    pub gates: Vec<CheckLine>,
}

/// One checked item (a gate, a validation item or an exit criterion), its result and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckLine {
    /// The item's name.
    pub gate: String,
    /// pass, warn, fail or overridden.
    pub status: String,
    /// What was seen, in one line.
    pub evidence: String,
    /// Who overrode its failure, if anyone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<String>,
    /// Why they overrode it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

/// Post-deployment validation: the window and what each item showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRecord {
    /// running, passed or failed.
    pub result: String,
    /// When the window began.
    pub started_at: DateTime<Utc>,
    /// When validation ended; none while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// How long production is watched at 100 %.
    pub window: Dur,
    /// What each validation item showed.
    #[serde(default)]
    pub items: Vec<CheckLine>,
}

/// A release contract: the frontmatter (plan and records) and the body people read and approve.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseContract {
    /// The frontmatter: the plan and the tool's records.
    pub meta: ReleaseMeta,
    /// The markdown body: the approved text, then the records tail.
    pub body: String,
}

impl ReleaseContract {
    /// Parses a contract; malformed identities, out-of-range thresholds and control characters
    /// are errors at their line.
    pub fn parse(text: &str) -> Result<ReleaseContract, ParseError> {
        let doc = Document::split(text)?;
        let meta: ReleaseMeta = doc.parse_meta()?;
        if let Some((key, message)) = meta_problem(&meta) {
            return Err(ParseError::new(doc.key_line(&key), 1, message));
        }
        Ok(ReleaseContract {
            meta,
            body: doc.body,
        })
    }

    /// The approved part of the body: everything before the records marker.
    pub fn approved_body(&self) -> &str {
        match find_marker(&self.body) {
            Some(i) => &self.body[..i],
            None => &self.body,
        }
    }

    /// The records tail as ship renders it from the frontmatter.
    pub fn render_records(&self) -> String {
        render_records(&self.meta)
    }

    /// Replaces the records tail (or appends it) with ship's rendering of the records.
    ///
    /// Records carry text from outside ship — an operator's reason, a router's stderr — and a
    /// control character in it would make the whole contract unreadable (and the rollout
    /// undrivable): such characters become spaces here, where every record is written.
    pub fn refresh_records(&mut self) {
        let m = &mut self.meta;
        plain_record(&mut m.checks);
        plain_record(&mut m.rollout);
        plain_record(&mut m.validation);
        plain_record(&mut m.handoff);
        plain_record(&mut m.withdrawn);
        let mut body = self.approved_body().to_string();
        if !body.ends_with('\n') && !body.is_empty() {
            body.push('\n');
        }
        if !body.ends_with("\n\n") {
            body.push('\n');
        }
        body.push_str(&self.render_records());
        self.body = body;
    }

    /// None when the tail is exactly ship's rendering; otherwise the 1-based body line where
    /// it first differs (or where the marker should be).
    pub fn records_mismatch(&self) -> Option<usize> {
        let start = find_marker(&self.body)?;
        let tail = self.body[start..].replace("\r\n", "\n");
        let expected = self.render_records();
        if tail == expected {
            return None;
        }
        let first_line = self.body[..start].matches('\n').count() + 1;
        let differing = tail
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| tail.lines().count().min(expected.lines().count()));
        Some(first_line + differing)
    }

    /// The contract as file text.
    pub fn render(&self) -> String {
        Document::render_file(&self.meta, &self.body)
    }

    /// Re-renders the tables that mirror the frontmatter plan, so the body shows what will run.
    /// Only meaningful before approval: afterwards the plan is frozen by the digest.
    /// `root` is the relative path from the contract's folder to the workspace root (e.g.
    /// `../../`), for links to the verdict files.
    pub fn refresh_plan_blocks(&mut self, root: &str) {
        for (name, content) in self.plan_blocks(root) {
            if let Some(b) = markdown::set_block(&self.body, name, &content) {
                self.body = b;
            }
        }
    }

    fn plan_blocks(&self, root: &str) -> [(&'static str, String); 5] {
        [
            ("changes", render_changes(&self.meta, root)),
            ("excluded", render_excluded(&self.meta, root)),
            ("stages", render_stages(&self.meta.stages)),
            ("triggers", render_triggers(&self.meta.rollback)),
            ("manual-triggers", render_manual(&self.meta.rollback)),
        ]
    }

    /// The tables people read must be exactly the plan that runs: each plan block appears once
    /// in the approved body and holds ship's rendering of the frontmatter.
    pub fn plan_block_problems(&self, root: &str) -> Vec<String> {
        let body = self.approved_body();
        let mut out = Vec::new();
        for (name, content) in self.plan_blocks(root) {
            match markdown::block_count(body, name) {
                (1, 1) => {
                    if !markdown::block_is(body, name, &content) {
                        out.push(format!(
                            "the `{name}` table in the body does not match the frontmatter plan"
                        ));
                    }
                }
                (0, 0) => out.push(format!(
                    "the `{name}` table is missing (`<!-- ship:begin {name} -->` … `<!-- ship:end {name} -->`): approvers must see the plan that runs"
                )),
                _ => out.push(format!(
                    "the `{name}` table's markers must appear exactly once each"
                )),
            }
        }
        out
    }

    /// Everything that makes the contract unfit for submission, in plain words.
    pub fn submission_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let m = &self.meta;
        if m.changes.is_empty() {
            problems.push("no changes: a release needs at least one PASS verdict".to_string());
        }
        problems.extend(stage_problems(&m.stages));
        if m.rollback.automatic.is_empty() {
            problems.push(
                "no automatic rollback triggers (`rollback.automatic` is empty): deployments without rollback capability are an anti-pattern".to_string(),
            );
        }
        let approved = self.approved_body();
        let secs = markdown::sections(approved);
        for req in REQUIRED_SECTIONS {
            let found = secs.iter().find(|s| {
                s.heading.is_some_and(|h| {
                    h.to_ascii_lowercase()
                        .starts_with(&req.to_ascii_lowercase())
                })
            });
            match found {
                None => problems.push(format!("section `## {req}` is missing")),
                Some(s) if markdown::is_blank(s.content) => {
                    problems.push(format!("section `## {req}` (line {}) is empty", s.line))
                }
                Some(_) => {}
            }
        }
        if let Some(rb) = markdown::section_content(approved, "Rollback") {
            match subsection(rb, "Procedure") {
                None => problems.push(
                    "the Rollback section has no `### Procedure`: document how to roll back"
                        .to_string(),
                ),
                Some(p) if markdown::is_blank(p) => {
                    problems.push("the rollback procedure (`### Procedure`) is empty".to_string())
                }
                Some(_) => {}
            }
        }
        problems
    }
}

/// Problems with a stage plan; a plan with fewer than two stages or that does not end at 100 %
/// is refused, a single 100 % stage by name (the big-bang anti-pattern).
pub fn stage_problems(stages: &[Stage]) -> Vec<String> {
    let mut p = Vec::new();
    if stages.len() == 1 && stages[0].weight == 100 {
        p.push(
            "the rollout has a single 100 % stage: that is a big-bang deployment; add progressive stages (e.g. 5 % → 25 % → 50 % → 100 %)".to_string(),
        );
        return p;
    }
    if stages.len() < 2 {
        p.push(format!(
            "the rollout needs at least two stages ending at 100 % (it has {})",
            stages.len()
        ));
        return p;
    }
    let mut last = 0u8;
    for (i, s) in stages.iter().enumerate() {
        if s.weight == 0 || s.weight > 100 {
            p.push(format!(
                "stage {} `{}`: weight {} is not in 1..=100",
                i + 1,
                s.name,
                s.weight
            ));
        } else if s.weight <= last {
            p.push(format!(
                "stage {} `{}`: weight {} % does not increase on the previous stage's {} %",
                i + 1,
                s.name,
                s.weight,
                last
            ));
        }
        last = last.max(s.weight);
        let is_last = i + 1 == stages.len();
        if !is_last && s.duration.is_none_or(|d| d.0.is_zero()) {
            p.push(format!(
                "stage {} `{}` has no monitoring duration: every stage before 100 % must be watched",
                i + 1,
                s.name
            ));
        }
    }
    if stages.last().is_some_and(|s| s.weight != 100) {
        p.push(format!(
            "the last stage ends at {} %, not 100 %",
            stages.last().map(|s| s.weight).unwrap_or(0)
        ));
    }
    p
}

/// The content of a `### name` subsection within a section's content.
pub fn subsection<'a>(content: &'a str, name: &str) -> Option<&'a str> {
    let mut start = None;
    let mut offset = 0;
    for line in content.split_inclusive('\n') {
        let t = line.trim_end();
        if let Some(h) = t.strip_prefix("### ") {
            if let Some(s) = start {
                return Some(&content[s..offset]);
            }
            if h.trim().eq_ignore_ascii_case(name) {
                start = Some(offset + line.len());
            }
        }
        offset += line.len();
    }
    start.map(|s| &content[s..])
}

/// The `changes` table: each PASS verdict linked from `root`, then feature flags and migrations.
pub fn render_changes(m: &ReleaseMeta, root: &str) -> String {
    let mut out = String::from("| change | verdict | evaluated | summary |\n|---|---|---|---|\n");
    for c in &m.changes {
        let when = match (&c.evaluated_at, &c.evaluator) {
            (Some(a), Some(b)) => format!("{a} by {b}"),
            (Some(a), None) => a.clone(),
            (None, Some(b)) => format!("by {b}"),
            (None, None) => "—".into(),
        };
        out.push_str(&format!(
            "| [{}]({root}{}) | PASS | {} | {} |\n",
            markdown::cell(&c.id),
            markdown::cell(&c.verdict_file).replace(' ', "%20"),
            markdown::cell(&when),
            markdown::cell(&c.summary)
        ));
    }
    if m.changes.is_empty() {
        out.push_str("| — | | | no PASS verdicts |\n");
    }
    // Only when present, so contracts without flags or migrations keep their approved table.
    if !m.flags.is_empty() {
        let names: Vec<String> = m
            .flags
            .iter()
            .map(|f| format!("`{}`", markdown::cell(f)))
            .collect();
        out.push_str(&format!("\nFeature flags: {}.\n", names.join(", ")));
    }
    if !m.migrations.is_empty() {
        let names: Vec<String> = m
            .migrations
            .iter()
            .map(|f| format!("`{}`", markdown::cell(f)))
            .collect();
        out.push_str(&format!("\nDatabase migrations: {}.\n", names.join(", ")));
    }
    out
}

/// The `excluded` list: the verdicts that did not pass, linked from `root`.
pub fn render_excluded(m: &ReleaseMeta, root: &str) -> String {
    if m.excluded.is_empty() {
        return "None: every evaluated change passed.".to_string();
    }
    let mut out = String::new();
    for e in &m.excluded {
        out.push_str(&format!(
            "- [{}]({root}{}) — {} ({})\n",
            markdown::cell(&e.id),
            markdown::cell(&e.verdict_file).replace(' ', "%20"),
            markdown::cell(&e.verdict),
            markdown::cell(&e.summary)
        ));
    }
    out
}

/// The `stages` table: each stage's traffic, hold time and health checks.
pub fn render_stages(stages: &[Stage]) -> String {
    let mut out =
        String::from("| stage | traffic | hold for | health checks |\n|---|---|---|---|\n");
    for (i, s) in stages.iter().enumerate() {
        let hold = s
            .duration
            .map(|d| d.to_string())
            .unwrap_or_else(|| "— (continue monitoring)".into());
        let mut checks = s.checks.join(", ");
        for n in &s.notes {
            if !checks.is_empty() {
                checks.push_str("; ");
            }
            checks.push_str(n);
        }
        out.push_str(&format!(
            "| {} {} | {} % | {} | {} |\n",
            i + 1,
            markdown::cell(&s.title),
            s.weight,
            hold,
            markdown::cell(&checks)
        ));
    }
    out
}

/// The `triggers` list: each automatic rollback trigger in plain words.
pub fn render_triggers(rb: &Rollback) -> String {
    if rb.automatic.is_empty() {
        return "_No automatic triggers: this release cannot be submitted._".into();
    }
    rb.automatic
        .iter()
        .map(|t| format!("- {}\n", t.describe()))
        .collect()
}

/// The `manual-triggers` list, with the command that aborts a rollout.
pub fn render_manual(rb: &Rollback) -> String {
    let mut out: String = rb.manual.iter().map(|t| format!("- {t}\n")).collect();
    out.push_str("\nAny of these: `ship rollout abort <release> --reason \"…\"`.\n");
    out
}

/// The first occurrence of the marker as a whole line. The first, not the last: a marker
/// planted earlier in the document makes the tail mismatch, so verification fails safe.
fn find_marker(body: &str) -> Option<usize> {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.trim_end() == RECORDS_MARKER {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// The records tail: the marker, then the sections ship owns, rendered only from the
/// frontmatter records (values escaped into table cells), so they can carry no free text.
pub fn render_records(m: &ReleaseMeta) -> String {
    let mut out = format!("{RECORDS_MARKER}\n## Approvals\n\nStatus: **{}**", m.status);
    if let (Some(by), Some(at)) = (&m.submitted_by, &m.submitted_at) {
        out.push_str(&format!(
            " — submitted by {} at {}",
            markdown::cell(by),
            at.format("%Y-%m-%d %H:%M:%SZ")
        ));
    }
    out.push_str(".\n");
    if let Some(w) = &m.withdrawn {
        out.push_str(&format!(
            "Withdrawn by {} at {} (it was {}, as {}): {}\n",
            markdown::cell(&w.by),
            w.at.format("%Y-%m-%d %H:%M:%SZ"),
            markdown::cell(&w.was),
            markdown::cell(&w.id),
            markdown::cell(&w.reason)
        ));
    }
    if let Some(d) = &m.digest {
        out.push_str(&format!("Contract digest: `{}`.\n", markdown::cell(d)));
    }
    if m.approvals.is_empty() {
        out.push_str("\n_No approvals yet._\n");
    } else {
        out.push_str("\n| approver | signed at | key |\n|---|---|---|\n");
        for a in &m.approvals {
            out.push_str(&format!(
                "| {} | {} | `{}` |\n",
                markdown::cell(&a.principal),
                a.signed_at.format("%Y-%m-%d %H:%M:%SZ"),
                markdown::cell(&a.key)
            ));
        }
    }
    match &m.checks {
        None => out.push_str("\n## Pre-deployment checks\n\n_Not run yet._\n"),
        Some(c) => {
            out.push_str(&format!(
                "\n## Pre-deployment checks\n\n{} at {}.\n\n",
                if c.passed {
                    "**Passed**"
                } else {
                    "**Not passed**"
                },
                c.checked_at.format("%Y-%m-%d %H:%M:%SZ")
            ));
            render_check_lines(&mut out, "gate", &c.gates);
        }
    }
    match &m.rollout {
        None => out.push_str("\n## Rollout log\n\n_Not started._\n"),
        Some(r) => {
            out.push_str(&format!(
                "\n## Rollout log\n\nPhase: **{}** — stage {} at {} %.\n",
                markdown::cell(&r.phase),
                markdown::cell(&r.stage),
                r.weight
            ));
            if !r.log.is_empty() {
                out.push_str("\n| at | event | stage | weight | why |\n|---|---|---|---|---|\n");
                for e in &r.log {
                    out.push_str(&format!(
                        "| {} | {} | {} | {} % | {} |\n",
                        e.at.format("%Y-%m-%d %H:%M:%SZ"),
                        markdown::cell(&e.event),
                        markdown::cell(&e.stage),
                        e.weight,
                        markdown::cell(&e.reason)
                    ));
                }
            }
        }
    }
    match &m.validation {
        None => out.push_str("\n## Post-deployment validation\n\n_Not run yet._\n"),
        Some(v) => {
            out.push_str(&format!(
                "\n## Post-deployment validation\n\nResult: **{}** — window {} from {}",
                markdown::cell(&v.result),
                v.window,
                v.started_at.format("%Y-%m-%d %H:%M:%SZ")
            ));
            if let Some(end) = v.ended_at {
                out.push_str(&format!(" to {}", end.format("%Y-%m-%d %H:%M:%SZ")));
            }
            out.push_str(".\n\n");
            if !v.items.is_empty() {
                render_check_lines(&mut out, "item", &v.items);
            }
        }
    }
    if let Some(h) = &m.handoff {
        out.push_str(&format!(
            "\n## Handoff to Operate\n\nHanded over by {} to {} at {}.\n\n",
            markdown::cell(&h.from),
            markdown::cell(&h.to),
            h.at.format("%Y-%m-%d %H:%M:%SZ")
        ));
        render_check_lines(&mut out, "exit criterion", &h.items);
    }
    if let Some(last) = m.anchors.last() {
        out.push_str(&format!(
            "\n## Audit log anchors\n\n{} anchor(s) of the state database's event log; the newest: event {} with hash `{}` at {} (`ship audit verify` checks every one).\n",
            m.anchors.len(),
            last.seq,
            markdown::cell(&last.hash),
            last.at.format("%Y-%m-%d %H:%M:%S%.3fZ")
        ));
    }
    out
}

fn render_check_lines(out: &mut String, what: &str, lines: &[CheckLine]) {
    out.push_str(&format!("| {what} | result | evidence |\n|---|---|---|\n"));
    for l in lines {
        let mut evidence = markdown::cell(&l.evidence);
        if let (Some(by), Some(why)) = (&l.overridden_by, &l.override_reason) {
            evidence.push_str(&format!(
                " — overridden by {}: {}",
                markdown::cell(by),
                markdown::cell(why)
            ));
        }
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            markdown::cell(&l.gate),
            markdown::cell(&l.status),
            evidence
        ));
    }
}

/// Characters one line of plain text must not hold: control characters (newlines, tabs,
/// escapes), line and paragraph separators, and the bidirectional overrides that make a
/// browser or a terminal show text in another order than it is stored.
fn not_plain(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `text` with every character [`check_plain`] refuses replaced by a space: what a one-line
/// field of a contract or a log may hold.
pub fn plain_text(text: &str) -> String {
    text.chars()
        .map(|c| if not_plain(c) { ' ' } else { c })
        .collect()
}

/// A one-line field holds a character [`check_plain`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains a control character ({found:?}): one line of plain text, please")]
pub struct NotPlainText {
    /// The field as the person knows it (`--reason`, `the reason`, …).
    pub field: String,
    /// The first refused character.
    pub found: char,
}

/// Whether `text` can go into a contract as it is; the error says what to change.
pub fn check_plain(field: &str, text: &str) -> Result<(), NotPlainText> {
    match text.chars().find(|c| not_plain(*c)) {
        Some(found) => Err(NotPlainText {
            field: field.to_string(),
            found,
        }),
        None => Ok(()),
    }
}

fn plain_record<T: Serialize + serde::de::DeserializeOwned>(record: &mut Option<T>) {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) if s.chars().any(not_plain) => {
                *s = plain_text(s);
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |a, x| walk(x) | a),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |a, x| walk(x) | a),
            _ => false,
        }
    }
    let Some(r) = record.as_ref() else { return };
    let Ok(mut v) = serde_json::to_value(r) else {
        return;
    };
    if walk(&mut v) {
        if let Ok(clean) = serde_json::from_value(v) {
            *record = Some(clean);
        }
    }
}

/// The first string field (other than approval signatures, which are multi-line armor) that
/// holds a control character, as a dotted path. Such text could rewrite a terminal's screen
/// when printed, showing people a plan other than the one that runs.
fn control_char_path(m: &ReleaseMeta) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.chars().any(char::is_control) => {
                Some(path.to_string())
            }
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| walk(x, &format!("{path}.{i}"))),
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(k, _)| k.as_str() != "signature")
                .find_map(|(k, x)| {
                    walk(
                        x,
                        &if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        },
                    )
                }),
            _ => None,
        }
    }
    walk(&serde_json::to_value(m).ok()?, "")
}

/// Identity and threshold fields that must be well-formed before anything is rendered, signed
/// or executed: (frontmatter key, message).
fn meta_problem(m: &ReleaseMeta) -> Option<(String, String)> {
    if let Some(path) = control_char_path(m) {
        let key = path.split('.').next().unwrap_or("id").to_string();
        return Some((
            key,
            format!("`{path}` contains a control character (contract text must be plain)"),
        ));
    }
    plain_problem(m).map(|(k, msg)| (k.to_string(), msg))
}

fn plain_problem(m: &ReleaseMeta) -> Option<(&'static str, String)> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.contains("..")
            && !n.starts_with(['.', '-'])
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if !name_ok(&m.name) {
        return Some((
            "name",
            format!("`name` {:?} is not a valid release name", m.name),
        ));
    }
    let dated =
        m.id.get(..10)
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
            && m.id.as_bytes().get(10) == Some(&b'-');
    if !dated || m.id.get(11..) != Some(m.name.as_str()) {
        return Some((
            "id",
            format!(
                "`id` {:?} must be YYYY-MM-DD-<name> with name {:?}",
                m.id, m.name
            ),
        ));
    }
    if let Some(mission) = &m.mission {
        if !name_ok(mission) {
            return Some((
                "mission",
                format!("`mission` {mission:?} is not a valid name"),
            ));
        }
    }
    // Principals are rendered into the records and compared with allowed_signers: keep them to
    // the characters of an e-mail address, so none can carry markup or look like another.
    let principal_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 254
            && p.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@')
            })
    };
    if let Some(by) = &m.submitted_by {
        if !principal_ok(by) {
            return Some((
                "submitted_by",
                format!(
                    "`submitted_by` {by:?} is not a principal (letters, digits and . _ % + - @ only)"
                ),
            ));
        }
    }
    for a in &m.approvals {
        if !principal_ok(&a.principal) {
            return Some((
                "approvals",
                format!("approval principal {:?} is not a principal", a.principal),
            ));
        }
    }
    for c in &m.changes {
        let p = &c.verdict_file;
        if p.starts_with('/') || p.contains('\\') || p.split('/').any(|seg| seg == "..") {
            return Some((
                "changes",
                format!(
                    "change `{}`: verdict_file {p:?} must be a path inside the workspace",
                    c.id
                ),
            ));
        }
    }
    for t in &m.rollback.automatic {
        let bad = match t {
            Trigger::ErrorRate { max_increase_pp: v }
            | Trigger::HealthChecks { max_failed_pct: v } => {
                !(v.is_finite() && (0.0..=100.0).contains(v))
            }
            Trigger::P99Latency { target, factor } => {
                !(factor.is_finite() && (1.0..=100.0).contains(factor))
                    || target.0.is_zero()
                    || target.0 > std::time::Duration::from_secs(3600)
            }
            Trigger::CriticalSecurityAlert {} | Trigger::DataIntegrity { .. } => false,
        };
        if bad {
            return Some((
                "rollback",
                format!(
                    "rollback trigger {t:?} is out of range (percentages 0–100, latency factor 1–100, target above 0 and at most 1h)"
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, weight: u8, dur: Option<&str>) -> Stage {
        Stage {
            name: name.into(),
            title: name.into(),
            weight,
            duration: dur.map(|d| d.parse().unwrap()),
            checks: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn big_bang_is_refused_by_name() {
        let p = stage_problems(&[stage("all", 100, None)]);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("big-bang"));
    }

    #[test]
    fn stages_must_increase_end_at_100_and_be_watched() {
        assert!(stage_problems(&[stage("c", 5, Some("10m")), stage("f", 100, None)]).is_empty());
        let p = stage_problems(&[
            stage("c", 25, Some("10m")),
            stage("e", 5, Some("1m")),
            stage("f", 50, None),
        ]);
        assert!(p.iter().any(|s| s.contains("does not increase")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("not 100 %")), "{p:?}");
        let p = stage_problems(&[stage("c", 5, None), stage("f", 100, None)]);
        assert!(
            p.iter().any(|s| s.contains("no monitoring duration")),
            "{p:?}"
        );
        assert!(!stage_problems(&[]).is_empty());
    }

    #[test]
    fn triggers_round_trip_through_yaml() {
        let rb = Rollback {
            automatic: vec![
                Trigger::ErrorRate {
                    max_increase_pp: 1.0,
                },
                Trigger::P99Latency {
                    target: "300ms".parse().unwrap(),
                    factor: 2.0,
                },
                Trigger::HealthChecks {
                    max_failed_pct: 20.0,
                },
                Trigger::CriticalSecurityAlert {},
                Trigger::DataIntegrity {
                    check: Some("orders-balance".into()),
                },
            ],
            manual: vec!["Customer reports of broken functionality".into()],
        };
        let yaml = crate::document::render_yaml(&rb);
        let back: Rollback = crate::document::parse_yaml(&yaml, 1).unwrap();
        assert_eq!(back, rb);
        assert!(rb.automatic[1].describe().contains("600ms"));
    }

    #[test]
    fn absurd_stage_durations_are_refused_naming_the_field() {
        let good = "---\nid: 2026-11-27-a\nname: a\nservice: web\ncreated_at: 2026-11-27T00:00:00Z\nstages:\n- name: canary\n  title: Canary\n  weight: 5\n  duration: 10m\n- name: full\n  title: Full\n  weight: 100\nstatus: draft\n---\nbody\n";
        ReleaseContract::parse(good).unwrap();
        for bad in ["100000000y", "500000000000y", "18446744073709551616s"] {
            let e =
                ReleaseContract::parse(&good.replace("duration: 10m", &format!("duration: {bad}")))
                    .unwrap_err();
            assert_eq!((e.line, e.column), (10, 13), "{bad}: {e}");
            assert!(e.message.starts_with("duration: "), "{bad}: {e}");
        }
    }

    #[test]
    fn malformed_identities_and_thresholds_are_parse_errors_with_lines() {
        let good = "---\nid: 2026-11-27-a\nname: a\nservice: web\ncreated_at: 2026-11-27T00:00:00Z\nrollback:\n  automatic:\n  - trigger: p99-latency\n    target: 300ms\n    factor: 2.0\nstatus: draft\n---\nbody\n";
        ReleaseContract::parse(good).unwrap();
        let e = ReleaseContract::parse(&good.replace("factor: 2.0", "factor: -1.0")).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("out of range"), "{e}");
        let e = ReleaseContract::parse(&good.replace("factor: 2.0", "factor: 1e300")).unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = ReleaseContract::parse(
            &good.replace("id: 2026-11-27-a", "id: \"2026-11-27-a\\ndigest: x\""),
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = ReleaseContract::parse(&good.replace(
            "status: draft",
            "status: draft\nsubmitted_by: \"bot@x\\ndigest: y\"",
        ))
        .unwrap_err();
        assert!(e.message.contains("submitted_by"), "{e}");
    }

    // Any time will do: the test is about the record's text.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn records_with_control_characters_are_written_plain() {
        let good = "---\nid: 2026-11-27-a\nname: a\nservice: web\ncreated_at: 2026-11-27T00:00:00Z\nstatus: draft\n---\nbody\n";
        let mut c = ReleaseContract::parse(good).unwrap();
        let at = Utc::now();
        c.meta.rollout = Some(RolloutRecord {
            phase: "paused".into(),
            stage: "canary".into(),
            weight: 5,
            started_at: Some(at),
            updated_at: Some(at),
            log: vec![RolloutLogEntry {
                at,
                event: "pause".into(),
                stage: "canary".into(),
                weight: 5,
                reason: "paused by an operator: a\nb\u{1b}[2K\tc".into(),
            }],
        });
        c.refresh_records();
        let back = ReleaseContract::parse(&c.render()).unwrap();
        let log = &back.meta.rollout.unwrap().log;
        assert_eq!(log[0].reason, "paused by an operator: a b [2K c");
        assert!(check_plain("reason", "fine — with unicode é").is_ok());
        for bad in [
            "two\nlines",
            "line\u{2028}sep",
            "\u{202e}evil",
            "a\u{2066}b",
        ] {
            let e = check_plain("reason", bad).unwrap_err().to_string();
            assert!(e.starts_with("reason contains a control character"), "{e}");
            assert!(check_plain("reason", &plain_text(bad)).is_ok());
        }
    }

    #[test]
    fn subsections_are_found() {
        let c = "\n### Automatic\n- a\n### Procedure\n1. do\n### Other\nx\n";
        assert_eq!(subsection(c, "procedure"), Some("1. do\n"));
        assert_eq!(subsection(c, "missing"), None);
    }
}
