//! `ship release …` commands: call the workspace, print the result.

use crate::output::Out;
use chrono::{DateTime, Utc};
use serde_json::json;
use shiploop_workspace::{Error, VerifyState, Workspace};
use std::path::Path;

pub fn new(
    ws: &Workspace,
    out: &Out,
    name: &str,
    opts: &shiploop_workspace::NewOptions,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let r = ws.release_new(name, opts, now)?;
    if out.json {
        out.print_json(&r);
        return Ok(0);
    }
    println!("Compiled {} (draft) from {}", r.file, r.template);
    println!("  changes ({}): {}", r.changes.len(), r.changes.join(", "));
    if !r.excluded.is_empty() {
        let e: Vec<String> = r
            .excluded
            .iter()
            .map(|(id, v)| format!("{id} ({v})"))
            .collect();
        println!("  excluded ({}): {}", e.len(), e.join(", "));
    }
    if !r.stages_overridden.is_empty() {
        println!("  stages (--stage): {}", r.stages_overridden.join(", "));
    }
    if !r.already_released.is_empty() {
        println!(
            "  already in an earlier release: {}",
            r.already_released.join(", ")
        );
    }
    match (&r.outcome_contract, &r.mission) {
        (Some(f), _) => println!("  linked in {f}"),
        (None, Some(m)) => println!(
            "  mission {m} has no outcome contract yet: `ship mission new {m}` (the handoff to Operate needs one)"
        ),
        _ => {}
    }
    println!(
        "\nNext: review it (release notes are a draft), then `ship release submit {}`.",
        r.id
    );
    Ok(0)
}

pub fn git_email(ws: &Workspace) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "user.email"])
        .current_dir(&ws.root)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Tells the `[[webhooks]]` that a release waits for a human. A receiver that is down is
/// recorded in the event log (`webhook-failed`) and never fails the submission.
fn announce_approval_needed(ws: &Workspace, id: &str, by: &str, digest: &str, now: DateTime<Utc>) {
    let result = (|| -> Result<(), String> {
        let logged = shiploop_controller::release_log::approval_needed(ws, id, by, digest, now);
        let Some(n) = logged.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(n.flush())
            .map(|_| ())
            .map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        eprintln!("warning: webhooks: {e}");
    }
}

pub fn submit(
    ws: &Workspace,
    out: &Out,
    release: &str,
    as_: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let principal = match as_ {
        Some(p) => p.to_string(),
        None => git_email(ws).ok_or_else(|| {
            Error::Usage(
                "no submitter: pass --as <principal> or set `git config user.email`".into(),
            )
        })?,
    };
    let r = ws.submit(release, &principal, now)?;
    announce_approval_needed(ws, &r.id, &r.submitted_by, &r.digest, now);
    if out.json {
        out.print_json(&r);
        return Ok(0);
    }
    println!(
        "Submitted {} by {} — status {}",
        r.id, r.submitted_by, r.status
    );
    println!("  digest {}", r.digest);
    if !r.dropped_approvals.is_empty() {
        println!(
            "  the contract changed, so earlier approvals were dropped: {}",
            r.dropped_approvals.join(", ")
        );
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    println!("\nAn approver (not {}) signs it:", r.submitted_by);
    println!("  ship release approve {} --key ~/.ssh/id_ed25519", r.id);
    println!("or, with ssh-keygen or a hardware key:");
    println!(
        "  ship release digest {id} | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n shiploop-release > {id}.sig",
        id = r.id
    );
    println!(
        "  ship release approve {id} --signature {id}.sig",
        id = r.id
    );
    Ok(0)
}

pub fn digest(ws: &Workspace, out: &Out, release: &str) -> Result<u8, Error> {
    let (r, msg) = ws.approval_message(release)?;
    if out.json {
        out.print_json(&json!({
            "id": r.contract.meta.id,
            "digest": r.contract.meta.digest,
            "namespace": shiploop_approval::NAMESPACE,
            "message": msg,
        }));
    } else {
        // Exactly the signed bytes, nothing else: this output is piped into ssh-keygen.
        print!("{msg}");
    }
    Ok(0)
}

pub fn approve(
    ws: &Workspace,
    out: &Out,
    release: &str,
    key: Option<&Path>,
    signature: Option<&Path>,
    as_: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let r = match (key, signature) {
        (Some(k), _) => {
            let pass = std::env::var("SHIP_KEY_PASSPHRASE").ok();
            ws.approve_with_key(release, k, pass.as_deref(), as_, now)?
        }
        (None, Some(s)) => ws.approve_with_signature(release, s, as_, now)?,
        (None, None) => {
            return Err(Error::Usage(
                "give --key <private key> or --signature <file>".into(),
            ))
        }
    };
    if out.json {
        out.print_json(&r);
        return Ok(0);
    }
    println!(
        "Approved {} as {} (key {}): {} of {} required — status {}",
        r.id, r.principal, r.key, r.approvals, r.required, r.status
    );
    Ok(0)
}

/// `ship release withdraw`: a draft or a contract awaiting approval, withdrawn on the record
/// (the contract and the event log) and kept as `<id>.withdrawn-N.md`.
pub fn withdraw(
    ws: &Workspace,
    out: &Out,
    release: &str,
    by: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u8, Error> {
    let by = match by {
        Some(p) => p.to_string(),
        None => git_email(ws).ok_or_else(|| {
            Error::Usage("who withdraws it: pass --as <name> or set `git config user.email`".into())
        })?,
    };
    let r = ws.withdraw(release, &by, reason, now)?;
    // The audit log: under the id the release had, where its events (an approval request, a
    // rehearsal, on-call's acknowledgement) are; evidence before it never counts for a new
    // release compiled under that id.
    let logged = shiploop_controller::release_log::release_withdrawn(ws, &r, now);
    if let Err(e) = logged {
        return Err(Error::Usage(format!(
            "{} was withdrawn (kept as {}), but the event log could not record it: {e}",
            r.id, r.file
        )));
    }
    if out.json {
        out.print_json(&r);
        return Ok(0);
    }
    println!("Withdrew {} ({}) as {}: {}", r.id, r.was, r.by, r.reason);
    println!("  kept as {} — status cancelled", r.file);
    println!(
        "  `ship release new {}` compiles it again (its changes are free for a new release)",
        release_name(&r.id)
    );
    Ok(0)
}

/// The name part of a release id (`YYYY-MM-DD-<name>`).
fn release_name(id: &str) -> &str {
    id.get(11..).filter(|_| id.len() > 11).unwrap_or(id)
}

pub fn verify(ws: &Workspace, out: &Out, release: &str, now: DateTime<Utc>) -> Result<u8, Error> {
    let r = ws.verify(release, now)?;
    let code = if r.ok() { 0 } else { 1 };
    if out.json {
        out.print_json(&r);
        return Ok(code);
    }
    let label = match r.state {
        VerifyState::Approved => "approved",
        VerifyState::Pending => "pending",
        VerifyState::NotSubmitted => "not submitted",
        VerifyState::Tampered => "TAMPERED",
        VerifyState::InvalidSigner => "INVALID SIGNER",
        VerifyState::Withdrawn => "withdrawn",
    };
    println!("{label}: {}", r.message);
    for a in &r.approvals {
        match &a.problem {
            None => println!("  ok       {} ({})", a.principal, a.key),
            Some(p) => println!("  invalid  {} ({}): {p}", a.principal, a.key),
        }
    }
    if !r.approvals.is_empty() {
        println!("  (signatures checked against {})", r.allowed_signers);
    }
    if r.state == VerifyState::Tampered {
        println!(
            "  recorded digest {}",
            r.recorded_digest.as_deref().unwrap_or("-")
        );
        println!("  current  digest {}", r.current_digest);
    }
    Ok(code)
}

/// Every readable release; an unreadable contract is named with its error (under `unreadable`
/// with --json, on stderr otherwise) and never hides the others. Exit 0, as `ship status` and
/// `GET /releases` do.
pub fn list(ws: &Workspace, out: &Out) -> Result<u8, Error> {
    let (good, bad) = ws.release_set()?;
    let rows: Vec<_> = good.iter().map(|r| ws.summary(r)).collect();
    if out.json {
        let unreadable: Vec<_> = bad
            .iter()
            .map(|(p, e)| json!({ "file": ws.rel(p), "error": e }))
            .collect();
        out.print_json(&json!({ "releases": rows, "unreadable": unreadable }));
        return Ok(0);
    }
    for (p, e) in &bad {
        eprintln!("unreadable: {} — {e}", ws.rel(p));
    }
    if rows.is_empty() {
        if bad.is_empty() {
            println!("No release contracts yet: `ship release new <name>`.");
        }
        return Ok(0);
    }
    let w = rows.iter().map(|r| r.id.len()).max().unwrap_or(2).max(7);
    println!(
        "{:<w$}  {:<21}  {:>7}  {:>9}  mission",
        "release", "status", "changes", "approvals"
    );
    for r in &rows {
        let status = if r.modified_since_submission {
            format!("{} (MODIFIED)", r.status)
        } else {
            r.status.clone()
        };
        println!(
            "{:<w$}  {:<21}  {:>7}  {:>9}  {}",
            r.id,
            status,
            r.changes,
            r.approvals,
            r.mission.as_deref().unwrap_or("—")
        );
    }
    Ok(0)
}

pub fn show(ws: &Workspace, out: &Out, release: &str, now: DateTime<Utc>) -> Result<u8, Error> {
    let r = ws.resolve(release)?;
    let file = ws.rel(&r.path);
    let v = ws.verify_contract(&r.contract, &file, now);
    let m = &r.contract.meta;
    if out.json {
        out.print_json(&json!({
            "file": file,
            "release": m,
            "verification": v,
        }));
        return Ok(0);
    }
    println!("{}  ({})", m.id, file);
    println!("  status     {}", m.status);
    println!("  service    {}", m.service);
    println!("  mission    {}", m.mission.as_deref().unwrap_or("—"));
    if let Some(by) = &m.submitted_by {
        println!("  submitted  by {by}");
    }
    let state = serde_json::to_value(v.state).unwrap_or_default();
    println!(
        "  approval   {}: {}",
        state.as_str().unwrap_or("?"),
        v.message
    );
    println!("  changes");
    for c in &m.changes {
        println!("    {}  {}", c.id, c.summary);
    }
    for e in &m.excluded {
        println!("    (excluded) {} {}  {}", e.id, e.verdict, e.summary);
    }
    println!("  stages");
    for s in &m.stages {
        let d = s
            .duration
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into());
        println!("    {:<16} {:>3} %  hold {d}", s.name, s.weight);
    }
    println!("  automatic rollback triggers");
    for t in &m.rollback.automatic {
        println!("    - {}", t.describe());
    }
    Ok(0)
}
