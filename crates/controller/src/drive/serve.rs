//! `ship serve`'s controller: drives every unfinished rollout of the workspace at once, each in
//! its own task holding its own lease, and resumes them after a restart (the state database
//! says where each one is). One rollout's failing provider never stalls the others: its task
//! ends with the error, and the next scan starts it again after a pause.
//!
//! Runs on a `LocalSet`: a controller is driven through `&mut` borrows and callbacks that need
//! not be `Send`, and one thread is plenty for a loop that mostly waits.

use super::heartbeat::{replica_lease, Heartbeat, Pulse, Renewals};
use super::replicas::{Replicas, REPLICA_LEASE};
use crate::{store_err, with_webhooks, Clock, Controller, Result};
use chrono::{DateTime, Utc};
use shiploop_artifacts::release::Status;
use shiploop_rollout::{Decision, Phase};
use shiploop_store::{StateStore, StoreError};
use shiploop_workspace::Workspace;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::watch;

/// The controllers' telemetry, shared with the HTTP side (`/metrics`).
pub type TelemetryHook = std::sync::Arc<dyn crate::Telemetry>;

/// What the server reports about its rollouts (for `/metrics` and logs).
pub trait Observer {
    /// The rollout of `release` decided `d`.
    fn decision(&self, release: &str, d: &Decision);
    /// The rollout of `release` ended with `outcome`.
    fn finished(&self, release: &str, outcome: &str);
    /// A rollout task ended with an error (or a panic); it starts again after `retry_in`.
    fn error(&self, release: &str, message: &str, retry_in: Duration);
}

/// When a failing rollout task starts again: 10 s after its first failure, doubling with each
/// failure in a row up to 5 minutes, so a provider that is down for an hour costs a dozen
/// attempts, not 360. A task that ran for 5 minutes before failing counts as healthy again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Failures in a row so far.
    pub failures: u32,
    /// When the task starts again.
    pub at: DateTime<Utc>,
}

const FIRST_RETRY: Duration = Duration::from_secs(10);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
const HEALTHY_AFTER: Duration = Duration::from_secs(300);
/// A rollout held by another live controller (or whose lease this one lost) is looked at
/// again this soon: it may be handed over, or its holder may die.
const HELD_RETRY: Duration = Duration::from_secs(2);

impl Retry {
    /// The retry after a task that started at `started` failed at `now`.
    pub fn after(previous: Option<Retry>, started: DateTime<Utc>, now: DateTime<Utc>) -> Retry {
        let ran = (now - started).to_std().unwrap_or_default();
        let failures = match previous {
            Some(p) if ran < HEALTHY_AFTER => p.failures.saturating_add(1),
            _ => 1,
        };
        let delay = crate::backoff::doubling(FIRST_RETRY, failures - 1, LONGEST_RETRY);
        Retry {
            failures,
            at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
        }
    }
}

/// The lease name `ship serve` holds while it runs, so `ship rollout start --detach` can tell
/// whether a server will pick the rollout up.
pub const SERVER_LEASE: &str = "ship-serve";

/// Releases with work for a controller: a rollout not in a terminal phase, or one that reached
/// 100 % and still owes its post-deployment validation (validation.auto).
pub fn pending(ws: &Workspace) -> Result<Vec<String>> {
    let store = crate::open_store(ws)?;
    Ok(scan(&*store, ws, &mut HashSet::new(), |_| false, &mut || {})?.pending)
}

/// One look at the state database: the rollouts with work, and those whose stored state
/// cannot be read (they may be live at some weight: a person must look).
struct Scan {
    pending: Vec<String>,
    unreadable: Vec<(String, String)>,
}

/// `pending`, skipping the releases in `done` and adding those that can never need a
/// controller again — rolled back, failed, or completed with the release shipped or rolled
/// back (a completed rollout can still be aborted or fail its validation until then) — so a
/// server's scan does not re-read every contract of the workspace's history each poll.
/// Releases for which `skip` says yes (driven here already, waiting for a retry, another
/// replica's) are not read at all: with thousands of rollouts in flight, a poll reads their
/// ids only.
fn scan(
    store: &dyn StateStore,
    ws: &Workspace,
    done: &mut HashSet<String>,
    skip: impl Fn(&str) -> bool,
    alive: &mut dyn FnMut(),
) -> Result<Scan> {
    let mut out = Scan {
        pending: vec![],
        unreadable: vec![],
    };
    for release in store.releases().map_err(store_err)? {
        if done.contains(&release) || skip(&release) {
            continue;
        }
        // Reading ten thousand rollouts (a start, a takeover) is work, not a stall.
        alive();
        let row = match store.rollout(&release) {
            Ok(Some(row)) => row,
            Ok(None) => continue,
            Err(StoreError::Corrupt(e)) => {
                let why = format!("the stored rollout cannot be read: {e}");
                out.unreadable.push((release, why));
                continue;
            }
            Err(e) => return Err(store_err(e)),
        };
        let state = row.state;
        match state.phase {
            Phase::RolledBack { .. } | Phase::Failed { .. } => {
                done.insert(row.release);
            }
            // An unreadable contract is looked at again next time (it may be mended).
            Phase::Completed => {
                if let Ok(r) = ws.resolve(&row.release) {
                    match r.contract.meta.status {
                        Status::Shipped | Status::RolledBack => {
                            done.insert(row.release);
                        }
                        // Owed its validation — unless one already ended (on_failure = manual
                        // leaves it for a person) or validation is not the server's job.
                        Status::Validating
                            if ws.config.validation.auto
                                && r.contract
                                    .meta
                                    .validation
                                    .as_ref()
                                    .is_none_or(|v| v.result == "running") =>
                        {
                            out.pending.push(row.release)
                        }
                        _ => {}
                    }
                }
            }
            _ => out.pending.push(row.release),
        }
    }
    Ok(out)
}

/// Who holds the server lease now (a live `ship serve` replica), if anyone.
pub fn server_running(ws: &Workspace, now: DateTime<Utc>) -> Result<Option<String>> {
    let store = crate::open_store(ws)?;
    let replicas = store.leases(REPLICA_LEASE, now).map_err(store_err)?;
    if let Some((_, lease)) = replicas
        .into_iter()
        .find(|(_, l)| !crate::holder_is_dead(&l.holder))
    {
        return Ok(Some(lease.holder));
    }
    let holder = store.lease_holder(SERVER_LEASE, now).map_err(store_err)?;
    Ok(holder.filter(|h| !crate::holder_is_dead(h)))
}

/// A rollout task of this replica, with its own stop: set when the server stops, or when the
/// rollout is handed over to the replica that should drive it.
struct Task {
    handle: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

/// Builds a rollout's providers in place of those ship.toml configures (embedders, and the
/// controller benchmark's in-memory router and scripted metrics).
pub type ProvidersFactory = Rc<dyn Fn(&str) -> crate::Providers>;

/// Scans for work every `poll` until `stop`, then waits for every task to finish its tick.
/// Every task reads the time of day from its own copy of `clock`.
///
/// Its heartbeat thread (`drive::heartbeat`) renews this replica's heartbeat each poll and,
/// every third of the lease TTL in one write, the leases of every rollout it drives (so a long
/// router call or a busy controller thread never lets a lease lapse, and the cost does not
/// grow with the number of rollouts), and reads which replicas are live. Each poll this loop
/// hands over the rollouts another settled replica should drive, and starts a task for each
/// rollout with work that it should drive and nobody live holds.
pub async fn supervise<C: Clock + Clone + 'static>(
    ws: &'static Workspace,
    poll: Duration,
    stop: watch::Receiver<bool>,
    observer: Rc<dyn Observer>,
    telemetry: Option<TelemetryHook>,
    clock: C,
) -> Result<()> {
    supervise_with(ws, poll, stop, observer, telemetry, clock, None).await
}

/// `supervise`, with every rollout's providers from `providers` when given.
pub async fn supervise_with<C: Clock + Clone + 'static>(
    ws: &'static Workspace,
    poll: Duration,
    stop: watch::Receiver<bool>,
    observer: Rc<dyn Observer>,
    telemetry: Option<TelemetryHook>,
    clock: C,
    providers: Option<ProvidersFactory>,
) -> Result<()> {
    let mut tasks_clock = clock.clone();
    let mut tasks: HashMap<String, Task> = HashMap::new();
    let retries: Rc<RefCell<HashMap<String, Retry>>> = Rc::default();
    let mut done = HashSet::new();
    let mut reported = HashSet::new();
    let holder = format!("{}:{}", crate::hostname(), std::process::id());
    let ttl = ws.config.state.lease_ttl.0;
    let mut replicas = Replicas::new(&holder, (poll * 3).max(Duration::from_secs(3)));
    let mut store = crate::open_store(ws)?;
    let mut pruned: Option<DateTime<Utc>> = None;
    // The heartbeat and the leases' renewal run on their own thread, for as long as this
    // thread shows signs of life: each poll here, and each rollout's decision.
    let beat = Heartbeat::start(ws, &mut *store, &holder, poll, ttl, clock.clone());
    let observer: Rc<dyn Observer> = Rc::new(Pulsing {
        inner: observer,
        pulse: beat.pulses(),
    });
    let mut stop_rx = stop.clone();
    loop {
        let now = tasks_clock.now();
        beat.pulse(now);
        for e in beat.errors() {
            observer.error("", &e, poll);
        }
        if let Some(live) = beat.live() {
            replicas.update(live, now);
        }
        if pruned.is_none_or(|at| now - at > chrono::Duration::hours(1)) {
            pruned = Some(now);
            let retention = chrono::Duration::from_std(ws.config.state.sample_retention.0);
            if let Err(e) = store.prune_samples(now - retention.unwrap_or_default()) {
                observer.error("", &format!("pruning old metric samples: {e}"), poll);
            }
        }
        if let Err(e) = ws.flush_status() {
            observer.error("", &format!("updating STATUS.md: {e}"), poll);
        }
        tasks.retain(|_, t| !t.handle.is_finished());
        // Handed over at the task's next wait: it records nothing more, gives its lease up,
        // and the preferred replica takes the rollout on at its next poll.
        for (id, t) in &tasks {
            if !replicas.mine(id, now) {
                let _ = t.stop.send(true);
            }
        }
        let skip = |id: &str| {
            tasks.contains_key(id)
                || retries.borrow().get(id).is_some_and(|r| r.at > now)
                || !replicas.mine(id, now)
        };
        let mut scan_clock = clock.clone();
        let mut alive = || beat.pulse(scan_clock.now());
        match scan(&*store, ws, &mut done, skip, &mut alive) {
            Ok(found) => {
                // Said once per server (an error each poll would only repeat it).
                for (id, why) in found.unreadable {
                    if reported.insert(id.clone()) {
                        observer.error(&id, &why, poll);
                    }
                }
                for id in found.pending {
                    alive();
                    // Held by a live process (another replica finishing its tick, a
                    // foreground `ship rollout start`): looked at again next poll.
                    match store.lease(&id, now) {
                        Ok(Some(l)) if l.holder != holder && !crate::holder_is_dead(&l.holder) => {
                            continue
                        }
                        Err(e) => {
                            observer.error(&id, &format!("reading its lease: {e}"), poll);
                            continue;
                        }
                        _ => {}
                    }
                    let (task_stop, task_rx) = watch::channel(false);
                    let shared = Shared {
                        ws,
                        observer: observer.clone(),
                        telemetry: telemetry.clone(),
                        retries: retries.clone(),
                        providers: providers.clone(),
                        renewals: beat.renewals(),
                    };
                    let task = drive_one(shared, id.clone(), task_rx, clock.clone());
                    let handle = tokio::task::spawn_local(task);
                    tasks.insert(
                        id,
                        Task {
                            handle,
                            stop: task_stop,
                        },
                    );
                }
            }
            Err(e) => observer.error("", &format!("scanning the state database: {e}"), poll),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop_rx.changed() => {}
        }
        if *stop_rx.borrow() {
            break;
        }
    }
    for t in tasks.values() {
        let _ = t.stop.send(true);
    }
    for (_, t) in tasks {
        let _ = t.handle.await;
    }
    if let Err(e) = ws.flush_status() {
        observer.error("", &format!("updating STATUS.md: {e}"), poll);
    }
    beat.stop();
    let _ = store.release_lease(&replica_lease(&holder), &holder);
    let _ = store.release_lease(SERVER_LEASE, &holder);
    Ok(())
}

/// The supervisor's observer, which also takes each rollout's decision as a sign that the
/// controller thread is alive (see [`Heartbeat`]).
struct Pulsing {
    inner: Rc<dyn Observer>,
    pulse: Pulse,
}

impl Observer for Pulsing {
    fn decision(&self, release: &str, d: &Decision) {
        self.pulse.at(d.at);
        self.inner.decision(release, d);
    }
    fn finished(&self, release: &str, outcome: &str) {
        self.inner.finished(release, outcome);
    }
    fn error(&self, release: &str, message: &str, retry_in: Duration) {
        self.inner.error(release, message, retry_in);
    }
}

/// What every rollout task of one supervisor shares.
struct Shared {
    ws: &'static Workspace,
    observer: Rc<dyn Observer>,
    telemetry: Option<TelemetryHook>,
    retries: Rc<RefCell<HashMap<String, Retry>>>,
    providers: Option<ProvidersFactory>,
    renewals: Renewals,
}

/// Drives one rollout to its end (and its validation), or until `stop`. Errors, and panics,
/// end the task; the supervisor tries again after a growing pause ([`Retry`]).
async fn drive_one<C: Clock + Clone>(
    shared: Shared,
    id: String,
    stop: watch::Receiver<bool>,
    mut clock: C,
) {
    let Shared {
        ws,
        observer,
        telemetry,
        retries,
        providers,
        renewals,
    } = shared;
    let started = clock.now();
    // Boxed: the future goes down through attempt, guarded and catch_unwind by value, and each
    // layer would hold a copy of it inline for the rollout's whole life (×10,000 rollouts).
    let hooks = Hooks {
        telemetry,
        providers,
        renewals,
    };
    let task = Box::pin(drive(
        ws,
        &id,
        &stop,
        observer.as_ref(),
        hooks,
        clock.clone(),
    ));
    match attempt(task).await {
        Ended::Done => {
            retries.borrow_mut().remove(&id);
        }
        // Someone else driving it is not an error of ours: look again later.
        Ended::HeldElsewhere => {
            let at = clock.now() + chrono::Duration::from_std(HELD_RETRY).unwrap_or_default();
            retries.borrow_mut().insert(id, Retry { failures: 0, at });
        }
        Ended::Failed(message) => {
            let previous = retries.borrow().get(&id).copied();
            let now = clock.now();
            let retry = Retry::after(previous, started, now);
            let wait = (retry.at - now).to_std().unwrap_or_default();
            observer.error(&id, &message, wait);
            retries.borrow_mut().insert(id, retry);
        }
    }
}

/// How a rollout task ended.
#[derive(Debug, PartialEq)]
enum Ended {
    Done,
    /// Another controller holds its lease (by the error's type, never its text: a provider's
    /// message may quote anything).
    HeldElsewhere,
    /// An error or a panic: retried after a pause.
    Failed(String),
}

async fn attempt<F>(task: F) -> Ended
where
    F: std::future::Future<Output = Result<()>>,
{
    let held = async {
        match task.await {
            Err(shiploop_workspace::Error::Held { .. })
            | Err(shiploop_workspace::Error::Store(StoreError::LeaseLost(_))) => Ok(true),
            other => other.map(|()| false),
        }
    };
    match guarded(held).await {
        Ok(false) => Ended::Done,
        Ok(true) => Ended::HeldElsewhere,
        Err(e) => Ended::Failed(e.to_string()),
    }
}

/// How a rollout task guarded by [`guarded`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The task returned an error.
    #[error(transparent)]
    Failed(#[from] shiploop_workspace::Error),
    /// The task panicked; what the panic said.
    #[error("the rollout task panicked: {0}")]
    Panicked(String),
}

/// Runs a rollout task, turning a panic into an error: a bug hit by one rollout must not take
/// the server, or the other rollouts, down with it.
pub async fn guarded<F, T>(task: F) -> std::result::Result<T, TaskError>
where
    F: std::future::Future<Output = Result<T>>,
{
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(task).catch_unwind().await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(TaskError::Failed(e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(TaskError::Panicked(what))
        }
    }
}

/// What a rollout task's controller is given by its supervisor.
struct Hooks {
    telemetry: Option<TelemetryHook>,
    providers: Option<ProvidersFactory>,
    renewals: Renewals,
}

async fn drive<C: Clock + Clone>(
    ws: &'static Workspace,
    id: &str,
    stop: &watch::Receiver<bool>,
    observer: &dyn Observer,
    hooks: Hooks,
    mut clock: C,
) -> Result<()> {
    let Hooks {
        telemetry,
        providers,
        renewals,
    } = hooks;
    let mut c = match providers {
        Some(make) => Controller::open_with(ws, id, clock.now(), make(id))?,
        None => Controller::open(ws, id, clock.now())?,
    };
    c.telemetry = telemetry;
    c.renewed_elsewhere = true;
    c.renewals = Some(renewals);
    if let Some(holder) = c.driven_elsewhere(clock.now())? {
        return Err(shiploop_workspace::Error::Held {
            release: id.to_string(),
            holder,
        });
    }
    // Whatever happens, the webhook deliveries of this attempt end with it (a retry starts
    // its own); a failing receiver is in the event log, never the server's concern.
    let notifier = c.notifier(clock.now())?;
    let work = drive_held(ws, id, stop, observer, &mut c, &mut clock);
    if let Some(ended) = with_webhooks(notifier.as_ref(), &|_| {}, work).await? {
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
    clock: &mut dyn Clock,
) -> Result<Option<&'static str>> {
    let mut log = |d: &Decision| observer.decision(id, d);
    let mut ended = if c.outcome().is_none() {
        match c.run(clock, stop, &mut log).await? {
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
        let report = c.validate(clock, stop, &mut vlog).await?;
        ended = match report.result.as_str() {
            "passed" => Some("validation-passed"),
            "failed" => Some("validation-failed"),
            _ => None,
        };
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(secs)
    }

    #[test]
    fn retries_back_off_and_reset_after_a_healthy_run() {
        let waits: Vec<i64> = (0..8)
            .scan(None, |prev, i| {
                let now = at(1000 * i);
                let r = Retry::after(*prev, now, now + chrono::Duration::seconds(1));
                *prev = Some(r);
                Some((r.at - now).num_seconds() - 1)
            })
            .collect();
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300, 300]);
        let tired = Retry {
            failures: 6,
            at: at(0),
        };
        // Ran ten minutes before failing: the first retry again.
        let r = Retry::after(Some(tired), at(0), at(600));
        assert_eq!((r.failures, (r.at - at(600)).num_seconds()), (1, 10));
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_error_not_a_crash() {
        let e = guarded::<_, ()>(async { panic!("provider bug") })
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("panicked: provider bug"), "{e}");
        let e = guarded::<_, ()>(async {
            Err(shiploop_workspace::Error::Usage(
                "metrics server down".into(),
            ))
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("metrics server down"), "{e}");
        assert!(matches!(guarded(async { Ok(()) }).await, Ok(())));
    }

    #[tokio::test]
    async fn a_lease_held_elsewhere_is_told_by_type_not_by_text() {
        use shiploop_workspace::Error;
        let held = attempt(async {
            Err(Error::Held {
                release: "a".into(),
                holder: "ship-serve@other".into(),
            })
        })
        .await;
        assert_eq!(held, Ended::HeldElsewhere);
        // A provider's output quoting the words is a failure to report and retry, not a lease.
        let quoted = "router: `set-weight.sh` failed (exit status 1): web is being driven by another controller (deploy-bot)";
        let failed = attempt(async { Err(Error::Usage(quoted.into())) }).await;
        assert_eq!(failed, Ended::Failed(quoted.into()));
        assert_eq!(attempt(async { Ok(()) }).await, Ended::Done);
    }
}
