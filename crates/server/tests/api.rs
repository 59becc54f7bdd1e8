//! `/api/v1` in process: the router `ship serve` builds, over a temporary workspace, called with
//! `tower::ServiceExt::oneshot` — no `ship` binary, no port, no sleeping. The rollout it shows
//! is driven by a controller in the same process, on the in-memory router, with time passed in.
//! What `ship serve` adds around the router (the accept loop's limits, signals) has its tests in
//! crates/cli/tests/serve*.rs.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use serde_json::Value;
use shiploop_controller::{Controller, Providers};
use shiploop_providers::memory::{MemoryRouter, ScriptedSource};
use shiploop_rollout::Phase;
use shiploop_server::auth::Tokens;
use shiploop_server::metrics::ServeMetrics;
use shiploop_server::{router, stream, AppState};
use shiploop_testkit::TempWorkspace;
use std::sync::Arc;
use tower::ServiceExt;

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + CDuration::seconds(s)
}

/// A workspace with 10 s stages, 1 s ticks and an approved release `web`; returns its id.
fn workspace() -> (TempWorkspace, String) {
    let ws = TempWorkspace::init();
    ws.edit_config(|cfg| {
        cfg.replace("canary_duration = \"10m\"", "canary_duration = \"10s\"")
            .replace(
                "early_adopter_duration = \"30m\"",
                "early_adopter_duration = \"10s\"",
            )
            .replace("ga_duration = \"1h\"", "ga_duration = \"10s\"")
            .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"1s\"")
            .replace("tick_interval = \"auto\"", "tick_interval = \"1s\"")
    });
    ws.verdict("v1", "PASS", "Faster checkout");
    let id = ws.approve_release("web", t(0));
    (ws, id)
}

/// The API's router over `ws`, with a viewer's and an operator's token.
fn app(ws: &TempWorkspace) -> Router {
    // The server borrows its workspace for the life of the process, as `ship serve` does.
    let ws: &'static _ = Box::leak(Box::new(ws.open()));
    let tokens = Tokens::parse_env(
        "SHIP_API_TOKENS",
        &format!("viewer:{VIEWER},operator:{OPERATOR}"),
    )
    .unwrap();
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let streams = stream::Feed::new(
        ws.state_db(),
        stream::Limits {
            total: 4,
            per_token: 2,
        },
    );
    router(AppState {
        ws,
        tokens: Arc::new(tokens),
        metrics: Arc::new(ServeMetrics::default()),
        stop,
        streams,
    })
}

/// What one request got back.
struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    json: Value,
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let text = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default();
    let www_authenticate = text(header::WWW_AUTHENTICATE);
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        www_authenticate,
        json,
    }
}

/// An error as RFC 9457 problem details, with `status`.
fn assert_problem(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.json);
    assert_eq!(r.content_type, "application/problem+json", "{}", r.json);
    assert_eq!(r.json["status"], status, "{}", r.json);
    assert!(
        r.json["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://shiploop.invalid/problems/")),
        "{}",
        r.json
    );
    assert!(r.json["title"].is_string(), "{}", r.json);
    assert!(r.json["detail"].is_string(), "{}", r.json);
}

/// A controller of `web` on the in-memory router (metrics with no data), holding the lease,
/// that has begun: 5 % on the new version.
async fn begun(ws: &shiploop_workspace::Workspace) -> Controller<'_> {
    let providers = Providers::new(
        Box::new(Arc::new(MemoryRouter::new())),
        Box::new(ScriptedSource::new(vec![])),
    );
    let mut c = Controller::open_with(ws, "web", t(0), providers).unwrap();
    c.acquire(t(0)).unwrap();
    c.begin(t(0), &mut |_| {}).await.unwrap();
    assert_eq!(c.state.weight, 5);
    c
}

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
