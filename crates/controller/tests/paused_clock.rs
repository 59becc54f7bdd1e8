//! The controller's driving loop on tokio's paused clock: `Controller::run` sleeps its tick
//! interval between ticks and reads the time of day from a `TokioClock`, so tokio jumps over
//! every sleep and a rollout of several stages runs in milliseconds, the same way every time.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{counts, healthy, t, workspace};
use shiploop_controller::{Clock, Commanded, Controller, Outcome, Providers, TokioClock};
use shiploop_providers::memory::{MemoryRouter, ScriptedSource};
use shiploop_rollout::{Decision, DecisionKind, Input, Observation, Phase, Rollout};
use shiploop_store::{SqliteStore as Store, StateStore};
use shiploop_workspace::Workspace;
use std::sync::Arc;
use std::time::Duration;

/// A controller of `web` with `router` and `metrics` played in order (the last one repeated).
fn controller<'a>(
    ws: &'a Workspace,
    router: &Arc<MemoryRouter>,
    metrics: Vec<Observation>,
) -> Controller<'a> {
    let providers = Providers::new(
        Box::new(router.clone()),
        Box::new(ScriptedSource::new(metrics)),
    );
    Controller::open_with(ws, "web", t(0), providers).unwrap()
}

/// The kinds of the decisions recorded for `web`, holds left out.
fn milestones(ws: &Workspace) -> Vec<DecisionKind> {
    let store = Store::open(&ws.state_db()).unwrap();
    let id = ws.resolve("web").unwrap().contract.meta.id;
    let decisions = store.decisions(&id).unwrap();
    decisions
        .into_iter()
        .map(|d| d.decision.kind)
        .filter(|k| *k != DecisionKind::Hold)
        .collect()
}

/// The recorded state of `web`'s rollout.
fn recorded(ws: &Workspace) -> Rollout {
    let store = Store::open(&ws.state_db()).unwrap();
    let id = ws.resolve("web").unwrap().contract.meta.id;
    store.rollout(&id).unwrap().unwrap().state
}

/// Queues an operator's command for whoever drives `web` (as `ship rollout pause` does from
/// another process).
fn queue(ws: &Workspace, input: &Input, at: chrono::DateTime<chrono::Utc>) {
    let mut store = Store::open(&ws.state_db()).unwrap();
    let id = ws.resolve("web").unwrap().contract.meta.id;
    store.push_command(&id, input, "test", at).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_healthy_rollout_goes_through_every_stage_to_completion() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &router, vec![healthy()]);
    let mut clock = TokioClock::starting_at(t(0));
    // Kept alive: a closed stop channel would end the loop's waits at once.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let began = tokio::time::Instant::now();
    let outcome = c.run(&mut clock, &rx, &mut |_| {}).await.unwrap();
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(router.state().history, vec![5, 25, 50, 100]);
    assert!(router.state().promoted);
    // Four stages of at least 10 s each passed on the paused clock, and the decisions carry
    // its times.
    let took = began.elapsed();
    assert!(took >= Duration::from_secs(30), "{took:?}");
    let last = c.store().decisions(c.id()).unwrap().pop().unwrap().decision;
    assert_eq!(last.kind, DecisionKind::Completed);
    assert!(last.at >= t(30), "{}", last.at);
    assert_eq!(
        milestones(&ws),
        [
            DecisionKind::Start,
            DecisionKind::Promote,
            DecisionKind::Promote,
            DecisionKind::Complete,
            DecisionKind::Completed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_canary_failing_its_error_rate_is_rolled_back() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    // 10 % of the canary's requests fail, against 0.1 % of stable's.
    let mut c = controller(&ws, &router, vec![counts(2_000.0)]);
    let mut clock = TokioClock::starting_at(t(0));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let outcome = c.run(&mut clock, &rx, &mut |_| {}).await.unwrap();
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_eq!(router.state().history, vec![5, 0]);
    assert!(!router.state().promoted);
    let rollback = c.state.rollback.expect("the rollback's cause is recorded");
    assert_eq!(rollback.cause, shiploop_rollout::RollbackCause::ErrorRate);
}

#[tokio::test(start_paused = true)]
async fn a_paused_rollout_holds_its_weight_until_resumed() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &router, vec![healthy()]);
    let mut clock = TokioClock::starting_at(t(0));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut seen: Vec<Decision> = vec![];
    let mut log = |d: &Decision| seen.push(d.clone());
    let driving = c.run(&mut clock, &rx, &mut log);
    let operator = async {
        // Into the canary stage, then paused from "another process" for 45 s: longer
        // than every stage together.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let pause = Input::Pause {
            reason: "looking at a dashboard".into(),
        };
        queue(&ws, &pause, t(3));
        tokio::time::sleep(Duration::from_secs(45)).await;
        let paused = recorded(&ws);
        assert!(matches!(paused.phase, Phase::Paused { .. }), "{paused:?}");
        assert_eq!(paused.weight, 5);
        assert_eq!(router.state().history, vec![5]);
        queue(&ws, &Input::Resume, t(49));
    };
    let (outcome, ()) = tokio::join!(driving, operator);
    assert_eq!(outcome.unwrap(), Outcome::Completed);
    assert_eq!(router.state().history, vec![5, 25, 50, 100]);
    let kinds: Vec<DecisionKind> = seen.iter().map(|d| d.kind).collect();
    let paused = kinds
        .iter()
        .position(|k| *k == DecisionKind::Pause)
        .unwrap();
    let resumed = kinds
        .iter()
        .position(|k| *k == DecisionKind::Resume)
        .unwrap();
    let promoted = kinds
        .iter()
        .position(|k| *k == DecisionKind::Promote)
        .unwrap();
    assert!(paused < resumed && resumed < promoted, "{kinds:?}");
}

/// Aborts `web` from the command line once its canary started, the router refusing its next
/// `refusals` calls: the controller after it, the decision, and how long the command took.
async fn abort_with_refusals<'a>(
    ws: &'a Workspace,
    router: &Arc<MemoryRouter>,
    refusals: u32,
) -> (Controller<'a>, Decision, Duration) {
    let mut c = controller(ws, router, vec![healthy()]);
    c.acquire(t(0)).unwrap();
    c.begin(t(0), &mut |_| {}).await.unwrap();
    c.release_lease();
    router.fail_next(refusals);
    let abort = Input::Abort {
        reason: "wrong build".into(),
    };
    let mut clock = TokioClock::starting_at(t(0));
    let began = tokio::time::Instant::now();
    let done = c.command(abort, &mut clock, &|_| {}).await.unwrap();
    let Commanded::Applied(d) = done else {
        panic!("nobody else drives it: applied here, not {done:?}")
    };
    (c, d, began.elapsed())
}

#[tokio::test(start_paused = true)]
async fn an_abort_the_router_refuses_at_first_is_retried_until_rolled_back() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    // The router refuses the rollback twice: the command retries it a tick apart.
    let (c, d, took) = abort_with_refusals(&ws, &router, 2).await;
    assert_eq!(d.kind, DecisionKind::Rollback);
    assert!(
        matches!(c.state.phase, Phase::RolledBack { .. }),
        "{:?}",
        c.state.phase
    );
    assert_eq!(router.state().history, vec![5, 0]);
    assert_eq!(took, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn an_abort_the_router_keeps_refusing_is_retried_up_to_the_error_limit_only() {
    let (_dir, ws) = workspace();
    let router = Arc::new(MemoryRouter::new());
    let (c, _, took) = abort_with_refusals(&ws, &router, u32::MAX).await;
    // The command's own attempt, then a retry a tick apart until the router has failed
    // error_limit times: the rollout failed, the traffic is still on the new version, and a
    // person must act.
    let limit = c.plan.settings.error_limit;
    assert_eq!(took, Duration::from_secs((limit - 1).into()));
    assert!(
        matches!(c.state.phase, Phase::Failed { .. }),
        "{:?}",
        c.state.phase
    );
    assert_eq!(router.state().history, vec![5]);
}

#[tokio::test(start_paused = true)]
async fn an_abort_waits_for_a_replica_ending_its_run_and_is_queued_for_a_foreground_one() {
    let (dir, _) = workspace();
    let cfg = std::fs::read_to_string(dir.path().join("ship.toml")).unwrap();
    let cfg = shiploop_config::set_key(&cfg, "validation", "auto", "false").unwrap();
    std::fs::write(dir.path().join("ship.toml"), cfg).unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    let router = Arc::new(MemoryRouter::new());
    let mut c = controller(&ws, &router, vec![healthy()]);
    let mut clock = TokioClock::starting_at(t(0));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    assert_eq!(
        c.run(&mut clock, &rx, &mut |_| {}).await.unwrap(),
        Outcome::Completed
    );
    let id = c.id().to_string();
    let now = clock.now();
    let ttl = Duration::from_secs(15);
    let abort = || Input::Abort {
        reason: "looks wrong".into(),
    };

    // A foreground run on another host holds it (`ship rollout validate`): queued for it.
    let mut store = Store::open(&ws.state_db()).unwrap();
    let other = "elsewhere:1";
    store.lease_acquire(&id, other, ttl, now).unwrap().unwrap();
    let mut cli = controller(&ws, &router, vec![healthy()]);
    let done = cli.command(abort(), &mut clock, &|_| {}).await.unwrap();
    assert!(
        matches!(done, Commanded::Queued { ref holder } if holder == other),
        "{done:?}"
    );

    // The same holder is a `ship serve` replica: it is ending its run and will not apply a
    // command, so the command line waits for it to let go (2 s later), then applies it.
    store
        .lease_acquire(&format!("replica:{other}"), other, ttl, now)
        .unwrap()
        .unwrap();
    let letting_go = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut store = Store::open(&ws.state_db()).unwrap();
        store.release_lease(&id, other).unwrap();
    };
    let began = tokio::time::Instant::now();
    let mut cli = controller(&ws, &router, vec![healthy()]);
    let (done, ()) = tokio::join!(cli.command(abort(), &mut clock, &|_| {}), letting_go);
    let Commanded::Applied(d) = done.unwrap() else {
        panic!("applied once the replica let go")
    };
    assert_eq!(d.kind, DecisionKind::Rollback);
    assert!(began.elapsed() >= Duration::from_secs(2));
    assert!(matches!(recorded(&ws).phase, Phase::RolledBack { .. }));
    assert_eq!(router.state().history.last(), Some(&0));
}
