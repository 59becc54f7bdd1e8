//! Upstream connections: HTTP/1.1 keep-alive connections per instance, owned by one serving
//! thread.
//!
//! Why not hyper-util's pooled client: it is built for many hosts and many threads (a keyed
//! map behind a lock, checkout futures, a connector stack), and at tens of thousands of
//! requests per second that bookkeeping showed up in profiles as the largest user-space cost
//! after hyper itself. Here the instances are known up front and each thread has its own
//! pool, so a checkout is a scan of a short list for a connection that is ready.
//!
//! A connection stays in the list while it serves a request: hyper's `SendRequest` accepts the
//! next request only after the previous response has been read to the end, and
//! `try_send_request` hands the request back when it was not taken, so a busy connection is
//! never written to twice.

use crate::upload::Upload;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// More connections than this to one instance are used once and then closed.
const MAX_KEPT: usize = 512;

/// A kept connection idle for longer is closed rather than reused. Upstreams close idle
/// keep-alive connections on their own schedule (gunicorn after 2 s, Node after 5 s); a
/// request written just as the upstream closes fails and cannot be retried safely, so ship
/// lets go first. Under load connections are reused long before this.
const MAX_IDLE: Duration = Duration::from_secs(2);

/// Why a request could not be sent to an upstream instance.
#[derive(Debug)]
pub enum PoolError {
    /// No connection to the instance could be opened.
    Connect(std::io::Error),
    /// The HTTP exchange with the instance failed.
    Http(hyper::Error),
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
    pub request: Option<Request<Upload>>,
}

struct Kept {
    sender: SendRequest<Upload>,
    last_used: Instant,
}

/// The connections kept to one instance.
struct List {
    kept: Vec<Kept>,
    /// Where the next scan starts: just after the connection taken last, so the scan meets
    /// the connections used longest ago (the likeliest to be ready) first, rather than passing
    /// the busy ones on every request.
    next: usize,
    /// When closed and over-idle connections were last swept out of the whole list.
    swept: Instant,
}

/// How often the whole list is swept of closed and over-idle connections. In between, a scan
/// drops those it passes and never uses one: sweeping the whole list on every request cost
/// more than the rest of the checkout at 64 client connections.
const SWEEP: Duration = Duration::from_millis(250);

impl List {
    fn stale(k: &Kept, now: Instant) -> bool {
        k.sender.is_closed() || (k.sender.is_ready() && now - k.last_used > MAX_IDLE)
    }

    /// A ready connection, marked used at `now`; closed and over-idle ones met on the way go.
    fn ready(&mut self, now: Instant) -> Option<&mut Kept> {
        if now - self.swept >= SWEEP {
            self.kept.retain(|k| !Self::stale(k, now));
            self.swept = now;
        }
        let mut seen = 0;
        while seen < self.kept.len() {
            let i = (self.next + seen) % self.kept.len();
            if Self::stale(&self.kept[i], now) {
                self.kept.swap_remove(i);
                continue;
            }
            if self.kept[i].sender.is_ready() {
                self.next = i + 1;
                let k = &mut self.kept[i];
                k.last_used = now;
                return Some(k);
            }
            seen += 1;
        }
        None
    }
}

/// One thread's connections, one list per instance (by the instance's index).
#[derive(Clone)]
pub struct Pool {
    lists: Arc<Vec<Mutex<List>>>,
}

impl Pool {
    /// An empty pool for `instances` upstream instances.
    pub fn new(instances: usize) -> Pool {
        let list = || {
            Mutex::new(List {
                kept: Vec::new(),
                next: 0,
                swept: Instant::now(),
            })
        };
        Pool {
            lists: Arc::new((0..instances).map(|_| list()).collect()),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to instance `index` at `addr`.
    pub async fn send(
        &self,
        index: usize,
        addr: SocketAddr,
        req: Request<Upload>,
    ) -> Result<Response<Incoming>, SendError> {
        let list = &self.lists[index];
        let mut req = req;
        // A kept connection first; when it turns out closed before taking the request, the
        // next one; then a new connection.
        loop {
            let sending = {
                let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
                // Closed connections go, and so do idle ones past MAX_IDLE.
                match list.ready(Instant::now()) {
                    Some(k) => k.sender.try_send_request(req),
                    None => break,
                }
            };
            match sending.await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => {
                        return Err(SendError {
                            error: PoolError::Http(e.into_error()),
                            request: None,
                        })
                    }
                },
            }
        }
        let stream = match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                return Err(SendError {
                    error: PoolError::Connect(e),
                    request: Some(req),
                })
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = match http1::handshake(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(e) => {
                return Err(SendError {
                    error: PoolError::Http(e),
                    request: Some(req),
                })
            }
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let sending = sender.send_request(req);
        {
            let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
            if list.kept.len() < MAX_KEPT {
                list.kept.push(Kept {
                    sender,
                    last_used: Instant::now(),
                });
            }
        }
        sending.await.map_err(|e| SendError {
            error: PoolError::Http(e),
            request: None,
        })
    }
}
