//! The client's request body on its way to the upstream. It notes whether the client finished,
//! failed (hung up mid-upload) or stalled, so the proxy can tell a failure the client caused
//! from one of the version: only time spent waiting on the upstream counts against
//! `request_timeout`, and an upload the client abandons or stalls is never the version's error.
//!
//! A request without a body (`GET`, most requests) carries no state: no allocation.

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What the proxy knows about a client's upload.
#[derive(Debug)]
pub struct UploadState {
    origin: Instant,
    /// Milliseconds since `origin` of the last frame received from the client.
    last_progress_ms: AtomicU64,
    /// Milliseconds since `origin` when the body ended, `u64::MAX` until then.
    done_ms: AtomicU64,
    failed: AtomicBool,
}

impl UploadState {
    fn new() -> UploadState {
        UploadState {
            origin: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            done_ms: AtomicU64::new(u64::MAX),
            failed: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The client's body failed: it hung up or broke the framing mid-upload.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// When the whole body had arrived, if it has.
    pub fn done_at(&self) -> Option<Instant> {
        match self.done_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(self.origin + Duration::from_millis(ms)),
        }
    }

    /// When the client last sent part of its body (or the request began).
    pub fn last_progress(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed))
    }
}

pin_project! {
    /// A request body forwarded upstream that records the client's progress.
    pub struct Upload {
        // None: a request that has no body (crate::h1server reads only those itself).
        inner: Option<Incoming>,
        state: Option<Arc<UploadState>>,
    }
}

impl Upload {
    /// Wraps a request body; the state is `None` for a request without one.
    pub fn new(inner: Incoming) -> (Upload, Option<Arc<UploadState>>) {
        let state = (!inner.is_end_stream()).then(|| Arc::new(UploadState::new()));
        let up = Upload {
            inner: Some(inner),
            state: state.clone(),
        };
        (up, state)
    }

    /// The body of a request that has none.
    pub fn empty() -> Upload {
        Upload {
            inner: None,
            state: None,
        }
    }
}

impl Body for Upload {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        if let (Some(s), Poll::Ready(r)) = (this.state.as_ref(), &polled) {
            let now = s.now_ms();
            match r {
                Some(Ok(_)) => s.last_progress_ms.store(now, Ordering::Relaxed),
                Some(Err(_)) => s.failed.store(true, Ordering::Relaxed),
                None => {}
            }
            if matches!(r, None | Some(Ok(_))) && (r.is_none() || inner.is_end_stream()) {
                s.done_ms.store(now, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
