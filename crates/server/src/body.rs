//! Request bodies with a deadline. hyper's header read timeout ends at the request head; a
//! client could then promise a body (`Content-Length: 1000`) and send none, holding its
//! connection and a file descriptor forever. Every body gets `server.request_timeout`,
//! counted from its head, for the whole body (not per chunk: a byte every few seconds is no
//! way around it).

use crate::problem::Problem;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The error a body gives when its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request's body did not arrive within server.request_timeout")]
pub struct TimedOut;

/// A request body that fails with [`TimedOut`] once its deadline passes.
pub struct Deadline {
    inner: Body,
    timer: Pin<Box<Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(TimedOut.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Gives the request's body (when it has one) its deadline.
pub fn with_deadline(req: Request, timeout: Duration) -> Request {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return req;
    }
    req.map(|inner| {
        Body::new(Deadline {
            inner,
            timer: Box::pin(tokio::time::sleep(timeout)),
        })
    })
}

/// The biggest body an endpoint reads (a command's reason, a login form).
const LIMIT: usize = 64 * 1024;

/// Reads the body (408 when its deadline passes, 413 when too big) and gives the request back
/// with it in memory, for axum's `Json` or `Form` to parse as usual. Handlers call it only
/// after checking the token, so an unknown client never gets to hold a connection with one.
pub async fn buffered(req: Request) -> Result<Request, Problem> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, LIMIT).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.is::<TimedOut>() {
                return Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request-timeout",
                    s.to_string(),
                );
            }
            if s.is::<http_body_util::LengthLimitError>() {
                return Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    format!("the body has more than {LIMIT} bytes"),
                );
            }
            source = s.source();
        }
        Problem::bad_request(format!("the body could not be read: {e}"))
    })?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
