//! `/api/v1` in process: the router `ship serve` builds, over a temporary workspace, called with
//! `tower::ServiceExt::oneshot` — no `ship` binary, no port, no sleeping. The rollout it shows
//! is driven by a controller in the same process, on the in-memory router, with time passed in.
//! What `ship serve` adds around the router (the accept loop's limits, signals) has its tests in
//! crates/cli/tests/serve*.rs.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shiploop_rollout::Phase;

#[tokio::test]
async fn every_api_call_needs_a_known_token() {
    let (ws, _) = workspace();
    let app = app(&ws);
    for uri in [
        "/api/v1/releases",
        "/api/v1/rollouts",
        "/api/v1/rollouts/web",
        "/api/v1/events",
        "/metrics",
    ] {
        let r = call(&app, "GET", uri, None, "").await;
        assert_problem(&r, 401);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some("Bearer realm=\"ship\""),
            "{uri}"
        );
        let r = call(&app, "GET", uri, Some("not-a-token-of-this-server"), "").await;
        assert_problem(&r, 401);
        assert_eq!(r.json["detail"], "unknown token", "{uri}");
    }
    // The health check is for load balancers: no token.
    let r = call(&app, "GET", "/healthz", None, "").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_viewer_reads_the_releases_and_the_rollouts() {
    let (ws, id) = workspace();
    let app = app(&ws);
    let r = call(&app, "GET", "/api/v1/rollouts", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["rollouts"], serde_json::json!([]));
    let r = call(&app, "GET", "/api/v1/rollouts/web", Some(VIEWER), "").await;
    assert_problem(&r, 404);
    assert_eq!(r.json["detail"], format!("{id} has no rollout yet"));

    let opened = ws.open();
    let _c = begun(&opened).await;
    let r = call(&app, "GET", "/api/v1/rollouts", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    let list = r.json["rollouts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", r.json);
    assert_eq!(list[0]["release"], id.as_str());
    assert_eq!(list[0]["weight"], 5);
    // By name or by id, the same rollout.
    for name in ["web", id.as_str()] {
        let r = call(
            &app,
            "GET",
            &format!("/api/v1/rollouts/{name}"),
            Some(VIEWER),
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["release"], id.as_str());
        assert_eq!(r.json["phase"], "progressing", "{}", r.json);
        assert_eq!(r.json["stage"], "canary", "{}", r.json);
        assert_eq!(r.json["weight"], 5);
    }
    let r = call(&app, "GET", "/api/v1/releases", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["releases"].as_array().map(Vec::len), Some(1));
    let r = call(&app, "GET", "/api/v1/releases/web", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["contract"]["id"], id.as_str());
}

#[tokio::test]
async fn an_unknown_release_or_endpoint_is_a_404_problem() {
    let (ws, _) = workspace();
    let app = app(&ws);
    for uri in [
        "/api/v1/releases/nope",
        "/api/v1/releases/nope/gates",
        "/api/v1/rollouts/nope",
        "/api/v1/rollouts/nope/decisions",
        // Never a path: the API reads only the releases folder.
        "/api/v1/releases/..%2Fship.toml",
        "/api/v1/no-such-thing",
    ] {
        let r = call(&app, "GET", uri, Some(VIEWER), "").await;
        assert_problem(&r, 404);
    }
    let r = call(&app, "GET", "/api/v1/releases/nope", Some(VIEWER), "").await;
    assert!(
        r.json["detail"].as_str().unwrap().contains("nope"),
        "{}",
        r.json
    );
    let r = call(&app, "DELETE", "/api/v1/rollouts", Some(VIEWER), "").await;
    assert_problem(&r, 405);
    // No token can approve: approvals need the approver's SSH key.
    let r = call(
        &app,
        "POST",
        "/api/v1/releases/web/approve",
        Some(OPERATOR),
        "{}",
    )
    .await;
    assert_problem(&r, 403);
}

#[tokio::test]
async fn an_operator_command_is_queued_and_refused_once_the_rollout_has_ended() {
    let (ws, id) = workspace();
    let app = app(&ws);
    let opened = ws.open();
    let mut c = begun(&opened).await;
    let pause = "/api/v1/rollouts/web/pause";

    // A viewer cannot act; an operator must say why; a body that is not JSON is a 400 problem.
    let r = call(&app, "POST", pause, Some(VIEWER), r#"{"reason":"x"}"#).await;
    assert_problem(&r, 403);
    let r = call(&app, "POST", pause, Some(OPERATOR), "{}").await;
    assert_problem(&r, 400);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("needs a reason"),
        "{}",
        r.json
    );
    let r = call(&app, "POST", pause, Some(OPERATOR), "{not json").await;
    assert_problem(&r, 400);
    let r = call(
        &app,
        "POST",
        "/api/v1/rollouts/web/launch",
        Some(OPERATOR),
        r#"{"reason":"x"}"#,
    )
    .await;
    assert_problem(&r, 404);

    // Queued for the controller, which applies it at its next tick.
    let r = call(
        &app,
        "POST",
        "/api/v1/rollouts/web/abort",
        Some(OPERATOR),
        r#"{"reason":"checkout errors in the canary"}"#,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["release"], id.as_str());
    let mut s = 0;
    while c.outcome().is_none() && s < 100 {
        s += 1;
        c.tick(t(s), &mut |_| {}).await.unwrap();
    }
    assert!(
        matches!(&c.state.phase, Phase::RolledBack { reason } if reason.contains("checkout errors in the canary")),
        "{:?}",
        c.state.phase
    );
    let r = call(&app, "GET", "/api/v1/rollouts/web", Some(VIEWER), "").await;
    assert_eq!(r.json["phase"], "rolled-back", "{}", r.json);

    // The admission rule: a finished rollout takes no command.
    let r = call(
        &app,
        "POST",
        pause,
        Some(OPERATOR),
        r#"{"reason":"too late"}"#,
    )
    .await;
    assert_problem(&r, 409);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("nothing to pause"),
        "{}",
        r.json
    );
}

#[tokio::test]
async fn an_abort_of_a_completed_rollout_is_queued_only_for_a_foreground_run_that_would_apply_it() {
    let (ws, id) = workspace();
    ws.edit_config(|cfg| shiploop_config::set_key(&cfg, "validation", "auto", "false").unwrap());
    let app = app(&ws);
    let opened = ws.open();
    let mut c = begun(&opened).await;
    // Promoted through every stage by an operator (the metrics here have no data).
    let mut s = 0;
    while c.outcome().is_none() && s < 20 {
        s += 1;
        let promote = "/api/v1/rollouts/web/promote";
        let r = call(&app, "POST", promote, Some(OPERATOR), r#"{"reason":"x"}"#).await;
        assert_eq!(r.status, 202, "{}", r.json);
        c.tick(t(s), &mut |_| {}).await.unwrap();
    }
    assert_eq!(c.state.phase, Phase::Completed, "{:?}", c.state.phase);
    // The controller still holds the lease, as a run does between recording the completion
    // and letting go. Real time from here: the API reads leases against the clock.
    let mut st = shiploop_controller::open_store(&opened).unwrap();
    let now = chrono::Utc::now();
    let holder = st.lease_holder(&id, t(s)).unwrap().unwrap();
    let ttl = std::time::Duration::from_secs(60);
    st.lease_take_over(&id, &holder, &holder, ttl, now).unwrap();
    let abort = "/api/v1/rollouts/web/abort";
    let body = r#"{"reason":"looks wrong"}"#;

    // Held by a `ship serve` replica (its heartbeat is live): that run is ending, and with
    // validation.auto off no one would ever apply the command.
    let beat = format!("replica:{holder}");
    st.lease_acquire(&beat, &holder, ttl, now).unwrap().unwrap();
    let r = call(&app, "POST", abort, Some(OPERATOR), body).await;
    assert_problem(&r, 409);
    let detail = r.json["detail"].as_str().unwrap();
    assert!(detail.contains("ship rollout abort"), "{detail}");

    // Held by a foreground run (`ship rollout validate`), which applies queued commands.
    st.release_lease(&beat, &holder).unwrap();
    let r = call(&app, "POST", abort, Some(OPERATOR), body).await;
    assert_eq!(r.status, 202, "{}", r.json);

    // Nobody holds it: refused again.
    st.release_lease(&id, &holder).unwrap();
    let r = call(&app, "POST", abort, Some(OPERATOR), body).await;
    assert_problem(&r, 409);
}
