//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API error as an RFC 9457 problem detail.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The problem's type, a URI naming it (`…/problems/not-found`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
}

impl Problem {
    /// A problem with `status`, its type named `kind`.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://shiploop.invalid/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// 404: what was asked for does not exist.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 409: the request conflicts with the current state (a command the rollout refuses now).
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 500: the server failed, not the request (e.g. the state database could not be read).
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// A workspace error: what the CLI would exit 1 or 2 with.
    pub fn from_ws(e: shiploop_workspace::Error) -> Problem {
        use shiploop_workspace::Error as E;
        let text = e.to_string();
        match e {
            E::UnknownRelease(m) => Problem::not_found(m),
            E::Refused(m) => Problem::conflict(m),
            E::Usage(m) => Problem::bad_request(m),
            _ => Problem::internal(text),
        }
    }
}

/// A state-database failure is the server's, not the request's: 500 with the store's message.
impl From<shiploop_store::StoreError> for Problem {
    fn from(e: shiploop_store::StoreError) -> Problem {
        Problem::internal(e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(&self)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ship\""),
            );
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}
