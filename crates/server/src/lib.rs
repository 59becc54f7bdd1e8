//! `ship serve`'s HTTP side: the versioned JSON API (`/api/v1`), `/metrics` for ship itself,
//! and the dashboard. The controller that drives rollouts is `shiploop-controller::serve`;
//! this crate only reads the workspace and the state database and queues operator commands.

pub mod api;
pub mod auth;
pub mod body;
pub mod dashboard;
pub mod metrics;
pub mod paging;
pub mod problem;
pub mod serve;
pub mod stream;

use crate::auth::{Role, Tokens};
use crate::metrics::ServeMetrics;
use crate::problem::Problem;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use shiploop_workspace::Workspace;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The OpenAPI document of `/api/v1`, kept in the repository (docs/openapi.json).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// What every handler shares: the workspace, the tokens, ship's metrics and the live event streams.
#[derive(Clone)]
pub struct AppState {
    /// The workspace whose release contracts and state database are served.
    pub ws: &'static Workspace,
    /// The bearer tokens accepted, with their roles.
    pub tokens: Arc<Tokens>,
    /// ship's own counters, exposed at `/metrics`.
    pub metrics: Arc<ServeMetrics>,
    /// Flips to true when the server stops: live streams end, so the graceful shutdown,
    /// which waits for every connection, can finish.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// The live event streams: the poller they share and the caps on them.
    pub streams: Arc<stream::Feed>,
}

/// The HTTP routes of `ship serve`: the API, `/metrics`, and the dashboard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(dashboard::index))
        .route("/login", get(dashboard::login_form).post(dashboard::login))
        .route("/logout", get(dashboard::logout))
        .route("/releases/{id}", get(dashboard::release_page))
        .route("/releases/{id}/{action}", post(dashboard::command))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/releases", get(api::releases))
        .route("/api/v1/releases/{id}", get(api::release_one))
        .route("/api/v1/releases/{id}/gates", get(api::gates))
        .route("/api/v1/releases/{id}/approve", post(api::approve))
        .route("/api/v1/rollouts", get(api::rollouts))
        .route("/api/v1/rollouts/{id}", get(api::rollout_one))
        .route("/api/v1/rollouts/{id}/decisions", get(api::decisions))
        .route("/api/v1/rollouts/{id}/{action}", post(api::command))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/events/stream", get(api::events_stream))
        .route("/api/v1/signals", get(api::signals))
        .fallback(|| async { Problem::not_found("no such endpoint (see /api/v1/openapi.json)") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not take that method (see /api/v1/openapi.json)",
            )
        })
        .layer(axum::middleware::map_response(problem_errors))
        .with_state(state)
}

/// Runs a request's reads and writes (SQLite, the workspace's files) on tokio's blocking pool:
/// the server's one thread also ticks every rollout, and a slow disk or a busy database must
/// never delay a tick.
///
/// At most `READS` run at once; more requests wait their turn. Without the cap, 256 clients
/// asking together took tokio's blocking pool to 512 threads and 900 MB, and a read that
/// waits is cheaper than a thread with a database connection and a decoded page.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(READS);
    let slot = SLOTS
        .acquire()
        .await
        .map_err(|e| Problem::internal(format!("the request failed: {e}")))?;
    // The slot goes with the work: a client that hangs up does not free it early.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(|e| Problem::internal(format!("the request failed: {e}")))
}

/// Requests' reads of the database and the workspace running at once.
pub const READS: usize = 8;

/// Errors axum answers by itself — a path segment that is not UTF-8, a form or JSON body it
/// cannot read, a body too large, a wrong content type — come as text/plain; the API promises
/// problem+json for every error, so they are rewritten here, their text kept as the detail.
async fn problem_errors(resp: Response) -> Response {
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_string();
    let kind = status
        .canonical_reason()
        .unwrap_or("error")
        .to_lowercase()
        .replace(' ', "-");
    let mut out = Problem::new(status, &kind, detail).into_response();
    // Keep what the error said besides its body (Allow, WWW-Authenticate, …).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics_text(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    s.tokens.check(&headers, Role::Viewer)?;
    let ws = s.ws;
    let phases = blocking(move || {
        use shiploop_store::StateStore;
        let st = shiploop_controller::open_store(ws).ok()?;
        // The phases alone, read in SQL: decoding every rollout took ~0.7 s at 10,000.
        let mut phases: BTreeMap<String, u64> = BTreeMap::new();
        for (_, phase) in st.phases().ok()? {
            *phases.entry(phase).or_default() += 1;
        }
        Some(phases)
    })
    .await?;
    let text = s.metrics.render(&crate::metrics::Scrape {
        phases: phases.as_ref(),
        event_streams: s.streams.open_streams(),
    });
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// The tokens `[server]` names: the file and the environment variable (errors name the line).
pub fn load_tokens(ws: &Workspace) -> Result<Tokens, auth::TokensError> {
    let cfg = &ws.config.server;
    let mut tokens = Tokens::default();
    if !cfg.tokens_file.is_empty() {
        let path = ws.path(&cfg.tokens_file);
        let text = std::fs::read_to_string(&path).map_err(|source| auth::TokensError::Read {
            file: cfg.tokens_file.clone(),
            source,
        })?;
        tokens = tokens.merge(Tokens::parse_file(&cfg.tokens_file, &text)?);
    }
    if !cfg.tokens_env.is_empty() {
        if let Ok(v) = std::env::var(&cfg.tokens_env) {
            tokens = tokens.merge(Tokens::parse_env(&cfg.tokens_env, &v)?);
        }
    }
    Ok(tokens)
}
