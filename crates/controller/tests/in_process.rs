//! The controller loop in process, with the in-memory router and a scripted metric source, and
//! time passed in: router failures, retries and re-assertion without sleeping.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration as CDuration, Utc};
use common::{healthy, t, workspace};
use shiploop_controller::{Controller, Providers};
use shiploop_providers::memory::{MemoryRouter, ScriptedSource};
use shiploop_providers::{ProviderError, RouteContext, RouterOutput, TrafficRouter};
use shiploop_rollout::Phase;
use shiploop_store::event::{Event, RouterAction, RouterCall, RouterPhase};
use shiploop_workspace::Workspace;
use std::sync::Arc;

/// A controller of `web` with `router` and healthy scripted metrics, holding the lease.
fn controller<'a>(
    ws: &'a Workspace,
    router: &Arc<MemoryRouter>,
    at: DateTime<Utc>,
) -> Controller<'a> {
    let providers = Providers::new(
        Box::new(router.clone()),
        Box::new(ScriptedSource::new(vec![healthy()])),
    );
    let mut c = Controller::open_with(ws, "web", at, providers).unwrap();
    c.acquire(at).unwrap();
    c
}

#[tokio::test]
async fn a_failed_router_call_is_retried_and_the_rollout_completes() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    router.fail_next(1);
    let mut c = controller(&ws, &router, t(0));
    let mut log = |_: &shiploop_rollout::Decision| {};
    c.begin(t(0), &mut log).await.unwrap();
    // The first set_weight(5) failed: the router has nothing yet.
    assert!(router.state().history.is_empty());
    let mut s = 0;
    while c.outcome().is_none() && s < 200 {
        s += 1;
        c.tick(t(s), &mut log).await.unwrap();
    }
    assert_eq!(c.state.phase, Phase::Completed);
    assert_eq!(router.state().history, vec![5, 25, 50, 100]);
    assert!(router.state().promoted);
    let events = router_events(&c);
    assert!(
        events.iter().any(|e| e.ok == Some(false)),
        "the failure is recorded"
    );
    assert!(events
        .iter()
        .any(|e| e.action == RouterAction::ReassertWeight && e.ok == Some(true)));
}

#[tokio::test]
async fn a_router_that_keeps_failing_ends_the_rollout() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &router, t(0));
    let mut decisions = vec![];
    let mut log = |d: &shiploop_rollout::Decision| decisions.push(d.clone());
    c.begin(t(0), &mut log).await.unwrap();
    router.fail_next(1000);
    let mut s = 0;
    while c.outcome().is_none() && s < 200 {
        s += 1;
        c.tick(t(s), &mut log).await.unwrap();
    }
    // Weights could not be set, then rolling back could not be done either: a person must act.
    assert!(
        matches!(&c.state.phase, Phase::Failed { reason } if reason.contains("rolling back failed")),
        "{:?}",
        c.state.phase
    ); // The rollback was the router's doing, not a person's: said so, and counted as such.
    let started: Vec<_> = decisions
        .iter()
        .filter(|d| d.rollback_cause.is_some())
        .collect();
    assert_eq!(started.len(), 1, "{decisions:?}");
    assert_eq!(
        started[0].rollback_cause,
        Some(shiploop_rollout::RollbackCause::Router)
    );
    assert!(
        started[0]
            .reason
            .starts_with("automatic rollback (router): the router failed"),
        "{}",
        started[0].reason
    );
}

#[tokio::test]
async fn a_new_controller_reasserts_the_recorded_weight() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    {
        let mut c = controller(&ws, &router, t(0));
        let mut log = |_: &shiploop_rollout::Decision| {};
        c.begin(t(0), &mut log).await.unwrap();
        for s in 1..=12 {
            c.tick(t(s), &mut log).await.unwrap();
        }
        assert_eq!(c.state.weight, 25);
        c.release_lease();
    }
    // The router lost its state (restarted at 0 %); the next controller puts 25 % back.
    let fresh = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &fresh, t(13));
    c.begin(t(13), &mut |_| {}).await.unwrap();
    assert_eq!(fresh.state().weight, 25);
    assert_eq!(c.state.stage, 1, "no stage repeated or skipped");
}

/// A router in front of the in-memory one that takes `delay` for every call that moves
/// traffic, and never answers once it has set the weight `hang_after` — the process "dies"
/// there, after the traffic moved and before ship heard back.
struct Slow {
    inner: Arc<MemoryRouter>,
    delay: std::time::Duration,
    hang_after: Option<u8>,
}

#[async_trait::async_trait]
impl TrafficRouter for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        tokio::time::sleep(self.delay).await;
        let out = self.inner.set_weight(ctx, weight).await;
        if self.hang_after == Some(weight) {
            std::future::pending::<()>().await;
        }
        out
    }
    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        self.inner.effective_weight(ctx).await
    }
    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        tokio::time::sleep(self.delay).await;
        self.inner.promote(ctx).await
    }
    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        tokio::time::sleep(self.delay).await;
        self.inner.roll_back(ctx).await
    }
}

fn slow_controller<'a>(ws: &'a Workspace, router: Slow, at: DateTime<Utc>) -> Controller<'a> {
    let providers = Providers::new(
        Box::new(router),
        Box::new(ScriptedSource::new(vec![healthy()])),
    );
    let mut c = Controller::open_with(ws, "web", at, providers).unwrap();
    c.acquire(at).unwrap();
    c
}

fn router_events(c: &Controller<'_>) -> Vec<RouterCall> {
    c.store()
        .events(Some(c.id()))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Router(call) => Some(call),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_crash_after_the_router_moved_traffic_still_leaves_the_change_in_the_log() {
    let (_dir, ws) = workspace();
    let memory = Arc::new(MemoryRouter::new());
    let slow = |hang_after| Slow {
        inner: memory.clone(),
        delay: std::time::Duration::ZERO,
        hang_after,
    };
    let mut s = 0;
    {
        let mut c = slow_controller(&ws, slow(Some(25)), t(0));
        c.begin(t(0), &mut |_| {}).await.unwrap();
        // Ticks until the promotion to 25 %, whose router call never returns: the process is
        // gone (the future dropped) between the router moving traffic and ship recording it.
        loop {
            s += 1;
            assert!(s < 30, "no promotion to 25 %");
            let mut log = |_: &shiploop_rollout::Decision| {};
            let tick = c.tick(t(s), &mut log);
            if tokio::time::timeout(std::time::Duration::from_millis(300), tick)
                .await
                .is_err()
            {
                break;
            }
        }
    }
    assert_eq!(memory.state().weight, 25, "the router moved the traffic");
    let mut c = slow_controller(&ws, slow(None), t(s + 5));
    c.begin(t(s + 5), &mut |_| {}).await.unwrap();
    let events = router_events(&c);
    let intent = events
        .iter()
        .position(|e| e.phase == Some(RouterPhase::Intent) && e.weight == Some(25))
        .unwrap_or_else(|| panic!("the intent to set 25 % is recorded: {events:?}"));
    let found = events
        .iter()
        .position(|e| e.phase == Some(RouterPhase::Found))
        .unwrap_or_else(|| panic!("what the router was found doing is recorded: {events:?}"));
    assert!(intent < found);
    assert_eq!(events[found].weight, Some(25), "{events:?}");
    assert_eq!(c.weight_history(), vec![5, 25], "{events:?}");
    assert_eq!(memory.state().history, vec![5, 25], "nothing set twice");
}

#[tokio::test]
async fn a_resumed_stage_does_not_count_the_time_nobody_watched() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let recorded = {
        let mut c = controller(&ws, &router, t(0));
        c.begin(t(0), &mut |_| {}).await.unwrap();
        for s in 1..=3 {
            c.tick(t(s), &mut |_| {}).await.unwrap();
        }
        assert_eq!(c.state.stage_elapsed_ms, 3000);
        stored(&c).stage_elapsed_ms
    };
    // Dead from 3 s to 8 s: the next controller resumes from what was recorded (holds that
    // changed nothing were not), and its first tick starts a new interval.
    let mut c = controller(&ws, &router, t(8));
    c.begin(t(8), &mut |_| {}).await.unwrap();
    c.tick(t(9), &mut |_| {}).await.unwrap();
    assert_eq!(
        c.state.stage_elapsed_ms, recorded,
        "the dead time is not watched time"
    );
    c.tick(t(10), &mut |_| {}).await.unwrap();
    assert_eq!(c.state.stage_elapsed_ms, recorded + 1000);
}

fn stored(c: &Controller<'_>) -> shiploop_rollout::Rollout {
    c.store().rollout(c.id()).unwrap().unwrap().state
}

#[tokio::test]
async fn holds_that_change_nothing_are_recorded_only_as_periodic_evidence() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &router, t(0));
    c.begin(t(0), &mut |_| {}).await.unwrap();
    let decisions = |c: &Controller<'_>| c.store().decisions(c.id()).unwrap().len();
    let started = decisions(&c);
    let mut shown = 0;
    // A 10 s canary ticked every second, evidence every 60 s (the default): every hold is
    // decided and shown, none recorded but the first; the promotion is recorded at once.
    for s in 1..=9 {
        c.tick(t(s), &mut |_| shown += 1).await.unwrap();
    }
    assert_eq!(shown, 9);
    assert_eq!(
        decisions(&c),
        started + 1,
        "only the first hold is recorded"
    );
    assert_eq!(stored(&c).stage, 0);
    c.tick(t(10), &mut |_| {}).await.unwrap();
    c.tick(t(11), &mut |_| {}).await.unwrap();
    assert_eq!(
        stored(&c).stage,
        1,
        "the promotion is recorded when it happens"
    );
    assert_eq!(stored(&c).weight, c.state.weight);
}

// On the paused clock: the router's delay is exactly what passes, however loaded the machine.
#[tokio::test(start_paused = true)]
async fn events_carry_the_time_they_happened_and_a_rollback_its_duration() {
    let (_dir, ws) = workspace();
    let delay = std::time::Duration::from_millis(250);
    let router = Slow {
        inner: Arc::new(MemoryRouter::new()),
        delay,
        hang_after: None,
    };
    let mut c = slow_controller(&ws, router, t(0));
    c.begin(t(0), &mut |_| {}).await.unwrap();
    let abort = shiploop_rollout::Input::Abort {
        reason: "checkout broken".into(),
    };
    let mut decisions = vec![];
    c.apply(abort, t(1), None, &mut |d| decisions.push(d.clone()))
        .await
        .unwrap();
    assert!(matches!(c.state.phase, Phase::RolledBack { .. }));
    let delay = CDuration::from_std(delay).unwrap();
    assert_eq!(
        decisions[0].at,
        t(1),
        "the rollback is decided at the caller's time"
    );
    assert!(
        decisions[1].at >= t(1) + delay,
        "rolled back once the router answered: {}",
        decisions[1].at
    );
    let events = c.store().events(Some(c.id())).unwrap();
    let at = |phase: RouterPhase| {
        events
            .iter()
            .find(|e| {
                matches!(&e.event, Event::Router(r)
                    if r.action == RouterAction::RollBack && r.phase == Some(phase))
            })
            .map(|e| e.at)
            .unwrap_or_else(|| panic!("no roll-back {phase:?} event"))
    };
    let (intent, done) = (at(RouterPhase::Intent), at(RouterPhase::Done));
    assert!(intent < t(1) + delay, "{intent}");
    assert!(done - intent >= delay, "{intent} → {done}");
}

#[tokio::test]
async fn a_controller_that_lost_its_lease_neither_records_nor_moves_traffic() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut a = controller(&ws, &router, t(0));
    a.begin(t(0), &mut |_| {}).await.unwrap();
    a.tick(t(1), &mut |_| {}).await.unwrap();
    // `a` stalls (a pause, a partition) past the lease's 15 s; `b`, another process, takes
    // the rollout on with a newer fencing token and resumes it.
    let providers = Providers::new(
        Box::new(router.clone()),
        Box::new(ScriptedSource::new(vec![healthy()])),
    );
    let mut b = Controller::open_with(&ws, "web", t(20), providers)
        .unwrap()
        .with_holder("other-host:1");
    b.acquire(t(20)).unwrap();
    b.begin(t(20), &mut |_| {}).await.unwrap();
    let decisions = b.store().decisions(b.id()).unwrap().len();
    let events = b.store().last_seq(None).unwrap();
    let moves = router.state().history.clone();
    // `a` wakes up still believing it drives the rollout: its tick stops before measuring,
    // its records are refused, and it never calls the router.
    let e = a.tick(t(21), &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("lost the rollout's lease"), "{e}");
    a.state.weight = 50;
    let e = a
        .apply(
            shiploop_rollout::Input::Abort {
                reason: "stale".into(),
            },
            t(22),
            None,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lost the rollout's lease"), "{e}");
    assert_eq!(b.store().decisions(b.id()).unwrap().len(), decisions);
    assert_eq!(
        b.store().last_seq(None).unwrap(),
        events,
        "nothing appended"
    );
    assert_eq!(router.state().history, moves, "the router was not called");
    // The log says who took the rollout, with which token.
    let log = b.store().events(Some(b.id())).unwrap();
    let tokens: Vec<(String, i64)> = log
        .iter()
        .filter_map(|e| match &e.event {
            Event::LeaseAcquired(l) => Some((l.holder.clone(), l.token)),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[1].0, "other-host:1");
    assert!(tokens[1].1 > tokens[0].1, "{tokens:?}");
    // `b` goes on.
    b.tick(t(23), &mut |_| {}).await.unwrap();
}

/// The intent's write proves the lease only at the instant it commits. A process paused right
/// after it (SIGSTOP, a frozen VM) can wake after another replica took the rollout over and
/// set the router itself: it must not then make the call it had recorded. Staged with a
/// trigger in the state database, so that the lease passes to another holder in the very
/// transaction that records the intent to set 25 %.
#[tokio::test]
async fn a_controller_paused_between_its_intent_and_the_router_call_does_not_call() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut a = controller(&ws, &router, t(0));
    a.begin(t(0), &mut |_| {}).await.unwrap();
    let db = rusqlite::Connection::open(ws.state_db()).unwrap();
    db.execute_batch(
        "CREATE TRIGGER taken_after_intent AFTER INSERT ON events
         WHEN NEW.kind = 'router' AND NEW.data LIKE '%\"phase\":\"intent\"%'
              AND NEW.data LIKE '%\"weight\":25%'
         BEGIN
           UPDATE leases SET holder = 'other-host:1', token = token + 1,
                  expires_at = '2099-01-01T00:00:00.000Z'
           WHERE release = NEW.release;
         END;",
    )
    .unwrap();
    let mut s = 0;
    let e = loop {
        s += 1;
        assert!(s < 30, "no promotion to 25 %");
        if let Err(e) = a.tick(t(s), &mut |_| {}).await {
            break e;
        }
    };
    assert!(e.to_string().contains("lost the rollout's lease"), "{e}");
    let events = router_events(&a);
    assert!(
        events
            .iter()
            .any(|e| e.phase == Some(RouterPhase::Intent) && e.weight == Some(25)),
        "the intent was recorded: {events:?}"
    );
    assert_eq!(router.state().history, vec![5], "the router was not called");
}

/// A controller of `web` under `ship serve` (which renews its lease), started and ticked once;
/// then its lease is taken from under it at 2 s by another holder (in life only an expired
/// lease, or a dead holder's, is). The store of that other holder.
async fn serve_controller_whose_lease_is_taken<'a>(
    ws: &'a Workspace,
    router: &Arc<MemoryRouter>,
) -> (Controller<'a>, Box<dyn shiploop_store::StateStore + Send>) {
    let mut c = controller(ws, router, t(0));
    c.renewed_elsewhere = true;
    c.begin(t(0), &mut |_| {}).await.unwrap();
    c.tick(t(1), &mut |_| {}).await.unwrap();
    let mut other = shiploop_controller::open_store(ws).unwrap();
    let holder = other.lease_holder(c.id(), t(2)).unwrap().unwrap();
    let ttl = ws.config.state.lease_ttl.0;
    other
        .lease_take_over(c.id(), &holder, "other-host:1", ttl, t(2))
        .unwrap()
        .expect("taken over");
    (c, other)
}

/// Under `ship serve` a tick checks its lease against what it knows (its taking, the
/// replica's last renewal) and reads the database only when that runs out: the fence, not the
/// check, is what keeps a controller that lost its lease from recording or acting.
#[tokio::test]
async fn under_serve_the_lease_is_read_only_when_what_is_known_runs_out_and_the_fence_holds() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let (mut a, mut other) = serve_controller_whose_lease_is_taken(&ws, &router).await;
    // An operator's command queued, which the next tick would record.
    let pause = shiploop_rollout::Input::Pause {
        reason: "look".into(),
    };
    other.push_command(a.id(), &pause, "op", t(2)).unwrap();
    let events = other.last_seq(None).unwrap();
    let moves = router.state().history.clone();
    // At 5 s the lease is known held until 15 s: no read, but the command's record is
    // refused by the fence, and the router is not called.
    let e = a.tick(t(5), &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("lost the rollout's lease"), "{e}");
    assert_eq!(other.last_seq(None).unwrap(), events, "nothing appended");
    assert_eq!(router.state().history, moves, "the router was not called");
    // Within a fifth of the TTL of what it knows, it reads, and stops before measuring.
    let (_dir2, ws2) = workspace();
    let (mut b, _other) = serve_controller_whose_lease_is_taken(&ws2, &router).await;
    b.tick(t(3), &mut |_| {})
        .await
        .expect("not read: still known held, and a hold records nothing");
    let e = b.tick(t(13), &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("lost the rollout's lease"), "{e}");
}

#[tokio::test]
async fn the_controllers_own_trouble_never_counts_against_the_release() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    // Out of file descriptors for ten ticks in a row (error_limit is far fewer), then healthy.
    let exhausted: shiploop_rollout::Observation = healthy()
        .into_keys()
        .map(|k| {
            let e = shiploop_rollout::Measurement::local_error("Too many open files (os error 24)");
            (k, e)
        })
        .collect();
    let mut script = vec![];
    script.extend(std::iter::repeat_n(exhausted, 10));
    script.extend(std::iter::repeat_n(healthy(), 40));
    let providers = Providers::new(
        Box::new(router.clone()),
        Box::new(ScriptedSource::new(script)),
    );
    let mut c = Controller::open_with(&ws, "web", t(0), providers).unwrap();
    c.acquire(t(0)).unwrap();
    c.begin(t(0), &mut |_| {}).await.unwrap();
    let mut decided = 0;
    for s in 1..=10 {
        c.tick(t(s), &mut |_| decided += 1).await.unwrap();
    }
    assert_eq!(decided, 0, "no decision from the controller's own trouble");
    assert_eq!(c.state.consecutive_errors, 0);
    assert_eq!(c.state.phase, Phase::Progressing);
    // The ten seconds nobody could watch are not watched time.
    c.tick(t(11), &mut |_| {}).await.unwrap();
    c.tick(t(12), &mut |_| {}).await.unwrap();
    assert_eq!(c.state.stage_elapsed_ms, 1000);
    for s in 13..=60 {
        c.tick(t(s), &mut |_| {}).await.unwrap();
    }
    assert_eq!(c.state.phase, Phase::Completed, "{:?}", c.state.phase);
}
