//! The head timeout of an HTTP/1.1 client connection: a client must send a whole request head
//! within the timeout of connecting or of its previous answer's end, so idle keep-alive
//! connections and slow-header (slowloris) clients are closed.
//!
//! Why not hyper's `header_read_timeout`: it makes, registers and drops a new timer for every
//! request head (profiled at ~800 instructions per request). Here a connection has one
//! watchdog that wakes once per timeout and asks whether the connection has been idle for that
//! long; each request only marks when it began and when its answer ended.

use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// What one connection is doing.
pub(crate) struct Activity {
    origin: Instant,
    /// Requests taken whose answers have not ended.
    busy: AtomicU32,
    /// Milliseconds since `origin` when the last answer ended (0: the connection's start).
    idle_since_ms: AtomicU64,
}

impl Activity {
    /// A connection idle since `origin` (its start, or its previous answer's end).
    pub(crate) fn since(origin: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            origin,
            busy: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// When the connection will have been idle for `timeout`; `None` while a request is in
    /// hand.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        // A request taken meanwhile keeps the connection.
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.origin + since + timeout)
    }
}

/// Marks a request in hand from its start until its answer has ended or was given up.
pub(crate) struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: &Arc<Activity>) -> Busy {
        a.busy.fetch_add(1, Ordering::AcqRel);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = a.origin.elapsed().as_millis() as u64;
        a.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        a.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves when the connection has been idle for `timeout` (then it is to be closed).
pub(crate) async fn idle(activity: Arc<Activity>, timeout: Duration) {
    let mut at = activity.origin + timeout;
    loop {
        tokio::time::sleep_until(at).await;
        match activity.idle_deadline(timeout) {
            // A request in hand: its answer's end will start a new idle time.
            None => at = Instant::now() + timeout,
            Some(d) if d <= Instant::now() => return,
            Some(d) => at = d,
        }
    }
}

/// A service whose requests mark the connection busy until their answers end.
#[derive(Clone)]
pub(crate) struct Watched<S> {
    pub(crate) inner: S,
    pub(crate) activity: Arc<Activity>,
}

impl<S, B> hyper::service::Service<Request<hyper::body::Incoming>> for Watched<S>
where
    S: hyper::service::Service<Request<hyper::body::Incoming>, Response = Response<B>>,
{
    type Response = Response<Tracked<B>>;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        Answering {
            busy: Some(Busy::new(&self.activity)),
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// A request being answered; its mark moves into the answer's body.
    pub(crate) struct Answering<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F, B, E> Future for Answering<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Tracked<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        let busy = this.busy.take();
        Poll::Ready(out.map(|resp| resp.map(|inner| Tracked { inner, _busy: busy })))
    }
}

pin_project! {
    /// An answer's body, which keeps its request marked until it is dropped (hyper drops it
    /// once it has been written, or when the client is gone).
    pub(crate) struct Tracked<B> {
        #[pin]
        inner: B,
        _busy: Option<Busy>,
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_times_out_and_a_busy_one_does_not() {
        let t = Duration::from_secs(30);
        let a = Activity::since(Instant::now());
        let start = Instant::now();
        // A request taken at 10 s is answered at 100 s: idle again from then.
        let busy = {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Busy::new(&a)
        };
        let watch = tokio::spawn(idle(a.clone(), t));
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert!(!watch.is_finished(), "busy for 90 s: not idle");
        drop(busy);
        watch.await.unwrap();
        assert_eq!(Instant::now() - start, Duration::from_secs(130));
        // A connection that never sends a request: closed one timeout after its start.
        let b = Activity::since(Instant::now());
        let start = Instant::now();
        idle(b, t).await;
        assert_eq!(Instant::now() - start, t);
    }
}
