//! The dashboard: server-rendered HTML that reads without JavaScript — the releases, a release's
//! stage timeline, its live error rate and p99 for stable vs canary against the rollback
//! thresholds, the decision log, gates, approvals and signals — with a little script for live
//! updates (SSE) and forms for the operator commands.
//!
//! Browsers authenticate once with a token (`/login`), kept in an HttpOnly, SameSite=Strict
//! cookie; the commands also check that the form came from this origin.

mod chart;
mod home;
mod records;

use crate::auth::{Role, Tokens};
use crate::problem::Problem;
use crate::{blocking, AppState};
use axum::extract::{Form, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use records::ts;
use serde::Deserialize;
use shiploop_artifacts::release::Trigger;
use shiploop_rollout::{DecisionKind, Phase, Plan, Rollout};
use shiploop_store::{DecisionRow, StateStore};

/// The cookie that keeps a dashboard user's token after `/login`.
pub const COOKIE: &str = "ship_token";

/// What a path segment keeps as it is: RFC 3986's unreserved characters; every other byte of
/// the UTF-8 text is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment as a URL carries it: a release id in a link, whatever characters it has.
fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A link to a release's page, ready for an HTML attribute.
fn release_href(id: &str) -> String {
    format!("/releases/{}", seg(id))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}\
header{background:#1d2433;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}\
header a{color:#fff;text-decoration:none;font-weight:600}main{padding:16px 24px;max-width:1100px}\
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 20px}td,th{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left;font-size:14px;vertical-align:top}\
th{background:#eef0f3}.pill{padding:2px 8px;border-radius:10px;font-size:12px;background:#e3e6ea}\
.completed,.shipped,.pass,.passed{background:#d7f5e1}.rolled-back,.failed,.fail{background:#fbd9d9}.progressing,.validating,.deploying{background:#dbe9ff}.paused,.warn{background:#fff1c2}\
.stages{display:flex;gap:8px;margin:12px 0}.stage{flex:1;padding:10px;border-radius:6px;background:#fff;border:2px solid #e3e6ea}\
.stage.done{border-color:#38a169}.stage.current{border-color:#2c7be5;background:#eef5ff}.charts{display:flex;gap:16px;flex-wrap:wrap}\
.card{background:#fff;padding:12px;border-radius:6px;margin-bottom:16px}form.inline{display:inline-block;margin-right:8px}\
time{white-space:nowrap}button{padding:6px 12px;border:0;border-radius:4px;background:#2c7be5;color:#fff;cursor:pointer}button.danger{background:#c53030}input[type=text]{padding:5px;width:220px}";

/// A whole page: `body` (from [`shell`]) with the style, and with `live` (a release id, or ""
/// for every release) the script that reloads it when something happens.
fn page(title: &str, body: Markup, live: Option<&str>) -> Response {
    let script = live.map(|release| {
        // Live updates: a new event of this release reloads the page, at most once a second
        // (it renders on the server, so a reload is the whole update) — never while someone
        // types a reason into a form; without JavaScript, refresh by hand.
        PreEscaped(format!(
            concat!(
                "const es=new EventSource('/api/v1/events/stream?{}after='+document.body.dataset.seq);",
                "let t=null;",
                "const busy=()=>[...document.querySelectorAll('input')].some(i=>i.value||i===document.activeElement);",
                "const later=()=>{{if(t||busy())return;t=setTimeout(()=>{{t=null;if(!busy())location.reload();}},1000);}};",
                "['decision','rollout-created','router','command-queued','command-applied','validation-started','validation-ended','signal-written','handed-over'].forEach(k=>es.addEventListener(k,later));",
            ),
            // Inside <script> entities are not decoded: URL-encoding leaves nothing to escape.
            if release.is_empty() {
                String::new()
            } else {
                format!("release={}&", seg(release))
            }
        ))
    });
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " — ship" }
                style { (PreEscaped(STYLE)) }
            }
            (body)
            @if let Some(script) = script {
                script { (script) }
            }
        }
    };
    let mut resp = Html(html.into_string()).into_response();
    // Operator buttons must not be clickable through another site's frame; nothing is loaded
    // from elsewhere; the inline style and script are ship's own.
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in headers {
        resp.headers_mut()
            .insert(name, header::HeaderValue::from_static(value));
    }
    resp
}

/// `Secure` when the browser reached ship over HTTPS (a TLS proxy in front says so); ship
/// itself serves plain HTTP on loopback, where a Secure cookie would never come back.
fn cookie_attrs(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if https {
        "HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "HttpOnly; SameSite=Strict; Path=/"
    }
}

/// The page's body: the header bar and `content`; `seq` is the last event the page shows.
fn shell(seq: i64, content: Markup) -> Markup {
    html! {
        body data-seq=(seq) {
            header {
                a href="/" { "ship" }
                span { "the Ship loop" }
                a href="/logout" style="margin-left:auto;font-weight:400" { "log out" }
            }
            main { (content) }
        }
    }
}

/// The browser's role; None: send it to the login form.
fn viewer(s: &AppState, headers: &HeaderMap) -> Option<Role> {
    s.tokens.check(headers, Role::Viewer).ok()
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// A status as a coloured label: the text is also its class.
fn pill(text: &str) -> Markup {
    html! { span class={ "pill " (text) } { (text) } }
}

/// `GET /login`: the form that asks for an API token.
pub async fn login_form() -> Response {
    page(
        "log in",
        shell(
            0,
            html! {
                div class="card" {
                    h2 { "Log in" }
                    form method="post" action="/login" {
                        p { "API token (viewer or operator):" }
                        input type="password" name="token" autofocus;
                        " "
                        button { "Log in" }
                    }
                }
            },
        ),
        None,
    )
}

/// A form body, read within server.request_timeout; errors answered as axum's `Form` does.
async fn read_form<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, Response> {
    let req = crate::body::buffered(req)
        .await
        .map_err(IntoResponse::into_response)?;
    Form::<T>::from_request(req, &())
        .await
        .map(|Form(f)| f)
        .map_err(IntoResponse::into_response)
}

/// The login form's body: the API token.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: checks the token and keeps it in the dashboard's cookie.
pub async fn login(State(s): State<AppState>, req_headers: HeaderMap, req: Request) -> Response {
    // The form carries the token, so it is read first — within server.request_timeout.
    let f: LoginForm = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = format!("Bearer {}", f.token.trim()).parse() {
        h.insert(header::AUTHORIZATION, v);
    }
    if s.tokens.check(&h, Role::Viewer).is_err() {
        return (
            StatusCode::UNAUTHORIZED,
            page(
                "log in",
                shell(
                    0,
                    html! {
                        div class="card" {
                            h2 { "Unknown token" }
                            p { a href="/login" { "Try again" } }
                        }
                    },
                ),
                None,
            ),
        )
            .into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; {}",
        f.token.trim(),
        cookie_attrs(&req_headers)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `GET /logout`: clears the dashboard's cookie.
pub async fn logout(headers: HeaderMap) -> Response {
    let cookie = format!("{COOKIE}=; {}; Max-Age=0", cookie_attrs(&headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

type Stored = (Plan, Rollout, DateTime<Utc>);

/// A rollout's plan, state, and when it was created (where its charts start); None without a
/// rollout, an error when it exists but cannot be read (it may be live at some weight).
fn rollout_state(st: &dyn StateStore, id: &str) -> Result<Option<Stored>, String> {
    let Some(row) = st.rollout(id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    Ok(Some((row.plan.plan, row.state, row.created_at)))
}

fn last_seq(st: &dyn StateStore, release: Option<&str>) -> i64 {
    st.last_seq(release).unwrap_or(0)
}

/// `GET /`: the rollouts by phase, those in flight, and a page of the releases with their
/// rollout's phase, stage and weight (to `/login` without a token); see [`home`].
pub async fn index(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<home::HomeQuery>,
) -> Response {
    if viewer(&s, &headers).is_none() {
        return to_login();
    }
    blocking(move || home::index_page(&s, &q))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A release page's query: `before`, the decision log's page (decisions older than this id).
#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
}

/// `GET /releases/{id}`: one release's stage timeline, charts, decision log, gates and approvals.
pub async fn release_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some(role) = viewer(&s, &headers) else {
        return to_login();
    };
    blocking(move || one_release_page(&s, role, &id, q.before))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn one_release_page(s: &AppState, role: Role, id: &str, before: Option<i64>) -> Response {
    let r = match crate::api::release_for_html(s, id) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let m = &r.contract.meta;
    let st = match shiploop_controller::open_store(s.ws) {
        Ok(st) => st,
        Err(e) => return Problem::internal(e.to_string()).into_response(),
    };
    let mut body = vec![html! {
        h1 { (m.id) }
        p {
            (pill(m.status.as_str())) " " (format!("{:?}", m.kind).to_lowercase())
            " release, mission: " (m.mission.as_deref().unwrap_or("none")) ", "
            (m.changes.len()) " change(s)"
        }
    }];
    let (state, unreadable) = match rollout_state(&*st, &m.id) {
        Ok(state) => (state, false),
        Err(why) => {
            body.push(html! {
                div class="card warn" {
                    b { "Rollout unreadable" } ": " (why)
                    " — it may still carry traffic: check the router and "
                    code { "ship audit log --release " (m.id) } "."
                }
            });
            (None, true)
        }
    };
    match &state {
        None if unreadable => {}
        None => body.push(html! {
            div class="card" {
                "No rollout yet: " code { "ship rollout start … --detach" }
                " hands it to this server."
            }
        }),
        Some((plan, state, _)) => {
            let why = match &state.phase {
                Phase::Paused { reason }
                | Phase::RolledBack { reason }
                | Phase::RollingBack { reason }
                | Phase::Failed { reason } => Some(reason),
                _ => None,
            };
            let class = |i: usize| {
                if state.phase == Phase::Completed || i < state.stage {
                    "stage done"
                } else if i == state.stage && !state.phase.is_terminal() {
                    "stage current"
                } else {
                    "stage"
                }
            };
            let validating = state.phase == Phase::Completed
                && m.status == shiploop_artifacts::release::Status::Validating;
            // A validation that ended (or that this server does not run) has nobody to apply
            // a queued abort: the button would only queue it (the API answers 409).
            let validation_open = s.ws.config.validation.auto
                && m.validation.as_ref().is_none_or(|v| v.result == "running");
            body.push(html! {
                div class="card" {
                    b { "Rollout" } " " (pill(state.phase.name())) " at " (state.weight) " %"
                    @if let Some(why) = why { " — " (why) }
                    div class="stages" {
                        @for (i, stage) in plan.stages.iter().enumerate() {
                            div class=(class(i)) data-stage=(stage.name) {
                                b { (stage.name) }
                                br;
                                (stage.weight) " %"
                                @if let Some(d) = stage.duration {
                                    " for " (humantime(d.as_secs()))
                                }
                            }
                        }
                    }
                    @if role == Role::Operator && validating && !validation_open {
                        p {
                            "Nothing drives this release's validation now: roll it back with "
                            code { "ship rollout abort " (m.id) " --reason …" } "."
                        }
                    } @else if role == Role::Operator && (!state.phase.is_terminal() || validating) {
                        (commands_html(&m.id, &state.phase, validating))
                    }
                }
            });
        }
    }
    let decisions = st.decisions(&m.id).unwrap_or_default();
    let now = Utc::now();
    body.push(charts_html(&*st, &m.id, state.as_ref(), &decisions, now));
    body.push(records::decisions_html(&m.id, &decisions, before));
    body.push(records::records_html(m, now));
    let content = html! {
        @for part in &body { (part) }
    };
    page(
        &m.id,
        shell(last_seq(&*st, Some(&m.id)), content),
        Some(&m.id),
    )
}

fn humantime(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The operator's buttons: a form each, with a reason where the command takes one.
fn commands_html(id: &str, phase: &Phase, validating: bool) -> Markup {
    let form = |action: &str, label: &str, class: &str, reason: bool| {
        html! {
            form class="inline" method="post" action={ (release_href(id)) "/" (action) } {
                @if reason {
                    input type="text" name="reason" placeholder="reason" required;
                    " "
                }
                button class=(class) name="do" value=(action) { (label) }
            }
        }
    };
    html! {
        p {
            @if validating {
                (form("abort", "Roll back", "danger", true))
            } @else {
                @if let Phase::Paused { .. } = phase {
                    (form("resume", "Resume", "", false))
                } @else {
                    (form("pause", "Pause", "", true))
                    (form("promote", "Promote", "", true))
                }
                (form("abort", "Roll back", "danger", true))
            }
        }
    }
}

/// Points a chart line keeps at most: a day-long rollout ticks thousands of times, and a
/// 500-pixel chart shows no more.
const CHART_POINTS: usize = 500;

/// Error rate and p99 of stable vs canary over the rollout (since it was created), from the
/// samples ship recorded, with the rollback thresholds — those of the rollout's plan, i.e. the
/// approved contract's triggers, which are what rolls back (not ship.toml now) — and a marker
/// where each stage was entered.
fn charts_html(
    st: &dyn StateStore,
    id: &str,
    rollout: Option<&(Plan, Rollout, DateTime<Utc>)>,
    decisions: &[DecisionRow],
    now: DateTime<Utc>,
) -> Markup {
    let since = rollout.map_or(DateTime::<Utc>::UNIX_EPOCH, |(_, _, created)| *created);
    let triggers = rollout
        .map(|(plan, _, _)| plan.triggers.as_slice())
        .unwrap_or_default();
    let series = |key: &str| {
        let all = st
            .sample_values(&[id.to_string()], key, since, now)
            .unwrap_or_default();
        thin(all, CHART_POINTS)
    };
    let stable_err = series("stable/error_rate");
    let base = stable_err.last().map(|(_, v)| *v).unwrap_or(0.0);
    // The increase is in percentage points, the samples are fractions.
    let err_limit = triggers.iter().find_map(|t| match t {
        Trigger::ErrorRate { max_increase_pp } => Some(base + max_increase_pp / 100.0),
        _ => None,
    });
    let p99_limit = triggers.iter().find_map(|t| match t {
        Trigger::P99Latency { target, factor } => Some(target.0.as_secs_f64() * factor),
        _ => None,
    });
    let markers = stage_markers(decisions);
    let (canary_err, stable_p99, canary_p99) = (
        series("canary/error_rate"),
        series("stable/latency_p99"),
        series("canary/latency_p99"),
    );
    let pair = |stable, canary| {
        [
            chart::Line {
                name: "stable",
                color: "#718096",
                width: 3.0,
                dash: None,
                points: stable,
            },
            chart::Line {
                name: "canary",
                color: "#2c7be5",
                width: 2.0,
                dash: Some("7 4"),
                points: canary,
            },
        ]
    };
    let err = chart::svg(
        "error rate",
        &pair(&stable_err, &canary_err),
        err_limit.map(|l| ("rollback threshold", l)),
        &markers,
        &chart::Unit {
            factor: 100.0,
            suffix: " %",
            min_top: 0.001,
        },
    );
    let p99 = chart::svg(
        "p99 latency",
        &pair(&stable_p99, &canary_p99),
        p99_limit.map(|l| ("rollback threshold", l)),
        &markers,
        &chart::Unit {
            factor: 1000.0,
            suffix: " ms",
            min_top: 0.001,
        },
    );
    html! {
        div class="card" {
            b { "Live metrics" } " " small { "as of " (ts(&now)) }
            div class="charts" { (err) (p99) }
        }
    }
}

/// A marker where each stage was entered (the first decision in it) and where a rollback began.
fn stage_markers(decisions: &[DecisionRow]) -> Vec<chart::Marker> {
    let mut out = vec![];
    let mut stage = None;
    let mut rolled_back = false;
    for d in decisions {
        let d = &d.decision;
        let ends = matches!(
            d.kind,
            DecisionKind::Rollback | DecisionKind::RolledBack | DecisionKind::Failed
        );
        if rolled_back || d.kind == DecisionKind::Ignored {
            continue;
        }
        if ends {
            rolled_back = true;
            let label = if d.kind == DecisionKind::Failed {
                "failed"
            } else {
                "rollback"
            };
            out.push(chart::Marker {
                at: d.at,
                label: label.into(),
                rollback: true,
            });
        } else if stage != Some(d.stage) {
            stage = Some(d.stage);
            out.push(chart::Marker {
                at: d.at,
                label: d.stage_name.clone(),
                rollback: false,
            });
        }
    }
    out
}

/// Every n-th point so that at most `max` remain, the last one always kept (the latest value is
/// what the threshold is compared with).
fn thin(points: Vec<(DateTime<Utc>, f64)>, max: usize) -> Vec<(DateTime<Utc>, f64)> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let step = points.len().div_ceil(max - 1);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// A dashboard command form's body: the operator's reason.
#[derive(Deserialize)]
pub struct CommandForm {
    #[serde(default)]
    reason: String,
}

/// A dashboard button: the same queued command as the API's, for operators, from this origin.
pub async fn command(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    // The token before the body: a client without one never gets to make the server wait.
    if let Err(p) = s.tokens.check(&headers, Role::Operator) {
        return p.into_response();
    }
    let f: CommandForm = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !Tokens::has_bearer(&headers) && !same_origin(&headers) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "cross-origin",
            "the form did not come from this dashboard (no matching Origin or Sec-Fetch-Site)",
        )
        .into_response();
    }
    let input = match crate::api::input(&action, f.reason.trim().to_string()) {
        Ok(i) => i,
        Err(p) => return p.into_response(),
    };
    let by = "dashboard operator";
    match blocking(move || crate::api::queue(&s, &id, &action, input, by)).await {
        Ok(Ok(release)) => Redirect::to(&release_href(&release)).into_response(),
        Ok(Err(p)) | Err(p) => p.into_response(),
    }
}

/// Whether a cookie-authenticated form post came from this dashboard. SameSite=Strict already
/// keeps the cookie off cross-site requests; this is the second lock, and it fails closed.
///
/// `Sec-Fetch-Site` is set by the browser itself (no page can forge it), so when present it
/// decides — which also works behind a reverse proxy that rewrites Host. Older browsers send
/// only `Origin`, compared with the Host (or the proxy's X-Forwarded-Host). A request that says
/// neither is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin";
    }
    let Some(origin) = get("origin") else {
        return false;
    };
    [get("x-forwarded-host"), get("host")]
        .into_iter()
        .flatten()
        .filter(|h| !h.is_empty())
        .any(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn forms_from_this_dashboard_only() {
        let host = ("host", "127.0.0.1:8480");
        assert!(same_origin(&h(&[
            host,
            ("origin", "http://127.0.0.1:8480")
        ])));
        assert!(!same_origin(&h(&[host, ("origin", "http://evil.example")])));
        // Behind a TLS proxy that rewrites Host: the browser's own word, or the forwarded host.
        let public = ("origin", "https://ship.example.com");
        let site = ("sec-fetch-site", "same-origin");
        assert!(same_origin(&h(&[host, public, site])));
        let fwd = ("x-forwarded-host", "ship.example.com");
        assert!(same_origin(&h(&[host, public, fwd])));
        assert!(!same_origin(&h(&[host, public])));
        assert!(same_origin(&h(&[host, site])));
        // The browser says cross-site: refused even with a matching Origin.
        let ours = ("origin", "http://127.0.0.1:8480");
        assert!(!same_origin(&h(&[
            host,
            ours,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&h(&[host, ("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&h(&[host])), "says nothing: refused");
        assert!(!same_origin(&h(&[("origin", "http://")])));
    }

    #[test]
    fn ids_are_url_encoded_in_links_and_charts_thinned() {
        assert_eq!(release_href("2026-11-27-web"), "/releases/2026-11-27-web");
        assert_eq!(
            release_href("a b/\"<x>&?#"),
            "/releases/a%20b%2F%22%3Cx%3E%26%3F%23"
        );
        // UTF-8 bytes and the unreserved marks, as before.
        assert_eq!(release_href("café-1.0_~x"), "/releases/caf%C3%A9-1.0_~x");
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let pts: Vec<_> = (0..10_000)
            .map(|i| (t0 + chrono::Duration::seconds(i), i as f64))
            .collect();
        let thinned = thin(pts, CHART_POINTS);
        assert!(thinned.len() <= CHART_POINTS, "{}", thinned.len());
        assert!(thinned.len() > CHART_POINTS / 2);
        assert_eq!(thinned.first().unwrap().1, 0.0);
        assert_eq!(thinned.last().unwrap().1, 9999.0);
        let few: Vec<_> = (0..3).map(|i| (t0, i as f64)).collect();
        assert_eq!(thin(few.clone(), CHART_POINTS), few);
    }

    #[test]
    fn a_marker_per_stage_entered_and_one_where_the_rollback_began() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let row = |i: i64, kind: DecisionKind, stage: usize, name: &str| DecisionRow {
            id: i,
            release: "r".into(),
            decision: shiploop_rollout::Decision {
                at: t0 + chrono::Duration::seconds(i),
                kind,
                stage,
                stage_name: name.into(),
                weight: 5,
                stage_elapsed_ms: 0,
                reason: String::new(),
                findings: vec![],
                rollback_cause: None,
                pause_cause: None,
                hold: None,
            },
        };
        let log = [
            row(1, DecisionKind::Start, 0, "canary"),
            row(2, DecisionKind::Hold, 0, "canary"),
            row(3, DecisionKind::Promote, 1, "early-adopters"),
            row(4, DecisionKind::Ignored, 1, "early-adopters"),
            row(5, DecisionKind::Hold, 1, "early-adopters"),
            row(6, DecisionKind::Rollback, 1, "early-adopters"),
            row(7, DecisionKind::RolledBack, 1, "early-adopters"),
        ];
        let marks: Vec<(i64, String, bool)> = stage_markers(&log)
            .into_iter()
            .map(|m| (m.at.timestamp(), m.label, m.rollback))
            .collect();
        assert_eq!(
            marks,
            [
                (1, "canary".to_string(), false),
                (3, "early-adopters".to_string(), false),
                (6, "rollback".to_string(), true)
            ]
        );
    }
}
