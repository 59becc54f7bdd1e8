//! What the in-process API tests share: a temporary workspace with an approved release, the
//! router `ship serve` builds over it, a request through `tower::ServiceExt::oneshot`, and a
//! rollout begun by a controller in the same process.

// Every test binary uses only some of these.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use serde_json::Value;
use shiploop_controller::{Controller, Providers};
use shiploop_providers::memory::{MemoryRouter, ScriptedSource};
use shiploop_server::auth::Tokens;
use shiploop_server::metrics::ServeMetrics;
use shiploop_server::{router, stream, AppState};
use shiploop_testkit::TempWorkspace;
use std::sync::Arc;
use tower::ServiceExt;

pub const VIEWER: &str = "viewer-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";

pub fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + CDuration::seconds(s)
}

/// A workspace with 10 s stages, 1 s ticks and an approved release `web`; returns its id.
pub fn workspace() -> (TempWorkspace, String) {
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
pub fn app(ws: &TempWorkspace) -> Router {
    // The server borrows its workspace for the life of the process, as `ship serve` does.
    let ws: &'static _ = Box::leak(Box::new(ws.open()));
    let tokens = Tokens::parse_env(
        "SHIP_API_TOKENS",
        &format!("viewer:{VIEWER},operator:{OPERATOR}"),
    )
    .unwrap();
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let streams = stream::Feed::new(
        shiploop_store::Location::Sqlite(ws.state_db()),
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
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    /// The `Link` header (a page's next page).
    pub link: Option<String>,
    /// The body as text (the dashboard's HTML).
    pub body: String,
    pub json: Value,
}

pub async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> Reply {
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
    let link = text(header::LINK);
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        www_authenticate,
        link,
        body: String::from_utf8_lossy(&bytes).to_string(),
        json,
    }
}

/// An error as RFC 9457 problem details, with `status`.
pub fn assert_problem(r: &Reply, status: u16) {
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
pub async fn begun(ws: &shiploop_workspace::Workspace) -> Controller<'_> {
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
