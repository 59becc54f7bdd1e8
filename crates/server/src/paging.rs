//! Pages of the lists that grow with a team's history (rollouts, releases, decisions): a
//! `limit` and an opaque `cursor` that names where the previous page stopped (a key, never
//! an offset, so rows added meanwhile neither repeat nor hide rows), and the next page's
//! address in the body (`next`) and in a `Link: <…>; rel="next"` header.

use crate::problem::Problem;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::Value;
use shiploop_rollout::Phase;

/// Rows a page holds when the request says no `limit`.
pub const DEFAULT_LIMIT: usize = 100;

/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Rows a filtered page examines at most: a filter that matches few rows must not make one
/// request read every rollout ever recorded. A page that stops there is shorter than `limit`
/// and still has a `next`.
pub const SCAN: usize = 1000;

/// The query string of a paged list. Every value is taken as text and checked here, so a bad
/// one is a 400 that names its parameter.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Rows per page (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    pub limit: Option<String>,
    /// Where the previous page stopped: its `next`, passed back as it was given.
    pub cursor: Option<String>,
    /// Rollouts only: `active`, `terminal` or a phase's name.
    pub phase: Option<String>,
    /// Rollouts only: the service their release contract names.
    pub service: Option<String>,
}

impl ListQuery {
    /// The page's size.
    pub fn limit(&self) -> Result<usize, Problem> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "limit: {text:?} is not a whole number from 1 to {MAX_LIMIT}"
                    ))
                }),
        }
    }

    /// The cursor, None when absent or empty.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// A bad `cursor`: 400, naming the parameter.
pub fn bad_cursor(cursor: &str, why: &str) -> Problem {
    Problem::bad_request(format!(
        "cursor: {cursor:?} {why}; pass back the `next` of the previous page as it was given, or leave cursor out for the first page"
    ))
}

/// Which rollouts `?phase=` keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseFilter {
    /// Not finished: every phase but rolled-back, completed and failed.
    Active,
    /// Finished: rolled-back, completed, failed.
    Terminal,
    /// One phase, by its name (`paused`, `rolling-back`, …).
    Named(&'static str),
}

/// Every phase, for their names (the reasons play no part).
fn phases() -> [Phase; 8] {
    let r = String::new;
    [
        Phase::Pending,
        Phase::Progressing,
        Phase::Paused { reason: r() },
        Phase::RollingBack { reason: r() },
        Phase::RolledBack { reason: r() },
        Phase::Completing,
        Phase::Completed,
        Phase::Failed { reason: r() },
    ]
}

impl PhaseFilter {
    /// `active`, `terminal` or a phase's name; anything else is a 400 naming `phase`.
    pub fn parse(text: &str) -> Result<PhaseFilter, Problem> {
        match text {
            "active" => Ok(PhaseFilter::Active),
            "terminal" => Ok(PhaseFilter::Terminal),
            name => phases()
                .iter()
                .map(Phase::name)
                .find(|n| *n == name)
                .map(PhaseFilter::Named)
                .ok_or_else(|| {
                    let names: Vec<&str> = phases().iter().map(Phase::name).collect();
                    Problem::bad_request(format!(
                        "phase: {name:?} is not active, terminal or one of {}",
                        names.join(", ")
                    ))
                }),
        }
    }

    /// Whether a rollout in `phase` is kept.
    pub fn keeps(&self, phase: &Phase) -> bool {
        match self {
            PhaseFilter::Active => !phase.is_terminal(),
            PhaseFilter::Terminal => phase.is_terminal(),
            PhaseFilter::Named(name) => phase.name() == *name,
        }
    }
}

/// What a query value keeps as it is in a URL: RFC 3986's unreserved characters.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment as a URL carries it (a release id in a link).
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, VALUE).to_string()
}

/// `path?k=v&…` with the values percent-encoded; pairs without a value are left out.
pub fn link(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", utf8_percent_encode(v, VALUE))))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A page's JSON body, with `next` (the cursor of the following page) when there is one, and
/// the same as a `Link` header (`next_link`: the following page's address).
pub fn respond(mut body: Value, next: Option<(String, String)>) -> Response {
    let Some((cursor, next_link)) = next else {
        return Json(body).into_response();
    };
    body["next"] = Value::String(cursor);
    let mut resp = Json(body).into_response();
    // The link is built from percent-encoded parts only, so it is always a valid header.
    if let Ok(v) = HeaderValue::from_str(&format!("<{next_link}>; rel=\"next\"")) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// The page of `ids` that follows `cursor` (one of them; None: the first page): at most
/// `limit` kept rows, examining at most `scan` rows. `keep` reads one row and answers it (None:
/// not kept). Returns the kept rows and, when rows remain after the page, the cursor of the
/// next one (the last row examined).
pub fn page_after<T>(
    ids: &[String],
    cursor: Option<&str>,
    limit: usize,
    scan: usize,
    mut keep: impl FnMut(&str) -> Result<Option<T>, Problem>,
) -> Result<(Vec<T>, Option<String>), Problem> {
    let start = match cursor {
        None => 0,
        Some(c) => match ids.iter().position(|id| id == c) {
            Some(i) => i + 1,
            None => return Err(bad_cursor(c, "names no row of this list")),
        },
    };
    let mut rows = Vec::new();
    let mut end = start;
    for id in &ids[start..] {
        if rows.len() == limit || end - start == scan {
            break;
        }
        end += 1;
        if let Some(row) = keep(id)? {
            rows.push(row);
        }
    }
    let next = (end < ids.len() && end > start).then(|| ids[end - 1].clone());
    Ok((rows, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i:02}")).collect()
    }

    #[test]
    fn pages_walk_every_row_once_and_the_last_has_no_next() {
        let all = ids(25);
        let mut seen = vec![];
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (rows, next) = page_after(&all, cursor.as_deref(), 10, SCAN, |id| {
                Ok(Some(id.to_string()))
            })
            .unwrap();
            pages += 1;
            seen.extend(rows);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 3);
        // Exactly full: no empty page after it.
        let (rows, next) =
            page_after(&ids(10), None, 10, SCAN, |id| Ok(Some(id.to_string()))).unwrap();
        assert_eq!((rows.len(), next), (10, None));
        let e =
            page_after(&all, Some("nope"), 10, SCAN, |id| Ok(Some(id.to_string()))).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.starts_with("cursor:"), "{}", e.detail);
    }

    #[test]
    fn a_filtered_page_stops_after_scanning_its_share() {
        let all = ids(25);
        let odd = |id: &str| {
            Ok(id
                .ends_with(['1', '3', '5', '7', '9'])
                .then(|| id.to_string()))
        };
        let (rows, next) = page_after(&all, None, 100, 8, odd).unwrap();
        assert_eq!(rows, ["r01", "r03", "r05", "r07"]);
        assert_eq!(next.as_deref(), Some("r07"));
    }

    #[test]
    fn limits_and_phases_are_checked_naming_the_parameter() {
        let q = |l: &str| ListQuery {
            limit: Some(l.into()),
            ..ListQuery::default()
        };
        assert_eq!(ListQuery::default().limit().unwrap(), DEFAULT_LIMIT);
        assert_eq!(q("1000").limit().unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", ""] {
            let e = q(bad).limit().unwrap_err();
            assert!(e.detail.starts_with("limit:"), "{bad}: {}", e.detail);
        }
        assert_eq!(
            PhaseFilter::parse("paused").unwrap(),
            PhaseFilter::Named("paused")
        );
        assert!(PhaseFilter::parse("active")
            .unwrap()
            .keeps(&Phase::Progressing));
        assert!(!PhaseFilter::parse("active")
            .unwrap()
            .keeps(&Phase::Completed));
        assert!(PhaseFilter::parse("terminal")
            .unwrap()
            .keeps(&Phase::Completed));
        let e = PhaseFilter::parse("done").unwrap_err();
        assert!(e.detail.starts_with("phase:"), "{}", e.detail);
        assert_eq!(
            link(
                "/api/v1/rollouts",
                &[
                    ("limit", Some("5")),
                    ("cursor", Some("a b&c")),
                    ("phase", None)
                ]
            ),
            "/api/v1/rollouts?limit=5&cursor=a%20b%26c"
        );
    }
}
