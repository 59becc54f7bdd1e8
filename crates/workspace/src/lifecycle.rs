//! Submission, approval and verification of release contracts.

use crate::releases::LoadedRelease;
use crate::{fsutil, Error, Result, Workspace};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_approval::{
    approval_message, fingerprint, identity_problem, parse_signature, same_principal,
    sign_with_key, verify_signature, AllowedSigners, NAMESPACE,
};
use shiploop_artifacts::digest::{compute, describe_changes};
use shiploop_artifacts::release::{Approval, Kind, ReleaseContract, Status, Trigger};
use shiploop_artifacts::verdict::{sha256_digest, Verdict};
use ssh_key::SshSig;
use std::path::Path;

#[derive(Debug, Serialize)]
/// What `ship release submit` did.
pub struct SubmitReport {
    /// The release's id.
    pub id: String,
    /// Its contract file.
    pub file: String,
    /// Its status now.
    pub status: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// The digest approvals sign.
    pub digest: String,
    /// Approvals dropped because what they signed (content or submitter) changed.
    pub dropped_approvals: Vec<String>,
    /// What the submitter should know (settings that differ from ship.toml, …).
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
/// What `ship release approve` did.
pub struct ApproveReport {
    /// The release's id.
    pub id: String,
    /// The approver.
    pub principal: String,
    /// The approver's key fingerprint.
    pub key: String,
    /// The release's status now.
    pub status: String,
    /// Valid approvals so far.
    pub approvals: usize,
    /// Approvals required.
    pub required: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// What `ship release verify` concluded.
pub enum VerifyState {
    /// Submitted, unchanged, with enough valid approvals.
    Approved,
    /// Submitted, waiting for approvals.
    Pending,
    /// Never submitted.
    NotSubmitted,
    /// Changed since it was submitted.
    Tampered,
    /// An approval does not verify against the allowed signers.
    InvalidSigner,
    /// Withdrawn before approval (`ship release withdraw`): it never ships.
    Withdrawn,
}

#[derive(Debug, Serialize)]
/// One recorded approval, checked.
pub struct ApprovalCheck {
    /// Who approved.
    pub principal: String,
    /// The key's fingerprint.
    pub key: String,
    /// Whether the signature verifies.
    pub valid: bool,
    /// Why not, when it does not.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
/// What `ship release verify` found.
pub struct VerifyReport {
    /// The release's id.
    pub id: String,
    /// Its contract file.
    pub file: String,
    /// The conclusion.
    pub state: VerifyState,
    /// The digest recorded at submission.
    pub recorded_digest: Option<String>,
    /// The digest of the contract as it is now.
    pub current_digest: String,
    /// What changed since submission, when tampered.
    pub changes: Vec<String>,
    /// Every recorded approval, checked.
    pub approvals: Vec<ApprovalCheck>,
    /// How many verify.
    pub valid_approvals: usize,
    /// How many are required.
    pub required: usize,
    /// The allowed-signers file the signatures were checked against.
    pub allowed_signers: String,
    /// The conclusion in one sentence.
    pub message: String,
}

impl VerifyReport {
    /// Whether the release is approved.
    pub fn ok(&self) -> bool {
        self.state == VerifyState::Approved
    }
}

fn message_for(c: &ReleaseContract, digest: &str) -> Result<String> {
    let submitter = c.meta.submitted_by.as_deref().unwrap_or("");
    approval_message(&c.meta.id, digest, submitter).map_err(|e| Error::Refused(e.to_string()))
}

impl Workspace {
    fn required(&self) -> usize {
        self.config.approval.required_approvals as usize
    }

    fn signers(&self) -> Result<AllowedSigners> {
        let path = self.signers_path();
        if !path.is_file() {
            return Err(Error::Refused(format!(
                "no allowed signers file at {}: nobody can approve until approvers' public keys are listed there",
                self.rel(&path)
            )));
        }
        AllowedSigners::parse(&fsutil::read(&path)?).map_err(|e| Error::Parse {
            file: path,
            line: e.line,
            column: 1,
            message: e.message,
        })
    }

    /// Pinned verdicts that no longer back their change: the file changed or is gone, or it is
    /// not a PASS verdict for that change id (the changes table always says PASS).
    fn changed_verdicts(&self, c: &ReleaseContract) -> Vec<String> {
        c.meta
            .changes
            .iter()
            .filter_map(|ch| self.verdict_problem(ch))
            .collect()
    }

    /// Why the verdict file of a change no longer backs it (unreadable, changed since the
    /// contract was compiled, not a PASS for this change), or None when it still does.
    pub fn verdict_problem(&self, ch: &shiploop_artifacts::release::Change) -> Option<String> {
        {
            {
                let bytes = match std::fs::read(self.root.join(&ch.verdict_file)) {
                    Ok(b) => b,
                    Err(e) => {
                        return Some(format!(
                            "verdict file {} of change `{}` cannot be read: {e}",
                            ch.verdict_file, ch.id
                        ))
                    }
                };
                if sha256_digest(&bytes) != ch.verdict_digest {
                    return Some(format!(
                        "verdict file {} of change `{}` changed since the contract was compiled",
                        ch.verdict_file, ch.id
                    ));
                }
                let text = String::from_utf8_lossy(&bytes);
                match Verdict::parse(&text) {
                    Ok(v) if v.passed() && v.meta.id == ch.id => None,
                    Ok(v) => Some(format!(
                        "change `{}` is backed by {} with id `{}` and verdict {}, not a PASS for `{}`",
                        ch.id,
                        ch.verdict_file,
                        v.meta.id,
                        v.verdict(),
                        ch.id
                    )),
                    Err(e) => Some(format!("verdict file {}: {e}", ch.verdict_file)),
                }
            }
        }
    }

    /// Everything in the approved content that is not what ship would have written: plan
    /// tables that differ from the frontmatter, and verdicts that no longer back their change.
    fn content_problems(&self, c: &ReleaseContract) -> Vec<String> {
        let mut out = c.plan_block_problems(&self.link_root());
        out.extend(self.changed_verdicts(c));
        out
    }

    /// Submits the release for approval (`ship release submit`): records the submitter and the digest.
    pub fn submit(&self, arg: &str, principal: &str, now: DateTime<Utc>) -> Result<SubmitReport> {
        let principal = principal.trim();
        if let Some(why) = identity_problem(principal) {
            return Err(Error::Usage(format!(
                "submitter (--as) {principal:?} is not a plain e-mail-like identity: it {why}"
            )));
        }
        let mut r = self.resolve(arg)?;
        let m = &r.contract.meta;
        let now_digest = compute(&r.contract);
        let unchanged = m.digest.as_deref() == Some(now_digest.digest.as_str())
            && m.submitted_by.as_deref() == Some(principal);
        match m.status {
            Status::Draft | Status::PendingApproval => {}
            Status::Approved if !unchanged => {}
            Status::Approved => {
                return Err(Error::Refused(format!(
                    "{} is already approved and unchanged; nothing to submit",
                    m.id
                )))
            }
            other => {
                return Err(Error::Refused(format!(
                    "{} is {other}: only a draft or a contract awaiting approval can be submitted",
                    m.id
                )))
            }
        }
        r.contract.refresh_plan_blocks(&self.link_root());
        let mut problems = r.contract.submission_problems();
        problems.extend(self.content_problems(&r.contract));
        if !problems.is_empty() {
            return Err(Error::Incomplete {
                file: r.path.clone(),
                problems,
            });
        }
        // The decision settings are approved with the contract: a contract compiled before they
        // existed takes today's from ship.toml, so the approver sees and signs them.
        let hotfix = r.contract.meta.kind == Kind::Hotfix;
        let configured = self.config.criteria(hotfix);
        let mut warnings = Vec::new();
        match &r.contract.meta.criteria {
            None => r.contract.meta.criteria = Some(configured),
            Some(c) => {
                let diff = c.differences(&configured);
                if !diff.is_empty() {
                    warnings.push(format!(
                        "the contract's decision settings (criteria) differ from ship.toml, and the contract's are what gets approved: {}",
                        diff.join("; ")
                    ));
                }
            }
        }
        if let Some(c) = &r.contract.meta.criteria {
            let judge = shiploop_config::JudgeCfg {
                alpha: c.judge.alpha,
                beta: c.judge.beta,
                inconclusive: c.judge.inconclusive,
            };
            if let Some((_, problem)) = judge.problem() {
                return Err(Error::Incomplete {
                    file: r.path.clone(),
                    problems: vec![format!("criteria: {problem}")],
                });
            }
        }
        let d = compute(&r.contract);
        // Approvals signed the digest and the submitter; if either changes they no longer hold.
        let same_signed = r.contract.meta.digest.as_deref() == Some(d.digest.as_str())
            && r.contract.meta.submitted_by.as_deref() == Some(principal);
        let dropped: Vec<String> = if same_signed {
            vec![]
        } else {
            r.contract
                .meta
                .approvals
                .drain(..)
                .map(|a| a.principal)
                .collect()
        };
        let no_check = r
            .contract
            .meta
            .rollback
            .automatic
            .iter()
            .any(|t| matches!(t, Trigger::DataIntegrity { check: None }));
        if no_check {
            warnings.push("no data-integrity check is configured (rollback.data_integrity_check): that trigger cannot fire".into());
        }
        match self.signers() {
            Ok(s) if s.entries.is_empty() => warnings.push(format!(
                "{} lists nobody: no one can approve this release yet",
                self.rel(&self.signers_path())
            )),
            Ok(_) => {}
            Err(e) => warnings.push(e.to_string()),
        }

        let meta = &mut r.contract.meta;
        meta.status = if same_signed && meta.approvals.len() >= self.required() {
            Status::Approved
        } else {
            Status::PendingApproval
        };
        meta.submitted_by = Some(principal.to_string());
        meta.submitted_at = Some(now);
        meta.digest = Some(d.digest.clone());
        meta.digest_parts = d.parts;
        message_for(&r.contract, &d.digest)?;
        r.contract.refresh_records();
        // STATUS.md must be readable before the contract changes (unless a batch writes it
        // later, which reports its own failure).
        if self.status_batch.is_none() {
            self.load_status()?;
        }
        self.save_release(&r)?;
        self.update_status(&r, now)?;
        Ok(SubmitReport {
            id: r.contract.meta.id.clone(),
            file: self.rel(&r.path),
            status: r.contract.meta.status.to_string(),
            submitted_by: principal.to_string(),
            digest: d.digest,
            dropped_approvals: dropped,
            warnings,
        })
    }

    /// The message approvers sign, after checking the contract still matches its submission.
    pub fn approval_message(&self, arg: &str) -> Result<(LoadedRelease, String)> {
        let r = self.resolve(arg)?;
        let m = &r.contract.meta;
        let Some(recorded) = m.digest.clone() else {
            return Err(Error::Refused(format!(
                "{} has not been submitted: run `ship release submit {}` first",
                m.id, m.id
            )));
        };
        let now = compute(&r.contract);
        if now.digest != recorded {
            let what = describe_changes(&m.digest_parts, &now.parts).join("; ");
            return Err(Error::Refused(format!(
                "{} was modified after it was submitted ({what}); re-submit it before approving",
                m.id
            )));
        }
        let changed = self.content_problems(&r.contract);
        if !changed.is_empty() {
            return Err(Error::Refused(format!(
                "{}: {}; compile a new release",
                m.id,
                changed.join("; ")
            )));
        }
        let msg = message_for(&r.contract, &recorded)?;
        Ok((r, msg))
    }

    /// Signs the approval message with a private key file and records the approval.
    pub fn approve_with_key(
        &self,
        arg: &str,
        key_file: &Path,
        passphrase: Option<&str>,
        as_principal: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApproveReport> {
        let (r, msg) = self.approval_message(arg)?;
        let key_text = fsutil::read(key_file)?;
        let signed = sign_with_key(&key_text, passphrase, &msg).map_err(|e| match e {
            shiploop_approval::SignError::BadKey(m) => Error::Usage(format!(
                "{}: not a usable OpenSSH private key: {m}",
                key_file.display()
            )),
            other => Error::Refused(other.to_string()),
        })?;
        self.attach(r, &msg, signed.signature, signed.armored, as_principal, now)
    }

    /// Records an approval from a signature made elsewhere (`ssh-keygen -Y sign`, a hardware key).
    pub fn approve_with_signature(
        &self,
        arg: &str,
        sig_file: &Path,
        as_principal: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApproveReport> {
        let (r, msg) = self.approval_message(arg)?;
        let armored = fsutil::read(sig_file)?;
        let sig = parse_signature(&armored)
            .map_err(|e| Error::Usage(format!("{}: {e}", sig_file.display())))?;
        self.attach(
            r,
            &msg,
            sig,
            armored.trim().to_string() + "\n",
            as_principal,
            now,
        )
    }

    fn attach(
        &self,
        mut r: LoadedRelease,
        msg: &str,
        sig: SshSig,
        armored: String,
        as_principal: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApproveReport> {
        let m = &r.contract.meta;
        if !matches!(m.status, Status::PendingApproval | Status::Approved) {
            return Err(Error::Refused(format!(
                "{} is {}: only a submitted contract can be approved",
                m.id, m.status
            )));
        }
        if let Some(p) = as_principal {
            if let Some(why) = identity_problem(p) {
                return Err(Error::Usage(format!(
                    "--as {p:?} is not a plain e-mail-like identity: it {why}"
                )));
            }
        }
        verify_signature(&sig, msg).map_err(|e| Error::Refused(e.to_string()))?;
        let signers = self.signers()?;
        let signers_file = self.rel(&self.signers_path());
        let key = sig.public_key();
        let fp = fingerprint(key);
        if let Some((line, why)) = signers.refused_line_for_key(key) {
            return Err(Error::Refused(format!(
                "key {fp} is on {signers_file} line {line}, which ship refuses for approvals: {why}"
            )));
        }
        let principal = match as_principal {
            Some(p) => {
                let listed = signers.principals_for_key(key, NAMESPACE, now);
                if !listed.iter().any(|l| l == p) {
                    // Signing as a principal is case-sensitive, as in ssh-keygen -Y verify.
                    let hint = match listed.iter().find(|l| l.eq_ignore_ascii_case(p)) {
                        Some(l) => format!(": principals are case-sensitive, it is listed as {l}"),
                        None => String::new(),
                    };
                    return Err(Error::Refused(format!(
                        "key {fp} is not allowed to approve as {p} in {signers_file} (namespace {NAMESPACE}){hint}"
                    )));
                }
                p.to_string()
            }
            None => {
                let found = signers.principals_for_key(key, NAMESPACE, now);
                match found.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(Error::Refused(format!(
                            "key {fp} is not in {signers_file} for namespace {NAMESPACE}: it may not approve releases"
                        )))
                    }
                    many => {
                        return Err(Error::Usage(format!(
                            "key {fp} is listed for {}: choose one with --as",
                            many.join(", ")
                        )))
                    }
                }
            }
        };
        let submitter = m.submitted_by.clone().unwrap_or_default();
        if same_principal(&principal, &submitter) {
            return Err(Error::Refused(format!(
                "{principal} submitted {} and cannot approve their own release",
                m.id
            )));
        }
        if let Some(line) = signers.line_giving_key_to(key, &submitter) {
            return Err(Error::Refused(format!(
                "key {fp} also belongs to the submitter {submitter} ({signers_file} line {line} names them, in some spelling): the party that submits cannot approve"
            )));
        }
        if m.approvals
            .iter()
            .any(|a| same_principal(&a.principal, &principal))
        {
            return Err(Error::Refused(format!(
                "{principal} has already approved {}",
                m.id
            )));
        }
        // One key is one approver, however many principals the file lists for it.
        if let Some(prev) = m.approvals.iter().find(|a| a.key == fp) {
            return Err(Error::Refused(format!(
                "key {fp} already approved {} as {}: distinct approvers need distinct keys",
                m.id, prev.principal
            )));
        }
        let meta = &mut r.contract.meta;
        meta.approvals.push(Approval {
            principal: principal.clone(),
            signed_at: now,
            key: fp.clone(),
            signature: armored,
        });
        if meta.approvals.len() >= self.required() {
            meta.status = Status::Approved;
        }
        r.contract.refresh_records();
        // STATUS.md must be readable before the contract changes (unless a batch writes it
        // later, which reports its own failure).
        if self.status_batch.is_none() {
            self.load_status()?;
        }
        self.save_release(&r)?;
        self.update_status(&r, now)?;
        let m = &r.contract.meta;
        Ok(ApproveReport {
            id: m.id.clone(),
            principal,
            key: fp,
            status: m.status.to_string(),
            approvals: m.approvals.len(),
            required: self.required(),
        })
    }

    /// Recomputes the digest and checks every signature; changes nothing.
    pub fn verify(&self, arg: &str, now: DateTime<Utc>) -> Result<VerifyReport> {
        let r = self.resolve(arg)?;
        Ok(self.verify_contract(&r.contract, &self.rel(&r.path), now))
    }

    /// Verifies a contract's approvals against the allowed signers; `file` names it in the report.
    pub fn verify_contract(
        &self,
        c: &ReleaseContract,
        file: &str,
        now: DateTime<Utc>,
    ) -> VerifyReport {
        let m = &c.meta;
        let d = compute(c);
        let required = self.required();
        let mut report = VerifyReport {
            id: m.id.clone(),
            file: file.to_string(),
            state: VerifyState::Pending,
            recorded_digest: m.digest.clone(),
            current_digest: d.digest.clone(),
            changes: vec![],
            approvals: vec![],
            valid_approvals: 0,
            required,
            allowed_signers: self.rel(&self.signers_path()),
            message: String::new(),
        };
        if let Some(w) = &m.withdrawn {
            report.state = VerifyState::Withdrawn;
            report.message = format!(
                "{} was withdrawn by {} at {} (as {}, {}): {}; it never ships",
                m.id,
                w.by,
                w.at.format("%Y-%m-%d %H:%M:%SZ"),
                w.id,
                w.was,
                w.reason
            );
            return report;
        }
        let Some(recorded) = m.digest.clone() else {
            report.state = VerifyState::NotSubmitted;
            report.message = format!("{} has not been submitted for approval", m.id);
            return report;
        };
        let when = if m.approvals.is_empty() {
            "submission"
        } else {
            "approval"
        };
        if recorded != d.digest {
            report.changes = describe_changes(&m.digest_parts, &d.parts);
        }
        report.changes.extend(self.content_problems(c));
        if !report.changes.is_empty() {
            report.state = VerifyState::Tampered;
            report.message = format!(
                "{file} was modified after {when}: {}",
                report.changes.join("; ")
            );
            return report;
        }
        let msg = match message_for(c, &recorded) {
            Ok(msg) => msg,
            Err(e) => {
                report.state = VerifyState::Tampered;
                report.message = e.to_string();
                return report;
            }
        };
        let signers = self.signers();
        let submitter = m.submitted_by.clone().unwrap_or_default();
        let mut counted: Vec<(String, String)> = vec![];
        for a in &m.approvals {
            let problem = check_approval(a, &msg, signers.as_ref(), &submitter, &counted, now);
            if problem.is_none() {
                counted.push((a.principal.clone(), a.key.clone()));
            }
            report.approvals.push(ApprovalCheck {
                principal: a.principal.clone(),
                key: a.key.clone(),
                valid: problem.is_none(),
                problem,
            });
        }
        report.valid_approvals = counted.len();
        let invalid: Vec<String> = report
            .approvals
            .iter()
            .filter_map(|a| a.problem.as_ref().map(|p| format!("{}: {p}", a.principal)))
            .collect();
        let names: Vec<&str> = counted.iter().map(|(p, _)| p.as_str()).collect();
        if !invalid.is_empty() {
            report.state = VerifyState::InvalidSigner;
            report.message = format!("invalid approval(s) on {}: {}", m.id, invalid.join("; "));
        } else if let Some(line) = c.records_mismatch() {
            // Checked after the signatures so a forged approval record is named as such; any
            // other hand edit below the records marker is reported here.
            report.state = VerifyState::Tampered;
            report.changes.push(format!(
                "the records ship maintains at the end of the contract were edited (body line {line})"
            ));
            report.message = format!(
                "{file} was modified after {when}: {}",
                report.changes.join("; ")
            );
        } else if report.valid_approvals >= required {
            report.state = VerifyState::Approved;
            report.message = format!(
                "{} is approved by {} ({} of {} required); contract unchanged since submission",
                m.id,
                names.join(", "),
                report.valid_approvals,
                required
            );
        } else {
            report.state = VerifyState::Pending;
            report.message = format!(
                "{} awaits approval: {} of {} required",
                m.id, report.valid_approvals, required
            );
        }
        report
    }
}

/// Why one recorded approval does not count, or None when it does. `counted` holds the
/// (principal, key) pairs already counted, so neither a principal nor a key counts twice.
fn check_approval(
    a: &Approval,
    msg: &str,
    signers: std::result::Result<&AllowedSigners, &Error>,
    submitter: &str,
    counted: &[(String, String)],
    now: DateTime<Utc>,
) -> Option<String> {
    let sig = match parse_signature(&a.signature) {
        Ok(s) => s,
        Err(e) => return Some(e.to_string()),
    };
    if let Err(e) = verify_signature(&sig, msg) {
        return Some(e.to_string());
    }
    let signers = match signers {
        Ok(s) => s,
        Err(e) => return Some(e.to_string()),
    };
    let key = sig.public_key();
    let fp = fingerprint(key);
    if fp != a.key {
        return Some(format!(
            "the record names key {} but the signature is by {fp}",
            a.key
        ));
    }
    if let Some((line, why)) = signers.refused_line_for_key(key) {
        return Some(format!(
            "key {fp} is on allowed signers line {line}, which ship refuses for approvals: {why}"
        ));
    }
    // Only a principal listed literally for this key counts: a wildcard line would let anyone
    // rewrite the (unsigned) principal of a recorded approval to any name it matches.
    if !signers
        .principals_for_key(key, NAMESPACE, now)
        .iter()
        .any(|l| l == &a.principal)
    {
        return Some(format!(
            "key {fp} is not listed for {} in the allowed signers",
            a.principal
        ));
    }
    if same_principal(&a.principal, submitter) {
        return Some("the submitter cannot approve their own release".into());
    }
    if let Some(line) = signers.line_giving_key_to(key, submitter) {
        return Some(format!(
            "key {fp} also belongs to the submitter {submitter} (allowed signers line {line} names them, in some spelling): the submitter cannot approve their own release"
        ));
    }
    if let Some((p, _)) = counted
        .iter()
        .find(|(p, k)| same_principal(p, &a.principal) || *k == fp)
    {
        return Some(format!("the same approver or key already counted (as {p})"));
    }
    None
}

/// What `ship release withdraw` did.
#[derive(Debug, Serialize)]
pub struct WithdrawReport {
    /// The id the release had, free again for `ship release new`.
    pub id: String,
    /// Its id and file now: `<id>.withdrawn-N`.
    pub withdrawn_id: String,
    /// Its contract file now.
    pub file: String,
    /// Its status before: draft or pending-approval.
    pub was: String,
    /// Who withdrew it.
    pub by: String,
    /// Why.
    pub reason: String,
}

impl Workspace {
    /// Withdraws a draft or a contract awaiting approval: status cancelled, who, when and why
    /// recorded in it, and the contract kept as `<id>.withdrawn-N.md` (its id and name renamed
    /// with it: `<name>.withdrawn-N`),
    /// so the name can be compiled again the same day. Its changes are free for a new release.
    /// An approved, rolling out or finished release is refused.
    pub fn withdraw(
        &self,
        arg: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<WithdrawReport> {
        let by = by.trim();
        if let Some(why) = identity_problem(by) {
            return Err(Error::Usage(format!(
                "--as {by:?} is not a plain e-mail-like identity: it {why}"
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::Usage(
                "--reason: say why the release is withdrawn (it is recorded)".into(),
            ));
        }
        let mut r = self.resolve(arg)?;
        let id = r.contract.meta.id.clone();
        let status = r.contract.meta.status;
        match status {
            Status::Draft | Status::PendingApproval => {}
            Status::Approved => {
                return Err(Error::Refused(format!(
                    "{id} is approved: only a draft or a contract awaiting approval can be withdrawn; an approved release ships only when someone runs `ship rollout start {id}`, so leave it unstarted (its approval stays on record)"
                )))
            }
            Status::Deploying | Status::Validating => {
                return Err(Error::Refused(format!(
                    "{id} is {status}: a release in flight is not withdrawn but rolled back: `ship rollout abort {id} --reason \"…\"`"
                )))
            }
            Status::Shipped | Status::RolledBack | Status::Cancelled => {
                return Err(Error::Refused(format!(
                    "{id} is {status}: only a draft or a contract awaiting approval can be withdrawn; its record stays as it is"
                )))
            }
        }
        let dir = r
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.releases_dir());
        // The id is `YYYY-MM-DD-<name>`: the withdrawn contract's name and id both get the suffix.
        let name = r.contract.meta.name.clone();
        let (new_name, new_id, new_path) = (1..)
            .map(|n| {
                let new_name = format!("{name}.withdrawn-{n}");
                let new_id = format!("{}.withdrawn-{n}", id);
                let path = dir.join(format!("{new_id}.md"));
                (new_name, new_id, path)
            })
            .find(|(_, _, p)| !p.exists())
            .ok_or_else(|| Error::Usage("no free name for the withdrawn contract".into()))?;
        let m = &mut r.contract.meta;
        m.withdrawn = Some(shiploop_artifacts::release::Withdrawal {
            by: by.to_string(),
            at: now,
            reason: reason.to_string(),
            id: id.clone(),
            was: status.to_string(),
        });
        m.status = Status::Cancelled;
        m.id = new_id.clone();
        m.name = new_name;
        r.contract.refresh_records();
        let mut status_file = self.load_status()?;
        fsutil::write_atomic(&new_path, &r.contract.render(), true)?;
        std::fs::remove_file(&r.path).map_err(|source| Error::Io {
            path: r.path.clone(),
            source,
        })?;
        if let Some(e) = status_file.meta.releases.iter_mut().find(|e| e.id == id) {
            e.id = new_id.clone();
            e.status = Status::Cancelled.to_string();
            e.updated_at = now;
        }
        status_file.refresh();
        self.save_status(&status_file)?;
        Ok(WithdrawReport {
            id,
            withdrawn_id: new_id,
            file: self.rel(&new_path),
            was: status.to_string(),
            by: by.to_string(),
            reason: reason.to_string(),
        })
    }

    /// Records a rollout milestone in the contract (status and rollout record, both outside the
    /// approval digest) and in STATUS.md. Approved content is never touched.
    pub fn record_rollout(
        &self,
        release_id: &str,
        status: Status,
        record: shiploop_artifacts::release::RolloutRecord,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut r = self.resolve(release_id)?;
        // A passed validation already moved the release on; replaying the rollout's records
        // (after a restart) must not move it back.
        let validated = r.contract.meta.status == Status::Shipped && status == Status::Validating;
        if !validated {
            r.contract.meta.status = status;
        }
        r.contract.meta.rollout = Some(record);
        r.contract.refresh_records();
        // STATUS.md must be readable before the contract changes (unless a batch writes it
        // later, which reports its own failure).
        if self.status_batch.is_none() {
            self.load_status()?;
        }
        self.save_release(&r)?;
        self.update_status(&r, now)
    }
}

impl Workspace {
    /// Records the event log's head (`seq`, `hash`) in the contract, unless an anchor at or
    /// after it is there already (so replays after a restart add nothing).
    pub fn record_anchor(
        &self,
        release_id: &str,
        seq: i64,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut r = self.resolve(release_id)?;
        let anchors = &mut r.contract.meta.anchors;
        if seq == 0 || anchors.last().is_some_and(|a| a.seq >= seq) {
            return Ok(());
        }
        anchors.push(shiploop_artifacts::release::Anchor {
            seq,
            hash: hash.to_string(),
            at,
        });
        r.contract.refresh_records();
        self.save_release(&r)
    }

    /// Records the last `ship check` in the contract (outside the approval digest).
    pub fn record_checks(
        &self,
        release_id: &str,
        record: shiploop_artifacts::release::ChecksRecord,
    ) -> Result<()> {
        let mut r = self.resolve(release_id)?;
        r.contract.meta.checks = Some(record);
        r.contract.refresh_records();
        self.save_release(&r)
    }

    /// Records post-deployment validation; `status` moves the release on when it ended.
    pub fn record_validation(
        &self,
        release_id: &str,
        status: Option<Status>,
        record: shiploop_artifacts::release::ValidationRecord,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut r = self.resolve(release_id)?;
        if let Some(s) = status {
            r.contract.meta.status = s;
        }
        r.contract.meta.validation = Some(record);
        r.contract.refresh_records();
        // STATUS.md must be readable before the contract changes (unless a batch writes it
        // later, which reports its own failure).
        if self.status_batch.is_none() {
            self.load_status()?;
        }
        self.save_release(&r)?;
        self.update_status(&r, now)
    }
}
