//! What the release steps outside a rollout (`ship release submit`, `ship release withdraw`)
//! record in the event log, so the command line never opens the state database itself.

use crate::notify::Notifier;
use crate::{store_err, Result};
use chrono::{DateTime, Utc};
use shiploop_store::event::{ApprovalNeeded, Event, ReleaseWithdrawn};
use shiploop_workspace::{WithdrawReport, Workspace};

fn append(ws: &Workspace, release: &str, event: &Event, now: DateTime<Utc>) -> Result<()> {
    let mut store = crate::open_store(ws)?;
    store.append(release, event, now).map_err(store_err)?;
    Ok(())
}

/// Records that release `id` (digest `digest`, submitted by `by`) waits for a human, and
/// returns the notifier that tells the `[[webhooks]]` (None without any: nothing is recorded
/// then, as nobody is told).
pub fn approval_needed(
    ws: &Workspace,
    id: &str,
    by: &str,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<Option<Notifier>> {
    let cfg = &ws.config;
    if cfg.webhooks.is_empty() {
        return Ok(None);
    }
    let needed = Event::ApprovalNeeded(ApprovalNeeded {
        release: id.to_string(),
        submitted_by: by.to_string(),
        digest: digest.to_string(),
    });
    append(ws, id, &needed, now)?;
    Ok(Some(Notifier::new(
        crate::state_location(ws)?,
        id,
        &cfg.service.name,
        &cfg.webhooks,
        now,
    )))
}

/// Records a withdrawal under the id the release had, where its events (an approval request,
/// a rehearsal, on-call's acknowledgement) are.
pub fn release_withdrawn(ws: &Workspace, r: &WithdrawReport, now: DateTime<Utc>) -> Result<()> {
    let withdrawn = Event::ReleaseWithdrawn(ReleaseWithdrawn {
        withdrawn_id: r.withdrawn_id.clone(),
        file: r.file.clone(),
        was: r.was.clone(),
        by: r.by.clone(),
        reason: r.reason.clone(),
    });
    append(ws, &r.id, &withdrawn, now)
}
