//! This replica's heartbeat and the renewal of its rollouts' leases, on a thread of its own.
//!
//! They used to run in the supervisor's loop, on the thread that also drives every rollout.
//! With ten thousand rollouts starting at once, that loop waited behind every task's first
//! tick (a current-thread runtime runs its ready tasks in order) for longer than the lease
//! TTL: every lease lapsed, every task found its lease lost and started again — and the
//! restarts kept the thread just as busy. A renewal must not wait for the work it protects.
//!
//! It must not outlive that work either: a lease says "this replica is driving the rollout".
//! So the thread renews only while the controller thread shows signs of life — a decision
//! or a supervisor poll within the TTL ([`Heartbeat::pulse`]); a controller thread stuck for
//! longer lets its leases lapse, and another replica takes its rollouts over (its fenced
//! writes fail if it wakes up).

use super::replicas::REPLICA_LEASE;
use super::serve::SERVER_LEASE;
use crate::Clock;
use chrono::{DateTime, Utc};
use shiploop_store::{StateStore, StoreError};
use shiploop_workspace::Workspace;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The heartbeat thread, and what it shares with the supervisor.
pub(crate) struct Heartbeat {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    /// The controller thread's last sign of life, in milliseconds since the epoch.
    pulse_ms: AtomicI64,
    /// The live replicas, as last read.
    live: Mutex<Option<Vec<String>>>,
    /// What went wrong since the supervisor last asked.
    errors: Mutex<Vec<String>>,
    /// The last renewal of this replica's leases: what it extended, and until when.
    renewed: Mutex<Option<Arc<Renewed>>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Heartbeat {
    /// Beats once now (so the first scan knows the live replicas), then every `poll` on a
    /// thread of its own, renewing every lease `me` holds every third of `ttl`.
    pub(crate) fn start<C: Clock + Clone + 'static>(
        ws: &'static Workspace,
        store: &mut dyn StateStore,
        me: &str,
        poll: Duration,
        ttl: Duration,
        mut clock: C,
    ) -> Heartbeat {
        let shared = Arc::new(Shared::default());
        let now = clock.now();
        shared.pulse(now);
        let mut beat = Beat::new(me, ttl, liveness(poll, ttl));
        shared.beat(&mut beat, store, now);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("ship-heartbeat".into())
                .spawn(move || shared.run(ws, beat, poll, clock))
        };
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without the thread the leases lapse and other replicas (or this one, at its
                // next start) take the rollouts over: said, not hidden.
                shared.error(format!("starting the heartbeat thread: {e}"));
                None
            }
        };
        Heartbeat { shared, thread }
    }

    /// The controller thread is alive at `now`.
    pub(crate) fn pulse(&self, now: DateTime<Utc>) {
        self.shared.pulse(now);
    }

    /// A handle on what the renewals said, for the rollouts' lease checks.
    pub(crate) fn renewals(&self) -> Renewals {
        Renewals(self.shared.clone())
    }

    /// A handle that only records pulses, for the rollouts' decisions.
    pub(crate) fn pulses(&self) -> Pulse {
        Pulse(self.shared.clone())
    }

    /// The live replicas, when read since the last call.
    pub(crate) fn live(&self) -> Option<Vec<String>> {
        lock(&self.shared.live).take()
    }

    /// What went wrong since the last call.
    pub(crate) fn errors(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.shared.errors))
    }

    /// Stops the thread and waits for it: no renewal happens after this returns.
    pub(crate) fn stop(mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Records the controller thread's signs of life.
#[derive(Clone)]
pub(crate) struct Pulse(Arc<Shared>);

impl Pulse {
    pub(crate) fn at(&self, now: DateTime<Utc>) {
        self.0.pulse(now);
    }
}

/// The leases one renewal extended, by name with their tokens, and the expiry it gave them.
struct Renewed {
    until: DateTime<Utc>,
    tokens: std::collections::HashMap<String, i64>,
}

/// Reads what the last renewal of this replica's leases said.
#[derive(Clone)]
pub(crate) struct Renewals(Arc<Shared>);

impl Renewals {
    /// Until when the last renewal extended `release`'s lease, if it did so with `token`.
    /// (Only the holder gives a lease up early, and only after expiry can another take it:
    /// so the lease is this replica's, with that token, until then.)
    pub(crate) fn until(&self, release: &str, token: i64) -> Option<DateTime<Utc>> {
        let last = lock(&self.0.renewed).clone()?;
        (last.tokens.get(release) == Some(&token)).then_some(last.until)
    }
}

/// How long a replica's heartbeat lease lasts without a beat (one beat a poll): a third of
/// the rollouts' lease TTL, and at least three polls.
///
/// Shorter than the rollouts' leases on purpose. Who *tries* to take a rollout on follows from
/// the live replicas; with the heartbeat as long as the rollout leases, a dead replica counted
/// as live for a whole TTL after it died, so its rollouts were taken over only a poll after
/// that (15.6 s after a kill, at the default 15 s). Counted dead sooner, the others are ready
/// the moment each rollout lease runs out. A replica wrongly counted dead (its beats delayed)
/// costs nothing: the rollout leases it still renews keep the others from taking anything.
fn liveness(poll: Duration, ttl: Duration) -> Duration {
    (ttl / 3).max(poll * 3).min(ttl)
}

/// The heartbeat's own state: who beats, and when it last renewed every lease.
struct Beat {
    me: String,
    ttl: Duration,
    /// The heartbeat lease's own TTL ([`liveness`]).
    live_ttl: Duration,
    renewed: Option<DateTime<Utc>>,
    /// Said once per stall, not every poll.
    stalled: bool,
}

impl Beat {
    fn new(me: &str, ttl: Duration, live_ttl: Duration) -> Beat {
        Beat {
            me: me.to_string(),
            ttl,
            live_ttl,
            renewed: None,
            stalled: false,
        }
    }
}

impl Shared {
    fn pulse(&self, now: DateTime<Utc>) {
        self.pulse_ms
            .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
    }

    fn error(&self, message: String) {
        lock(&self.errors).push(message);
    }

    fn run<C: Clock>(&self, ws: &Workspace, mut beat: Beat, poll: Duration, mut clock: C) {
        let mut store = None;
        loop {
            {
                let stop = lock(&self.stop);
                let (stop, _) = self
                    .wake
                    .wait_timeout_while(stop, poll, |stop| !*stop)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stop {
                    return;
                }
            }
            if store.is_none() {
                match crate::open_store(ws) {
                    Ok(s) => store = Some(s),
                    Err(e) => {
                        self.error(format!("opening the state database for the heartbeat: {e}"));
                        continue;
                    }
                }
            }
            if let Some(s) = store.as_mut() {
                self.beat(&mut beat, &mut **s, clock.now());
            }
        }
    }

    /// One beat at `now`, unless the controller thread has shown no sign of life for a TTL.
    fn beat(&self, beat: &mut Beat, store: &mut dyn StateStore, now: DateTime<Utc>) {
        let ttl = chrono::Duration::from_std(beat.ttl).unwrap_or_default();
        let last = self.pulse_ms.load(Ordering::Relaxed);
        let quiet = now.timestamp_millis().saturating_sub(last);
        if quiet > ttl.num_milliseconds() {
            if !beat.stalled {
                beat.stalled = true;
                self.error(format!(
                    "the controller thread has shown no sign of life for {:.1} s: this replica's leases are left to lapse",
                    quiet as f64 / 1000.0
                ));
            }
            return;
        }
        beat.stalled = false;
        let renew_every = ttl / 3;
        let renew_all = beat.renewed.is_none_or(|at| now - at >= renew_every);
        match heartbeat(store, beat, now, renew_all) {
            Ok((live, renewed)) => {
                if let Some(tokens) = renewed {
                    beat.renewed = Some(now);
                    let until = shiploop_store::lease_end(now, beat.ttl);
                    let tokens = tokens.into_iter().collect();
                    *lock(&self.renewed) = Some(Arc::new(Renewed { until, tokens }));
                }
                *lock(&self.live) = Some(live);
            }
            Err(e) => self.error(format!("renewing this replica's leases: {e}")),
        }
    }
}

/// The lease that says a replica is alive.
pub(crate) fn replica_lease(holder: &str) -> String {
    format!("{REPLICA_LEASE}{holder}")
}

/// The live replicas, and the leases renewed with their tokens (when they were).
type Beaten = (Vec<String>, Option<Vec<(String, i64)>>);

/// This replica's heartbeat (one row) and, when `renew_all`, every lease it holds — its
/// rollouts', in one write whatever their number; then the live replicas, read back, and
/// the leases renewed (when they were).
fn heartbeat(
    store: &mut dyn StateStore,
    beat: &Beat,
    now: DateTime<Utc>,
    renew_all: bool,
) -> std::result::Result<Beaten, StoreError> {
    let (me, ttl) = (beat.me.as_str(), beat.ttl);
    let mut renewed = None;
    if renew_all {
        renewed = Some(store.renew_leases(me, ttl, now)?);
        // The server lease `ship rollout start --detach` looks for (older readers): one
        // replica holds it; a dead holder's is taken over.
        if store.lease_acquire(SERVER_LEASE, me, ttl, now)?.is_none() {
            if let Some(other) = store.lease_holder(SERVER_LEASE, now)? {
                if crate::holder_is_dead(&other) {
                    store.lease_take_over(SERVER_LEASE, &other, me, ttl, now)?;
                }
            }
        }
    }
    // After the renewal, which extended this lease too (it is one of this replica's): the
    // heartbeat lasts its own, shorter TTL.
    store.lease_acquire(&replica_lease(me), me, beat.live_ttl, now)?;
    let live = store.leases(REPLICA_LEASE, now)?;
    let live = live
        .into_iter()
        .map(|(_, l)| l.holder)
        .filter(|h| !crate::holder_is_dead(h))
        .collect();
    Ok((live, renewed))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + secs)
    }

    fn store(dir: &tempfile::TempDir) -> Box<dyn StateStore + Send> {
        let file = dir.path().join("state.db");
        shiploop_store::open(&shiploop_store::Location::Sqlite(file)).expect("store")
    }

    #[test]
    fn a_live_controller_thread_keeps_its_leases_a_stuck_one_lets_them_lapse() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = store(&dir);
        let ttl = Duration::from_secs(15);
        let token = s
            .lease_acquire("r1", "me:1", ttl, at(0))
            .expect("acquire")
            .expect("free");
        let shared = Arc::new(Shared::default());
        let renewals = Renewals(shared.clone());
        let mut beat = Beat::new("me:1", ttl, liveness(Duration::from_secs(1), ttl));
        // Alive: every beat within the TTL of a pulse renews.
        for t in [0, 5, 10, 15, 20] {
            shared.pulse(at(t));
            shared.beat(&mut beat, &mut *s, at(t));
        }
        assert!(s.lease("r1", at(34)).expect("read").is_some());
        assert!(lock(&shared.live).take().is_some_and(|l| l == ["me:1"]));
        // The heartbeat itself lasts a third of the TTL (5 s) from the last beat, at 20 s: a
        // dead replica is counted dead before its rollouts' leases run out.
        assert!(s.lease("replica:me:1", at(24)).expect("read").is_some());
        assert!(s.lease("replica:me:1", at(25)).expect("read").is_none());
        assert!(s.lease("r1", at(25)).expect("read").is_some());
        // What the last renewal (at 20 s) said, for this token only.
        assert_eq!(renewals.until("r1", token), Some(at(35)));
        assert_eq!(renewals.until("r1", token + 1), None);
        assert_eq!(renewals.until("r2", token), None);
        // No sign of life after 20 s: renewed while that is within the TTL (the last at 30 s),
        // then no more — the lease lapses 15 s after that last renewal.
        for t in [25, 30, 36, 40, 44] {
            shared.beat(&mut beat, &mut *s, at(t));
        }
        assert!(s.lease("r1", at(44)).expect("read").is_some());
        assert!(s.lease("r1", at(46)).expect("read").is_none());
        assert_eq!(shared.errors.lock().expect("errors").len(), 1, "said once");
    }
}
