//! The upstream's response body on its way to the client. A request is counted when its body
//! ends, not when the head arrives, so a response the upstream cuts off or sends too slowly
//! counts as an error of its version:
//!
//! - the body ends cleanly: counted under the upstream's status;
//! - the upstream fails mid-body (connection closed short of `Content-Length`, a chunked body
//!   cut off): counted as the proxy's 502, a connection error;
//! - the proxy waits on the upstream longer than `request_timeout` (head and body together,
//!   like Envoy's route timeout, but only the time spent waiting on the upstream: not while
//!   the client is still sending its body, nor while a slow client reads): counted as the
//!   proxy's 504, a connection error.
//!
//! In the two failures the body yields an error, so hyper aborts the client's connection (an
//! HTTP/2 stream is reset) and the client never sees a clean, short response. The latency is
//! taken when the body ends or fails.
//!
//! A client that hangs up first (the body is dropped before its end) did not meet a failure of
//! the upstream: the request counts under the upstream's status, with its time until the
//! hang-up, as Envoy and linkerd keep a client's cancel apart from the upstream's errors. So
//! does a body cut off because the client's upload failed (crate::upload).
//!
//! Cost on the hot path: no allocation (the wrapper takes the upstream's body into the same
//! box), an `Arc` clone, and per frame one `is_end_stream` check; the body's timer is made
//! only when the proxy has to wait for the upstream's body, never for a body that arrives
//! with its head.

use crate::metrics::Outcome;
use crate::response::UpstreamBody;
use crate::server::Upstreams;
use crate::split::Version;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::Sleep;

/// Why a response body did not reach its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The upstream failed while sending the body.
    #[error("upstream response body: {0}")]
    Upstream(#[from] crate::h1::ExchangeError),
    /// The body did not end within the request timeout.
    #[error("upstream response not finished within the request timeout")]
    Timeout,
}

/// What is counted once the body ends.
pub(crate) struct Pending {
    /// The serving thread, whose queue counts the request.
    pub worker: Upstreams,
    pub version: Version,
    /// The instance's place in the pool.
    pub instance: usize,
    pub status: u16,
    pub started: Instant,
    /// The client's upload, if the request had a body.
    pub upload: Option<Arc<crate::upload::UploadState>>,
}

impl Pending {
    fn finish(self, outcome: Outcome, answered: u16) {
        self.worker
            .record(self.version, self.instance, outcome, answered, self.started);
    }
}

pin_project! {
    /// An upstream response body that counts its request when it ends.
    pub struct Measured {
        #[pin]
        inner: UpstreamBody,
        // How long the proxy may still wait on the upstream's body.
        budget: Duration,
        // Since when the proxy has been waiting on the upstream (None: not waiting).
        waiting_since: Option<tokio::time::Instant>,
        // Made the first time the proxy waits for the upstream's body.
        #[pin]
        timer: Option<Sleep>,
        // None once counted.
        pending: Option<Pending>,
    }

    impl PinnedDrop for Measured {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end was seen: the client hung up, or hyper stopped at a body
            // it knew was complete (HEAD, 204, 304, Content-Length reached). Either way no
            // failure of the upstream.
            if let Some(p) = this.project().pending.take() {
                let status = p.status;
                p.finish(Outcome::Status(status), status);
            }
        }
    }
}

impl Measured {
    pub(crate) fn new(inner: UpstreamBody, budget: Duration, pending: Pending) -> Self {
        Measured {
            inner,
            budget,
            waiting_since: None,
            timer: None,
            pending: Some(pending),
        }
    }
}

impl Body for Measured {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        // The wait on the upstream ended: only that time is taken from the budget, so a
        // client that reads slowly does not use up the upstream's time.
        if polled.is_ready() {
            if let Some(since) = this.waiting_since.take() {
                *this.budget = this.budget.saturating_sub(since.elapsed());
            }
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    if let Some(p) = this.pending.take() {
                        let status = p.status;
                        p.finish(Outcome::Status(status), status);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                if let Some(p) = this.pending.take() {
                    let status = p.status;
                    p.finish(Outcome::Status(status), status);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(p) = this.pending.take() {
                    // The upstream's body broke because the client's upload did (the client
                    // hung up mid-body): a client's cancel, under the upstream's status.
                    if p.upload.as_ref().is_some_and(|u| u.failed()) {
                        let status = p.status;
                        p.finish(Outcome::Status(status), status);
                    } else {
                        p.finish(Outcome::ConnectionError, 502);
                    }
                }
                Poll::Ready(Some(Err(BodyError::Upstream(e))))
            }
            // Waiting for the upstream: the deadline is checked (and its timer made) only
            // here, so bytes already received always reach the client, and a body that came
            // with its head costs no timer.
            Poll::Pending => {
                if this.waiting_since.is_none() {
                    let now = tokio::time::Instant::now();
                    *this.waiting_since = Some(now);
                    let deadline = now + *this.budget;
                    match this.timer.as_mut().as_pin_mut() {
                        Some(t) => t.reset(deadline),
                        None => this.timer.set(Some(tokio::time::sleep_until(deadline))),
                    }
                }
                match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
                    Some(Poll::Ready(())) => {
                        if let Some(p) = this.pending.take() {
                            p.finish(Outcome::ConnectionError, 504);
                        }
                        Poll::Ready(Some(Err(BodyError::Timeout)))
                    }
                    _ => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
