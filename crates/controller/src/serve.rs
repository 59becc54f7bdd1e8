//! `ship serve`'s controller: drives every unfinished rollout of the workspace at once, each in
//! its own task holding its own lease, and resumes them after a restart (the state database
//! says where each one is). One rollout's failing provider never stalls the others: its task
//! ends with the error, and the next scan starts it again after a pause.
//!
//! Runs on a `LocalSet`: a controller is driven through `&mut` borrows and callbacks that need
//! not be `Send`, and one thread is plenty for a loop that mostly waits.

use crate::{store_err, Clock, Controller, Result, SystemClock};
use chrono::{DateTime, Utc};
use shiploop_artifacts::release::Status;
use shiploop_rollout::{Decision, Phase, Rollout};
use shiploop_store::Store;
use shiploop_workspace::Workspace;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::watch;

/// Told how long each tick took; shared with the HTTP side, so `Send + Sync`.
pub type TickHook = std::sync::Arc<dyn Fn(Duration) + Send + Sync>;

/// What the server reports about its rollouts (for `/metrics` and logs).
pub trait Observer {
    fn decision(&self, release: &str, d: &Decision);
    fn finished(&self, release: &str, outcome: &str);
    fn error(&self, release: &str, message: &str);
}

/// The lease name `ship serve` holds while it runs, so `ship rollout start --detach` can tell
/// whether a server will pick the rollout up.
pub const SERVER_LEASE: &str = "ship-serve";

/// Releases with work for a controller: a rollout not in a terminal phase, or one that reached
/// 100 % and still owes its post-deployment validation (validation.auto).
pub fn pending(ws: &Workspace) -> Result<Vec<String>> {
    let store = Store::open(&ws.state_db()).map_err(store_err)?;
    let mut out = vec![];
    for row in store.rollouts().map_err(store_err)? {
        let Ok(state) = serde_json::from_value::<Rollout>(row.state) else {
            continue;
        };
        let validating = state.phase == Phase::Completed
            && ws.config.validation.auto
            && ws
                .resolve(&row.release)
                .is_ok_and(|r| r.contract.meta.status == Status::Validating);
        if !state.phase.is_terminal() || validating {
            out.push(row.release);
        }
    }
    Ok(out)
}

/// Who holds the server lease now (a live `ship serve`), if anyone.
pub fn server_running(ws: &Workspace, now: DateTime<Utc>) -> Result<Option<String>> {
    let store = Store::open(&ws.state_db()).map_err(store_err)?;
    let holder = store.lease_holder(SERVER_LEASE, now).map_err(store_err)?;
    Ok(holder.filter(|h| !crate::holder_is_dead(h)))
}

/// Scans for work every `poll` until `stop`, then waits for every task to finish its tick.
pub async fn supervise(
    ws: &'static Workspace,
    poll: Duration,
    stop: watch::Receiver<bool>,
    observer: Rc<dyn Observer>,
    on_tick: Option<TickHook>,
) -> Result<()> {
    let mut tasks: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let retry_after: Rc<RefCell<HashMap<String, DateTime<Utc>>>> = Rc::default();
    let holder = format!("{}:{}", crate::hostname(), std::process::id());
    let mut stop_rx = stop.clone();
    loop {
        let now = Utc::now();
        hold_server_lease(ws, &holder, poll, now);
        tasks.retain(|_, h| !h.is_finished());
        match pending(ws) {
            Ok(ids) => {
                for id in ids {
                    let waiting = retry_after.borrow().get(&id).is_some_and(|t| *t > now);
                    if tasks.contains_key(&id) || waiting {
                        continue;
                    }
                    let task = drive_one(
                        ws,
                        id.clone(),
                        stop.clone(),
                        observer.clone(),
                        on_tick.clone(),
                        retry_after.clone(),
                    );
                    tasks.insert(id, tokio::task::spawn_local(task));
                }
            }
            Err(e) => observer.error("", &format!("scanning the state database: {e}")),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop_rx.changed() => {}
        }
        if *stop_rx.borrow() {
            break;
        }
    }
    for (_, t) in tasks {
        let _ = t.await;
    }
    if let Ok(mut store) = Store::open(&ws.state_db()) {
        let _ = store.release_lease(SERVER_LEASE, &holder);
    }
    Ok(())
}

fn hold_server_lease(ws: &Workspace, holder: &str, poll: Duration, now: DateTime<Utc>) {
    if let Ok(mut store) = Store::open(&ws.state_db()) {
        let ttl = (poll * 3).max(Duration::from_secs(10));
        if !store
            .acquire_lease(SERVER_LEASE, holder, ttl, now)
            .unwrap_or(false)
        {
            // Another server's lease: a dead one is taken over; a live one keeps it (each
            // rollout's own lease still decides who drives it).
            if let Ok(Some(other)) = store.lease_holder(SERVER_LEASE, now) {
                if crate::holder_is_dead(&other) {
                    let _ = store.take_over_lease(SERVER_LEASE, &other, holder, ttl, now);
                }
            }
        }
    }
}

/// Drives one rollout to its end (and its validation), or until `stop`. Errors end the task;
/// the supervisor tries again after a pause.
async fn drive_one(
    ws: &'static Workspace,
    id: String,
    stop: watch::Receiver<bool>,
    observer: Rc<dyn Observer>,
    on_tick: Option<TickHook>,
    retry_after: Rc<RefCell<HashMap<String, DateTime<Utc>>>>,
) {
    let result = drive(ws, &id, &stop, observer.as_ref(), on_tick).await;
    if let Err(e) = result {
        let message = e.to_string();
        // Someone else driving it is not an error of ours: look again later.
        if !message.contains("is being driven by another controller") {
            observer.error(&id, &message);
        }
        retry_after
            .borrow_mut()
            .insert(id, Utc::now() + chrono::Duration::seconds(10));
    }
}

async fn drive(
    ws: &'static Workspace,
    id: &str,
    stop: &watch::Receiver<bool>,
    observer: &dyn Observer,
    on_tick: Option<TickHook>,
) -> Result<()> {
    let mut c = Controller::open(ws, id, Utc::now())?;
    c.on_tick =
        on_tick.map(|h| Box::new(move |d: Duration| h(d)) as Box<dyn Fn(Duration) + Send + Sync>);
    if let Some(holder) = c.driven_elsewhere(Utc::now())? {
        return Err(shiploop_workspace::Error::Refused(format!(
            "{id} is being driven by another controller ({holder})"
        )));
    }
    let notifier = c.notifier()?.map(Rc::new);
    let delivering = notifier.clone().map(|n| {
        tokio::task::spawn_local(async move {
            loop {
                let _ = n.flush().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    });
    let result = drive_held(ws, id, stop, observer, &mut c).await;
    // Whatever happened, the webhook loop of this attempt ends here (a retry starts its own).
    if let Some(d) = delivering {
        d.abort();
    }
    if let Some(n) = &notifier {
        let _ = n.flush().await;
    }
    if let Some(ended) = result? {
        observer.finished(id, ended);
    }
    Ok(())
}

/// The rollout, then its validation; how it ended, from a fixed set (a /metrics label), or
/// None when it was only interrupted.
async fn drive_held(
    ws: &'static Workspace,
    id: &str,
    stop: &watch::Receiver<bool>,
    observer: &dyn Observer,
    c: &mut Controller<'_>,
) -> Result<Option<&'static str>> {
    let mut clock = SystemClock;
    let mut log = |d: &Decision| observer.decision(id, d);
    let mut ended = if c.outcome().is_none() {
        match c.run(&mut clock, stop, &mut log).await? {
            crate::Outcome::Completed => Some("completed"),
            crate::Outcome::RolledBack { .. } => Some("rolled-back"),
            crate::Outcome::Failed { .. } => Some("failed"),
            crate::Outcome::Interrupted => None,
        }
    } else {
        c.finish(clock.now())?;
        None
    };
    if c.state.phase == Phase::Completed
        && ws.config.validation.auto
        && !*stop.borrow()
        && c.recorded_validation().is_none()
    {
        let mut vlog = |_: &str| {};
        let report = c.validate(&mut clock, stop, &mut vlog).await?;
        ended = match report.result.as_str() {
            "passed" => Some("validation-passed"),
            "failed" => Some("validation-failed"),
            _ => None,
        };
    }
    Ok(ended)
}
