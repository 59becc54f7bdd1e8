//! `/api/v1`: releases, rollouts, decisions, events (and their SSE stream), gates, signals, and
//! the operator commands. JSON in and out; errors as problem+json.

use crate::auth::Role;
use crate::paging::{self, ListQuery, PhaseFilter};
use crate::problem::Problem;
use crate::{blocking, AppState};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use shiploop_artifacts::release::Status;
use shiploop_controller::Admission;
use shiploop_rollout::{Input, Phase};
use shiploop_store::{StateStore, StoredRollout};
use shiploop_workspace::LoadedRelease;
use std::time::Duration;

type ApiResult = Result<Response, Problem>;

fn store(s: &AppState) -> Result<Box<dyn StateStore + Send>, Problem> {
    shiploop_controller::open_store(s.ws).map_err(Problem::from_ws)
}

/// A release by id or unique name — never a path: the API reads only the releases folder.
fn release(s: &AppState, id: &str) -> Result<LoadedRelease, Problem> {
    if id.contains(['/', '\\']) || id.ends_with(".md") || id.starts_with('.') {
        return Err(Problem::not_found(format!("unknown release `{id}`")));
    }
    s.ws.resolve(id).map_err(|e| {
        let mut p = Problem::from_ws(e);
        // Name the file as the workspace knows it, not where the server keeps it.
        p.detail = p.detail.replace(&format!("{}/", s.ws.root.display()), "");
        p
    })
}

/// The rollout of `arg`: its release's id — or, when the contract cannot be read, `arg` itself
/// if the state database has a rollout by that id, so a rollout whose contract broke mid-flight
/// can still be seen and stopped. The release, when it could be read, comes along.
fn rollout_of(s: &AppState, arg: &str) -> Result<(String, Option<LoadedRelease>), Problem> {
    match release(s, arg) {
        Ok(r) => Ok((r.contract.meta.id.clone(), Some(r))),
        Err(p) if p.status == 404 => Err(p),
        Err(p) => {
            let known = store(s)?.releases()?.iter().any(|r| r == arg);
            if known {
                Ok((arg.to_string(), None))
            } else {
                Err(p)
            }
        }
    }
}

/// A viewer's read: the token checked, then `work` on the blocking pool (every read goes to
/// the workspace's files or the state database).
async fn viewer_read<F>(s: AppState, headers: &HeaderMap, work: F) -> ApiResult
where
    F: FnOnce(&AppState) -> ApiResult + Send + 'static,
{
    s.tokens.check(headers, Role::Viewer)?;
    blocking(move || work(&s)).await?
}

/// `GET /api/v1/releases`: a page of the release contracts' summaries, by id (date, then
/// name), and the page's files that could not be read; the cursor is the last id of a page.
pub async fn releases(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    viewer_read(s, &headers, move |s| {
        let limit = q.limit()?;
        let after = q.cursor();
        if let Some(c) = after {
            let id_like = c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
            if !id_like {
                return Err(paging::bad_cursor(c, "is not a release id"));
            }
        }
        // Only the page's contracts are read: the file names give the ids.
        let mut files = s.ws.release_files().map_err(Problem::from_ws)?;
        let stem = |p: &std::path::PathBuf| {
            p.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        // By id, as the cursor compares: `web.md` sorts after `web-2.md`, `web` before `web-2`.
        files.sort_by_cached_key(stem);
        let mut rest = files
            .iter()
            .filter(|p| after.is_none_or(|a| stem(p).as_str() > a));
        let page: Vec<_> = rest.by_ref().take(limit).collect();
        let more = rest.next().is_some();
        let (mut list, mut unreadable) = (vec![], vec![]);
        for p in &page {
            match s.ws.load_release(p) {
                Ok(r) => list.push(json!(s.ws.summary(&r))),
                Err(e) => unreadable.push(json!({ "file": s.ws.rel(p), "error": e.to_string() })),
            }
        }
        let next = match page.last() {
            Some(last) if more => {
                let cursor = stem(last);
                let link = paging::link(
                    "/api/v1/releases",
                    &[("limit", q.limit.as_deref()), ("cursor", Some(&cursor))],
                );
                Some((cursor, link))
            }
            _ => None,
        };
        Ok(paging::respond(
            json!({ "releases": list, "unreadable": unreadable }),
            next,
        ))
    })
    .await
}

/// `GET /api/v1/releases/{id}`: one release's summary and its contract.
pub async fn release_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    viewer_read(s, &headers, move |s| {
        let r = release(s, &id)?;
        Ok(Json(json!({
            "summary": s.ws.summary(&r),
            "contract": r.contract.meta,
        }))
        .into_response())
    })
    .await
}

/// `GET /api/v1/releases/{id}/gates`: the release's status, approvals, checks, validation, handoff.
pub async fn gates(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    s.tokens.check(&headers, Role::Viewer)?;
    let r = blocking(move || release(&s, &id)).await??;
    let m = &r.contract.meta;
    Ok(Json(json!({
        "release": m.id,
        "status": m.status,
        "approvals": m.approvals,
        "checks": m.checks,
        "validation": m.validation,
        "handoff": m.handoff,
    }))
    .into_response())
}

/// One rollout as the API shows it: where it is, who drives it, and why this server's task for
/// it last failed (until it decides again).
pub fn rollout_view(
    s: &AppState,
    st: &dyn StateStore,
    release: &str,
) -> Result<Option<Value>, Problem> {
    match st.rollout(release)? {
        Some(row) => Ok(Some(view_of(s, st, &row)?)),
        None => Ok(None),
    }
}

/// [`rollout_view`] of a rollout already read.
fn view_of(s: &AppState, st: &dyn StateStore, row: &StoredRollout) -> Result<Value, Problem> {
    let (plan, state) = (&row.plan.plan, &row.state);
    let holder = st.lease_holder(&row.release, Utc::now())?;
    Ok(json!({
        "release": row.release,
        "kind": row.kind,
        "phase": state.phase.name(),
        "reason": phase_reason(&state.phase),
        "stage": plan.stages.get(state.stage).map(|s| s.name.clone()),
        "stage_index": state.stage,
        "weight": state.weight,
        "stages": plan.stages,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "driven_by": holder,
        "last_error": s.metrics.last_error(&row.release),
    }))
}

fn phase_reason(p: &Phase) -> Option<String> {
    match p {
        Phase::Paused { reason }
        | Phase::RollingBack { reason }
        | Phase::RolledBack { reason }
        | Phase::Failed { reason } => Some(reason.clone()),
        _ => None,
    }
}

/// `GET /api/v1/rollouts`: a page of the recorded rollouts, oldest first (an unreadable one
/// listed with its problem), filtered by `phase` and `service`; see [`crate::paging`].
pub async fn rollouts(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    viewer_read(s, &headers, move |s| {
        let limit = q.limit()?;
        let phase = q.phase.as_deref().map(PhaseFilter::parse).transpose()?;
        let service = q.service.as_deref();
        let filtered = phase.is_some() || service.is_some();
        let st = store(s)?;
        // The ids are cheap (no plan or state decoded): only the page's rollouts are read.
        let ids = st.releases()?;
        let scan = if filtered { paging::SCAN } else { limit };
        let (list, next) = paging::page_after(&ids, q.cursor(), limit, scan, |release| {
            let row = match st.rollout(release) {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(None),
                // One unreadable rollout must not hide the others: it is listed with its
                // problem, whatever the filters (nobody can tell its phase, and it may be
                // carrying traffic).
                Err(e) => {
                    return Ok(Some(json!({
                        "last_error": s.metrics.last_error(release),
                        "release": release,
                        "error": Problem::from(e).detail,
                    })))
                }
            };
            if phase.as_ref().is_some_and(|p| !p.keeps(&row.state.phase)) {
                return Ok(None);
            }
            if service.is_some_and(|want| service_of(s, release).is_some_and(|has| has != want)) {
                return Ok(None);
            }
            view_of(s, &*st, &row).map(Some)
        })?;
        let next = next.map(|cursor| {
            let link = paging::link(
                "/api/v1/rollouts",
                &[
                    ("limit", q.limit.as_deref()),
                    ("phase", q.phase.as_deref()),
                    ("service", service),
                    ("cursor", Some(&cursor)),
                ],
            );
            (cursor, link)
        });
        Ok(paging::respond(json!({ "rollouts": list }), next))
    })
    .await
}

/// The service a release's contract names; None when its contract cannot be read (a rollout
/// whose contract broke is kept by every `service` filter: it may still carry traffic).
fn service_of(s: &AppState, release: &str) -> Option<String> {
    if release.contains(['/', '\\']) || release.starts_with('.') {
        return None;
    }
    let path = s.ws.releases_dir().join(format!("{release}.md"));
    s.ws.load_release(&path)
        .ok()
        .map(|r| r.contract.meta.service)
}

fn rollout_id(s: &AppState, id: &str) -> Result<String, Problem> {
    Ok(rollout_of(s, id)?.0)
}

/// `GET /api/v1/rollouts/{id}`: one rollout, as [`rollout_view`] shows it.
pub async fn rollout_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    viewer_read(s, &headers, move |s| {
        let id = rollout_id(s, &id)?;
        let st = store(s)?;
        match rollout_view(s, &*st, &id)? {
            Some(v) => Ok(Json(v).into_response()),
            None => Err(Problem::not_found(format!("{id} has no rollout yet"))),
        }
    })
    .await
}

/// `GET /api/v1/rollouts/{id}/decisions`: a page of the rollout's decisions, in order (the
/// cursor is the last decision's id).
pub async fn decisions(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    viewer_read(s, &headers, move |s| {
        let limit = q.limit()?;
        let after = match q.cursor() {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| paging::bad_cursor(c, "is not a decision's id"))?,
            ),
        };
        let id = rollout_id(s, &id)?;
        let st = store(s)?;
        let mut rows = st.decisions(&id)?;
        rows.retain(|d| after.is_none_or(|a| d.id > a));
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match rows.last() {
            Some(last) if more => {
                let cursor = last.id.to_string();
                let path = format!("/api/v1/rollouts/{}/decisions", paging::segment(&id));
                let link = paging::link(
                    &path,
                    &[("limit", q.limit.as_deref()), ("cursor", Some(&cursor))],
                );
                Some((cursor, link))
            }
            _ => None,
        };
        let list: Vec<Value> = rows
            .into_iter()
            .map(|d| json!({ "id": d.id, "decision": d.decision }))
            .collect();
        Ok(paging::respond(
            json!({ "release": id, "decisions": list }),
            next,
        ))
    })
    .await
}

/// The events endpoints' query string.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Only this release's events (a release or rollout id).
    pub release: Option<String>,
    /// Only events after this sequence number (0: from the start).
    #[serde(default)]
    pub after: i64,
}

/// The events endpoints' query: `after`, and `release` resolved to its id.
async fn events_query(
    s: &AppState,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<(EventsQuery, Option<String>), Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let release = match q.release.clone() {
        Some(r) => {
            let s = s.clone();
            Some(blocking(move || rollout_id(&s, &r)).await??)
        }
        None => None,
    };
    Ok((q, release))
}

/// How many events one page holds at most. A decision's event is about 2.5 kB of JSON and
/// ten times that decoded: 1,000 a page made 400 readers take 3.2 GB.
pub const EVENTS_PAGE: usize = 200;

/// `GET /api/v1/events`: a page of the event log after `after`, and whether more follow.
pub async fn events(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult {
    s.tokens.check(&headers, Role::Viewer)?;
    let (q, release) = events_query(&s, q).await?;
    blocking(move || {
        let st = store(&s)?;
        let list = st.events_since(release.as_deref(), q.after, Some(EVENTS_PAGE))?;
        // A full page may have more after it: the client asks again from the last seq.
        let more = list.len() == EVENTS_PAGE;
        let next = match list.last() {
            Some(last) if more => {
                let after = last.seq.to_string();
                let link = paging::link(
                    "/api/v1/events",
                    &[("release", release.as_deref()), ("after", Some(&after))],
                );
                Some(link)
            }
            _ => None,
        };
        let mut resp = Json(json!({ "events": list, "more": more })).into_response();
        // The body says `more`; the header gives the next page's address, as the other lists do.
        if let Some(v) =
            next.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok())
        {
            resp.headers_mut().insert(header::LINK, v);
        }
        Ok(resp)
    })
    .await?
}

/// Live events as Server-Sent Events; `Last-Event-ID` (or `after`) resumes where a client
/// stopped. The event log is the source (ship's other processes write it too); see
/// `crate::stream` for what a stream costs and the caps on them.
pub async fn events_stream(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult {
    let (_, token) = s.tokens.check_which(&headers, Role::Viewer)?;
    let (q, release) = events_query(&s, q).await?;
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let start = from_header.unwrap_or(q.after);
    let slot = s.streams.admit(token)?;
    let stream = s.streams.stream(slot, release, start, s.stop.clone());
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// `GET /api/v1/signals`: every signal filed in the workspace.
pub async fn signals(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    viewer_read(s, &headers, move |s| {
        let list: Vec<Value> =
            s.ws.signals()
                .map_err(Problem::from_ws)?
                .into_iter()
                .map(|(p, sig)| json!({ "file": s.ws.rel(&p), "signal": sig.meta }))
                .collect();
        Ok(Json(json!({ "signals": list })).into_response())
    })
    .await
}

/// The JSON body of an operator command (pause, resume, promote, abort).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// Why the operator gave the command, recorded in the event log.
    pub reason: Option<String>,
}

/// The longest reason a command takes (characters).
pub const MAX_REASON: usize = 1000;

/// pause, resume, promote, abort: queued for the controller that drives the rollout (this
/// server's), applied at its next tick, recorded in the event log like the CLI's.
pub async fn command(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    // Bearer only: the dashboard's cookie acts through the dashboard's forms, which check
    // where the request came from. The token first: a client without one never gets to make
    // the server wait for a body.
    s.tokens.check_bearer(&headers, Role::Operator)?;
    let req = crate::body::buffered(req).await?;
    let Json(body) = Json::<CommandBody>::from_request(req, &())
        .await
        .map_err(|e: JsonRejection| Problem::bad_request(e.body_text()))?;
    let reason = body.reason.unwrap_or_default().trim().to_string();
    let input = input(&action, reason)?;
    let queued = input.clone();
    let id = blocking(move || queue(&s, &id, &action, queued, "api operator")).await??;
    let value = serde_json::to_value(&input).map_err(|e| Problem::internal(e.to_string()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "release": id, "command": value })),
    )
        .into_response())
}

/// An operator command from its name and reason (every command but resume needs one); the
/// API and the dashboard's buttons take the same commands.
pub fn input(action: &str, reason: String) -> Result<Input, Problem> {
    // The reason goes into the decision log, the contract and the server's log: one line.
    shiploop_artifacts::release::check_plain("the reason", &reason)
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    if reason.chars().count() > MAX_REASON {
        return Err(Problem::bad_request(format!(
            "the reason has more than {MAX_REASON} characters: link to the details instead"
        )));
    }
    Ok(match action {
        "resume" => Input::Resume,
        "pause" | "promote" | "abort" if reason.is_empty() => {
            return Err(Problem::bad_request(format!(
                "{action} needs a reason: {{\"reason\": \"…\"}}"
            )))
        }
        "pause" => Input::Pause { reason },
        "promote" => Input::Promote { reason },
        "abort" => Input::Abort { reason },
        other => {
            return Err(Problem::not_found(format!(
                "unknown command `{other}` (commands: pause, resume, promote, abort)"
            )))
        }
    })
}

/// Queues `input` for the rollout of `id` when it applies; returns the release id.
/// `by` says through what and with which role (`api operator`, `dashboard operator`): tokens
/// carry no names, so the event log records the channel.
pub fn queue(
    s: &AppState,
    id: &str,
    action: &str,
    input: Input,
    by: &str,
) -> Result<String, Problem> {
    let (id, r) = rollout_of(s, id)?;
    let mut st = store(s)?;
    let Some(row) = st.rollout(&id)? else {
        return Err(Problem::not_found(format!(
            "{id} has no rollout yet (`ship rollout start {id} --detach`)"
        )));
    };
    let state = row.state;
    // Without a readable contract the status is unknown: only an unfinished rollout can be
    // acted on (its controller still has the contract it loaded).
    let status = r.as_ref().map(|r| r.contract.meta.status);
    let validating = state.phase == Phase::Completed && status == Some(Status::Validating);
    // The command line's rule too (`ship rollout pause|resume|promote|abort`), from its one
    // home; the API refuses what the command line would record as ignored.
    if shiploop_controller::admit(&state.phase, status, &input) != Admission::Admitted {
        let status = status.map_or("contract unreadable".to_string(), |s| s.to_string());
        return Err(Problem::conflict(format!(
            "{id} is {} ({status}): nothing to {action}",
            state.phase.name(),
        )));
    }
    // An abort of a completed rollout is applied by whoever runs its validation. When nobody
    // will (validation.auto off, or the validation already ended and left the decision to a
    // person) and no live process that would apply it holds the lease (a replica still holding
    // it is only ending its run), it would stay queued forever: say where it can be applied
    // instead.
    let validation_ended = r
        .as_ref()
        .and_then(|r| r.contract.meta.validation.as_ref())
        .is_some_and(|v| v.result != "running");
    if validating && (!s.ws.config.validation.auto || validation_ended) {
        let now = Utc::now();
        let holder = st
            .lease_holder(&id, now)?
            .filter(|h| !shiploop_controller::holder_is_dead(h));
        let applies = match holder {
            Some(h) => shiploop_controller::holder_applies_commands(&*st, &h, true, now)
                .map_err(Problem::from_ws)?,
            None => false,
        };
        if !applies {
            let why = if validation_ended {
                "its validation ended and left the decision to a person"
            } else {
                "this server does not run validations (validation.auto = false)"
            };
            return Err(Problem::conflict(format!(
                "nothing is driving {id} now ({why}): `ship rollout abort {id} --reason …` applies the abort at once"
            )));
        }
    }
    // The server's own task for it is failing: the command would wait for the cause to be
    // mended without anyone knowing; say so instead.
    if let Some(e) = s.metrics.last_error(&id) {
        return Err(Problem::conflict(format!(
            "this server cannot drive {id} now ({}); a command would wait until that is mended",
            e.message
        )));
    }
    st.push_command(&id, &input, by, Utc::now())?;
    Ok(id)
}

/// The release a dashboard page shows (the same rules as the API's).
pub fn release_for_html(s: &AppState, id: &str) -> Result<LoadedRelease, Problem> {
    release(s, id)
}

/// Approvals need the approver's SSH key: the API can never approve.
pub async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    s.tokens.check(&headers, Role::Viewer)?;
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "approval-needs-a-key",
        format!(
            "releases are approved with the approver's SSH key, never over the API: `ship release approve {id} --key <key>`"
        ),
    ))
}
