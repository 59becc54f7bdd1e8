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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Draft,
    PendingApproval,
    Approved,
    Deploying,
    Validating,
    Shipped,
    RolledBack,
    Cancelled,
}

impl Status {
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
    P0,
    P1,
}

/// The rollout's milestones as the contract records them (the full decision log, with evidence,
/// is in the state database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RolloutRecord {
    pub phase: String,
    pub stage: String,
    pub weight: u8,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub log: Vec<RolloutLogEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutLogEntry {
    pub at: DateTime<Utc>,
    pub event: String,
    pub stage: String,
    pub weight: u8,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Standard,
    Hotfix,
}

/// A change shipped by the release: one PASS verdict, pinned by the digest of its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub id: String,
    /// The verdict file, relative to the workspace root.
    pub verdict_file: String,
    pub verdict_digest: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<String>,
}

/// A verdict that did not pass, listed so approvers see what was left out and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    pub id: String,
    pub verdict: String,
    pub verdict_file: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    pub title: String,
    /// Percentage of traffic on the new version during this stage.
    pub weight: u8,
    /// How long the stage is watched before promotion; none for the final stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    #[serde(default)]
    pub checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An automatic rollback trigger with its threshold, as the Ship loop's criteria list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Trigger {
    /// Canary error rate above the stable baseline (same window) by more than this many
    /// percentage points.
    ErrorRate { max_increase_pp: f64 },
    /// Canary p99 latency above `factor` × `target`.
    P99Latency { target: Dur, factor: f64 },
    /// More than this percentage of the new version's instances failing health checks.
    HealthChecks { max_failed_pct: f64 },
    /// Any active critical security alert.
    CriticalSecurityAlert {},
    /// A user-defined data-integrity check that fails.
    DataIntegrity {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
}

impl Trigger {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    #[serde(default)]
    pub automatic: Vec<Trigger>,
    #[serde(default)]
    pub manual: Vec<String>,
}

/// One human approval: an SSH signature (SSHSIG, namespace `shiploop-release`) over the
/// approval message, which binds the release id and the contract digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub principal: String,
    pub signed_at: DateTime<Utc>,
    /// `SHA256:…` fingerprint of the signing key, for people; the signature carries the key.
    pub key: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMeta {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    pub service: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
    #[serde(default)]
    pub stages: Vec<Stage>,
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
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest_parts: BTreeMap<String, String>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationRecord>,
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
    pub by: String,
    pub at: DateTime<Utc>,
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
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// The handoff to Operate: who handed over to whom, when, and the exit criteria as checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRecord {
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub items: Vec<CheckLine>,
}

/// The last `ship check`: one line per pre-deployment gate (the full report, with every
/// piece of evidence, is in the state database's event log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksRecord {
    pub checked_at: DateTime<Utc>,
    pub passed: bool,
    pub gates: Vec<CheckLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckLine {
    pub gate: String,
    /// pass, warn, fail or overridden.
    pub status: String,
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

/// Post-deployment validation: the window and what each item showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRecord {
    /// running, passed or failed.
    pub result: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    pub window: Dur,
    #[serde(default)]
    pub items: Vec<CheckLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseContract {
    pub meta: ReleaseMeta,
    pub body: String,
}

impl ReleaseContract {
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

    pub fn render(&self) -> String {
        Document::from_meta(&self.meta, self.body.clone()).render()
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

pub fn render_triggers(rb: &Rollback) -> String {
    if rb.automatic.is_empty() {
        return "_No automatic triggers: this release cannot be submitted._".into();
    }
    rb.automatic
        .iter()
        .map(|t| format!("- {}\n", t.describe()))
        .collect()
}

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
