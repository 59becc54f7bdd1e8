//! Upstream connections: HTTP/1.1 keep-alive connections per instance, owned by one serving
//! thread, and the exchange of one request over them (crate::h1).
//!
//! A connection has one owner at a time: the pool while it is idle, the request's task while
//! the request goes out and the answer's head comes in, then the answer's body
//! (crate::response), which puts it back when it has read its end. So a checkout is a pop
//! from a list, and no connection is ever written to while it is busy.
//!
//! Why not hyper-util's pooled client, nor hyper's connection API: both drive each connection
//! from a task of its own, with a request handed to it and the answer handed back through
//! channels (crate::h1 says what that cost).

use crate::h1::{self, ExchangeError, Framing};
use crate::response::UpstreamBody;
use crate::upload::Upload;
use bytes::BytesMut;
use hyper::header::HeaderValue;
use hyper::Response;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// More idle connections than this to one instance are closed rather than kept.
const MAX_KEPT: usize = 512;

/// A kept connection idle for longer is closed rather than reused. Upstreams close idle
/// keep-alive connections on their own schedule (gunicorn after 2 s, Node after 5 s); a
/// request written just as the upstream closes fails, so ship lets go first. Under load
/// connections are reused long before this.
const MAX_IDLE: Duration = Duration::from_secs(2);

/// How often idle connections past MAX_IDLE are closed when no request comes to take them.
const SWEEP: Duration = Duration::from_secs(1);

/// Bytes read at a time while waiting for an answer's head.
const HEAD_READ: usize = 8 * 1024;

/// Why a request could not be sent to an upstream instance.
#[derive(Debug)]
pub enum PoolError {
    /// No connection to the instance could be opened.
    Connect(std::io::Error),
    /// The HTTP exchange with the instance failed.
    Http(ExchangeError),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "cannot connect: {e}"),
            PoolError::Http(e) => write!(f, "{e}"),
        }
    }
}

/// A failed send; `request` is given back when it was never written (safe to send elsewhere).
pub struct SendError {
    /// What went wrong.
    pub error: PoolError,
    /// The request, when it was never written.
    pub request: Option<Outgoing>,
}

/// A request ready to go upstream: its head already written out as bytes, and its body.
///
/// The head is encoded once, up front, and the client's request (its method, target and
/// header map) dropped before the exchange. Those fields are slices of hyper's read buffer
/// for the client connection; while any of them lives, hyper's next read on that connection
/// (it reads on while the answer is awaited, to notice a client hanging up) cannot reuse the
/// buffer and allocates a new one — on every request. A retry, on another connection or
/// another instance, writes the same bytes.
pub struct Outgoing {
    head: Vec<u8>,
    body: Upload,
    framing: Framing,
    /// Safe to send again when nothing was answered (RFC 9110 §9.2.2).
    idempotent: bool,
    /// A HEAD request: its answer has no body whatever its fields say.
    head_request: bool,
}

impl Outgoing {
    /// `parts` (origin-form URI, `Host` set, hop-by-hop headers gone) and `body`, with
    /// `client`'s address added to `X-Forwarded-For`.
    pub fn new(
        parts: &hyper::http::request::Parts,
        body: Upload,
        client: &HeaderValue,
    ) -> Outgoing {
        let framing = Framing::of(parts, &body);
        let mut head = Vec::with_capacity(256);
        h1::encode_head(&mut head, parts, framing, client.as_bytes());
        Outgoing {
            head,
            body,
            framing,
            idempotent: parts.method.is_idempotent(),
            head_request: parts.method == hyper::Method::HEAD,
        }
    }
}

/// One connection to an upstream instance.
pub(crate) struct Conn {
    pub(crate) io: TcpStream,
    /// Bytes read and not yet taken (the rest of an answer).
    pub(crate) read: BytesMut,
    /// The request head being written; kept to reuse its allocation.
    write: Vec<u8>,
    /// Where the answer head's fields are (crate::h1::parse_head); kept likewise.
    spans: Vec<h1::Span>,
    last_used: Instant,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let io = TcpStream::connect(addr).await?;
        let _ = io.set_nodelay(true);
        Ok(Conn {
            io,
            read: BytesMut::with_capacity(HEAD_READ),
            write: Vec::with_capacity(512),
            spans: Vec::with_capacity(16),
            last_used: Instant::now(),
        })
    }

    /// Whether an idle connection can take a request: the upstream has not closed it nor sent
    /// anything unasked. Costs no system call unless the socket became readable while idle.
    fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// A failed exchange; `retry`: nothing of it can have been acted on, so on a connection that
/// had been idle (which the upstream may have closed meanwhile) it may be tried again on
/// another.
struct Failed {
    error: ExchangeError,
    retry: bool,
}

/// One request over `conn`: its head, its body, then the answer's head. `Ok(false)` with the
/// head: the upstream answered before taking all of the body.
async fn exchange(conn: &mut Conn, out: &mut Outgoing) -> Result<(h1::Head, bool), Failed> {
    if let Err(e) = conn.io.write_all(&out.head).await {
        // An incomplete head is never acted on.
        return Err(Failed {
            error: e.into(),
            retry: true,
        });
    }
    let framing = out.framing;
    let sent_all = match framing {
        Framing::Empty => true,
        // Boxed: the upload's future is large, and most requests have no body; unboxed it
        // would be moved with every request's own future.
        _ => Box::pin(h1::send_body(
            &conn.io,
            &mut conn.read,
            &mut conn.write,
            &mut out.body,
            framing,
        ))
        .await
        .map_err(|error| Failed {
            error,
            retry: false,
        })?,
    };
    // With nothing answered, a request that is safe to repeat and whose body was not taken
    // from the client may go again.
    let repeatable = framing == Framing::Empty && out.idempotent;
    let mut answered = !conn.read.is_empty();
    loop {
        if answered {
            match h1::parse_head(&mut conn.read, out.head_request, &mut conn.spans) {
                Ok(Some(head)) => return Ok((head, sent_all)),
                Ok(None) => {}
                Err(error) => {
                    return Err(Failed {
                        error,
                        retry: false,
                    })
                }
            }
        }
        conn.read.reserve(HEAD_READ);
        let failed = |error| Failed {
            error,
            retry: repeatable && !answered,
        };
        match tokio::io::AsyncReadExt::read_buf(&mut conn.io, &mut conn.read).await {
            Ok(0) => return Err(failed(ExchangeError::Closed)),
            Ok(_) => answered = true,
            Err(e) => return Err(failed(e.into())),
        }
    }
}

/// One thread's connections, one list per instance (by the instance's index), the most
/// recently used last: it is taken first, and the ones left longest at the bottom age out.
#[derive(Clone)]
pub struct Pool {
    lists: Arc<Vec<Mutex<Vec<Conn>>>>,
}

impl Pool {
    /// An empty pool for `instances` upstream instances. On a tokio runtime, a task closes
    /// its idle connections past their time, so none is left open (or half-closed by the
    /// upstream) when requests stop.
    pub fn new(instances: usize) -> Pool {
        let lists = Arc::new((0..instances).map(|_| Mutex::new(Vec::new())).collect());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&lists)));
        }
        Pool { lists }
    }

    fn list(&self, index: usize) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.lists[index].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection to instance `index` that can take a request.
    fn checkout(&self, index: usize) -> Option<Conn> {
        let now = Instant::now();
        let mut list = self.list(index);
        while let Some(mut conn) = list.pop() {
            if now - conn.last_used > MAX_IDLE {
                // The ones below were left earlier still.
                list.clear();
                return None;
            }
            if conn.usable() {
                return Some(conn);
            }
        }
        None
    }

    /// Gives back a connection whose last answer was read to its end.
    pub(crate) fn put(&self, index: usize, mut conn: Conn) {
        conn.last_used = Instant::now();
        let mut list = self.list(index);
        if list.len() < MAX_KEPT {
            list.push(conn);
        }
    }

    /// Sends `out` to instance `index` at `addr`; the answer's body reads from the
    /// connection, which comes back here at the body's end.
    pub async fn send(
        &self,
        index: usize,
        addr: SocketAddr,
        mut out: Outgoing,
    ) -> Result<Response<UpstreamBody>, SendError> {
        loop {
            let (mut conn, reused) = match self.checkout(index) {
                Some(conn) => (conn, true),
                // Boxed, as the upload above: a new connection is the rare case.
                None => match Box::pin(Conn::open(addr)).await {
                    Ok(conn) => (conn, false),
                    Err(e) => {
                        return Err(SendError {
                            error: PoolError::Connect(e),
                            request: Some(out),
                        })
                    }
                },
            };
            match exchange(&mut conn, &mut out).await {
                Ok((head, sent_all)) => {
                    let keep_alive = head.keep_alive && sent_all;
                    let body = UpstreamBody::new(conn, self.clone(), index, head.body, keep_alive);
                    let mut resp = Response::new(body);
                    *resp.status_mut() = head.status;
                    *resp.headers_mut() = head.headers;
                    return Ok(resp);
                }
                // The upstream closed a kept connection as the request went out: another
                // connection (a new one once the kept ones are used up) takes it.
                Err(f) if reused && f.retry => continue,
                Err(f) => {
                    return Err(SendError {
                        error: PoolError::Http(f.error),
                        request: None,
                    })
                }
            }
        }
    }
}

/// Closes idle connections past MAX_IDLE every SWEEP, until the pool is gone.
async fn sweep(lists: Weak<Vec<Mutex<Vec<Conn>>>>) {
    let mut every = tokio::time::interval(SWEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(lists) = lists.upgrade() else {
            return;
        };
        let now = Instant::now();
        for list in lists.iter() {
            let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
            list.retain(|c| now - c.last_used <= MAX_IDLE);
        }
    }
}
