//! The reverse proxy: accepts HTTP/1.1 and h2c, picks a version with [`crate::split`], an
//! instance of it round-robin, forwards over pooled upstream connections, and records every
//! request in the golden metrics.
//!
//! Routing state (the weight) is swapped atomically: a request reads one consistent snapshot,
//! so a weight change never fails a request, and requests already sent to the canary finish
//! there after a rollback.

use crate::measured::{BodyError, Measured, Pending};
use crate::metrics::Outcome;
use crate::pool::{Outgoing, Pool, SendError};
use crate::recorder::{Measurement, Queue, Recorder};
use crate::split::{Splitter, Version};
use crate::timers::{Kept, Timers};
use crate::upload::{Upload, UploadState};
use crate::watchdog;
use arc_swap::ArcSwap;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A response body the proxy sends: an upstream's, measured as it streams, or its own.
pub type Body = BoxBody<Bytes, BodyError>;

/// Where the sticky key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    /// The value of this request header.
    Header(HeaderName),
    /// The value of the cookie with this name.
    Cookie(String),
    /// No sticky key: every request is split anew.
    None,
}

/// How one version's instances share its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// The instance with the fewest requests waiting for an answer; ties go in turn.
    LeastRequests,
}

/// What the proxy serves: the stable and canary instances and how requests are split between them.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The stable release's instances.
    pub stable: Vec<SocketAddr>,
    /// The canary's instances.
    pub canary: Vec<SocketAddr>,
    /// Where the key that keeps a user on one version comes from.
    pub sticky: StickyKey,
    /// The header that forces a version (`stable` / `canary`).
    pub override_header: HeaderName,
    /// The whole exchange, head and body: a response not finished by then is cut off and
    /// counted as a 504 (crate::measured).
    pub request_timeout: Duration,
    /// Seconds of golden metrics to keep.
    pub window_secs: u64,
    /// How one version's instances share its traffic.
    pub balance: Balance,
}

/// Limits on client connections, set with [`Proxy::set_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send its first bytes and a whole request head, and how
    /// long an idle HTTP/1.1 keep-alive connection is kept; an HTTP/2 connection whose client
    /// does not answer a ping within it is closed.
    pub head_timeout: Duration,
    /// Open client connections at most; one accepted beyond it is closed at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: HEADER_READ_TIMEOUT,
            max_connections: 10_000,
        }
    }
}

/// What every request reads, swapped as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// The canary's share of traffic, in percent (0–100).
    pub weight: u8,
}

/// One upstream instance, with what every request to it needs prepared once.
struct Instance {
    addr: SocketAddr,
    /// Its place in the pool (stable instances first, then canary).
    index: usize,
    host: HeaderValue,
    name: String,
    /// Requests sent to it and not yet answered (for least-requests).
    in_flight: AtomicUsize,
    /// What the active health checks last said.
    healthy: AtomicBool,
    /// Milliseconds (proxy clock) until which it is skipped after a failed connect.
    ejected_until: AtomicU64,
}

/// How long an instance that refused a connection is skipped (passive health checking, like
/// Envoy's outlier ejection); the active checks may bring it back sooner or keep it out.
const EJECT_MS: u64 = 5_000;

/// Counts a request as in flight until it is answered or fails.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(n: &'a AtomicUsize) -> InFlight<'a> {
        n.fetch_add(1, Ordering::Relaxed);
        InFlight(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The traffic-splitting proxy: each request to stable or canary by the rollout's weight, measured.
pub struct Proxy {
    cfg: ProxyConfig,
    routing: ArcSwap<Routing>,
    splitter: Splitter,
    rr: [AtomicUsize; 2],
    upstreams: [Vec<Instance>; 2],
    started: Instant,
    /// Golden metrics (requests, errors, latency) per version and per instance; `lock()` them
    /// to read (crate::recorder).
    pub metrics: Recorder,
    limits: ArcSwap<Limits>,
    /// Client connections open now.
    connections: AtomicUsize,
}

/// What one serving thread owns: its upstream connections, so a connection's I/O stays on the
/// thread that uses it, and its queue of measurements (crate::recorder). Cloned for every
/// request: the count it changes is this thread's alone, where a clone of the shared
/// `Arc<Proxy>` moved one cache line between cores on every request.
#[derive(Clone)]
pub struct Upstreams(Arc<Worker>);

struct Worker {
    proxy: Arc<Proxy>,
    pool: Pool,
    queue: Arc<Queue>,
    /// Timers no request is using (crate::timers).
    timers: Arc<Timers>,
}

impl Upstreams {
    /// Forwards `req` with this thread's connections ([`Proxy::handle`]).
    pub(crate) async fn handle<B: IntoUpload>(
        &self,
        req: Request<B>,
        client_ip: &HeaderValue,
    ) -> Response<Body> {
        self.0.proxy.handle(self, req, client_ip).await
    }

    /// Counts one request (see [`Proxy::record`]) through this thread's queue.
    pub(crate) fn record(
        &self,
        version: Version,
        instance: usize,
        outcome: Outcome,
        answered: u16,
        started: Instant,
    ) {
        let w = &self.0;
        w.proxy
            .record(&w.queue, version, instance, outcome, answered, started);
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection and are not forwarded.
/// As `HeaderName`s, not strings: a string is parsed into a name on every lookup, which
/// showed in profiles at proxy request rates.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const ROUTED_TO: HeaderName = HeaderName::from_static("x-ship-routed-to");

fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    // Most messages carry none of these: one pass over the few names present is much cheaper
    // than nine hashed removes (profiled at ~1,900 instructions per proxied request, for a
    // request and a response that had nothing to strip).
    if !h.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    if !h.contains_key(header::CONNECTION) {
        for n in &HOP_BY_HOP[1..] {
            h.remove(n);
        }
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in &HOP_BY_HOP {
        h.remove(n);
    }
}

fn join_cookies(h: &mut hyper::HeaderMap) {
    let crumbs: Vec<Vec<u8>> = h
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    if crumbs.len() < 2 {
        return;
    }
    if let Ok(v) = HeaderValue::from_bytes(&crumbs.join(&b"; "[..])) {
        h.insert(header::COOKIE, v);
    }
}

/// A request body as it goes upstream: hyper's, or none (crate::h1server).
pub trait IntoUpload {
    /// The body to send, and its progress when it has one.
    fn into_upload(self) -> (Upload, Option<Arc<UploadState>>);
}

impl IntoUpload for Incoming {
    fn into_upload(self) -> (Upload, Option<Arc<UploadState>>) {
        Upload::new(self)
    }
}

impl IntoUpload for () {
    fn into_upload(self) -> (Upload, Option<Arc<UploadState>>) {
        (Upload::empty(), None)
    }
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(
            Full::new(Bytes::from(msg.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap_or_default()
}

impl Proxy {
    /// A proxy over `cfg`'s instances, starting with `weight` percent (at most 100) on the canary.
    pub fn new(cfg: ProxyConfig, weight: u8) -> Arc<Proxy> {
        let window = cfg.window_secs;
        let prepare = |list: &[SocketAddr], first: usize| -> Vec<Instance> {
            list.iter()
                .enumerate()
                .map(|(i, a)| Instance {
                    addr: *a,
                    index: first + i,
                    host: HeaderValue::from_str(&a.to_string())
                        .expect("a socket address is a valid header value"),
                    name: a.to_string(),
                    in_flight: AtomicUsize::new(0),
                    healthy: AtomicBool::new(true),
                    ejected_until: AtomicU64::new(0),
                })
                .collect()
        };
        let upstreams = [
            prepare(&cfg.stable, 0),
            prepare(&cfg.canary, cfg.stable.len()),
        ];
        let names = upstreams.iter().flatten().map(|i| i.name.clone()).collect();
        Arc::new(Proxy {
            cfg,
            routing: ArcSwap::from_pointee(Routing {
                weight: weight.min(100),
            }),
            splitter: Splitter::new(),
            rr: [AtomicUsize::new(0), AtomicUsize::new(0)],
            upstreams,
            started: Instant::now(),
            metrics: Recorder::new(window, names),
            limits: ArcSwap::from_pointee(Limits::default()),
            connections: AtomicUsize::new(0),
        })
    }

    /// Sets the connection limits; connections accepted from then on get them.
    pub fn set_limits(&self, limits: Limits) {
        self.limits.store(Arc::new(limits));
    }

    /// The client connection limits in force.
    pub fn limits(&self) -> Limits {
        **self.limits.load()
    }

    /// Client connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The canary's current share of traffic, in percent.
    pub fn weight(&self) -> u8 {
        self.routing.load().weight
    }

    /// Swaps the routing state; in-flight requests keep the snapshot they started with.
    pub fn set_weight(&self, weight: u8) {
        self.routing.store(Arc::new(Routing {
            weight: weight.min(100),
        }));
    }

    /// Seconds since the proxy started: the clock of the metrics windows.
    pub fn now_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn sticky_key<B>(&self, req: &Request<B>) -> Option<Vec<u8>> {
        match &self.cfg.sticky {
            StickyKey::None => None,
            StickyKey::Header(h) => req.headers().get(h).map(|v| v.as_bytes().to_vec()),
            StickyKey::Cookie(name) => req
                .headers()
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_bytes().to_vec()),
        }
    }

    /// A new set of upstream connections and a measurement queue, for one serving thread.
    pub fn upstreams(self: &Arc<Self>) -> Upstreams {
        Upstreams(Arc::new(Worker {
            proxy: self.clone(),
            pool: Pool::new(self.cfg.stable.len() + self.cfg.canary.len()),
            queue: self.metrics.queue(),
            timers: Arc::default(),
        }))
    }

    fn instances(&self, v: Version) -> &[Instance] {
        &self.upstreams[v as usize]
    }

    /// Records what an active health check found, so routing skips unhealthy instances.
    pub fn set_healthy(&self, addr: SocketAddr, healthy: bool) {
        for i in self.upstreams.iter().flatten().filter(|i| i.addr == addr) {
            i.healthy.store(healthy, Ordering::Relaxed);
        }
    }

    fn millis(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// An instance of `v` other than those in `tried` (a bit mask), preferring healthy ones;
    /// when none is healthy, any (better a chance than a certain 503).
    fn pick(&self, v: Version, tried: u64) -> Option<&Instance> {
        let list = self.instances(v);
        let now = self.millis();
        let untried = |i: &&Instance| i.index >= 64 || tried & (1 << i.index) == 0;
        let usable = |i: &&Instance| {
            i.healthy.load(Ordering::Relaxed) && i.ejected_until.load(Ordering::Relaxed) <= now
        };
        // One instance needs no turn: the shared counter is then left alone, so the serving
        // threads do not pass its cache line back and forth on every request.
        let start = match list.len() {
            0 | 1 => 0,
            _ => self.rr[v as usize].fetch_add(1, Ordering::Relaxed),
        };
        let order = (0..list.len()).map(|k| &list[(start + k) % list.len()]);
        let load = |i: &&Instance| i.in_flight.load(Ordering::Relaxed);
        // No allocation on this path: it runs for every request.
        let healthy = match self.cfg.balance {
            Balance::RoundRobin => order.clone().filter(untried).find(usable),
            Balance::LeastRequests => order
                .clone()
                .filter(untried)
                .filter(usable)
                .min_by_key(load),
        };
        healthy.or_else(|| match self.cfg.balance {
            Balance::RoundRobin => order.clone().find(untried),
            Balance::LeastRequests => order.clone().filter(untried).min_by_key(load),
        })
    }

    /// Sends one client request to a stable or canary instance and records what happened.
    pub async fn handle<B: IntoUpload>(
        self: &Arc<Self>,
        client: &Upstreams,
        mut req: Request<B>,
        client_ip: &HeaderValue,
    ) -> Response<Body> {
        let routing = **self.routing.load();
        let forced = req
            .headers()
            .get(&self.cfg.override_header)
            .and_then(|v| v.to_str().ok())
            .and_then(Version::parse);
        let key = self.sticky_key(&req);
        let mut version = self.splitter.choose(routing.weight, forced, key.as_deref());
        // No canary instances (or none yet): stable serves, whatever the weight says.
        if self.instances(version).is_empty() {
            version = Version::Stable;
        }
        let Some(mut upstream) = self.pick(version, 0) else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no upstream instance configured\n",
            );
        };
        // HTTP/2 clients name the host in the URI (:authority), HTTP/1.1 clients in Host; the
        // upstream gets HTTP/1.1 with an origin-form target and a Host header either way.
        if !req.headers().contains_key(header::HOST) {
            let host = req
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .unwrap_or_else(|| upstream.host.clone());
            req.headers_mut().insert(header::HOST, host);
        }
        // HTTP/2 may split Cookie into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
        if req.version() == hyper::Version::HTTP_2 {
            join_cookies(req.headers_mut());
        }
        let path = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *req.uri_mut() = Uri::from(path);
        *req.version_mut() = hyper::Version::HTTP_11;
        strip_hop_by_hop(req.headers_mut());
        let started = Instant::now();
        let mut tried = 0u64;
        // The request's fields are dropped here, once written out (crate::pool::Outgoing).
        let (mut req, upload) = {
            let (parts, body) = req.into_parts();
            let (body, upload) = body.into_upload();
            (Outgoing::new(&parts, body, client_ip), upload)
        };
        let timeout = self.cfg.request_timeout;
        // A refused connection means nothing was sent: the request goes to another instance of
        // the same version (never the other version: the split must hold).
        let result = loop {
            // Only least-requests reads the count: round robin leaves the shared counter alone.
            let in_flight = (self.cfg.balance == Balance::LeastRequests)
                .then(|| InFlight::new(&upstream.in_flight));
            let sent = wait_upstream(
                client.0.pool.send(upstream.index, upstream.addr, req),
                started,
                timeout,
                upload.as_deref(),
                &client.0.timers,
            )
            .await;
            drop(in_flight);
            match sent {
                Waited::Done(Err(SendError {
                    error: e,
                    request: Some(back),
                })) => {
                    upstream
                        .ejected_until
                        .store(self.millis() + EJECT_MS, Ordering::Relaxed);
                    if upstream.index < 64 {
                        tried |= 1 << upstream.index;
                    }
                    match self.pick(version, tried) {
                        Some(next) => {
                            upstream = next;
                            req = back;
                        }
                        None => break Ok(Err(e)),
                    }
                }
                Waited::Done(Err(SendError { error, .. })) => {
                    // The client's own body failed (it hung up mid-upload): not the version's
                    // failure, and with no answer from the upstream, not counted at all.
                    if upload.as_ref().is_some_and(|u| u.failed()) {
                        return text(StatusCode::BAD_REQUEST, "request body incomplete\n");
                    }
                    break Ok(Err(error));
                }
                Waited::Done(Ok(resp)) => break Ok(Ok(resp)),
                Waited::UpstreamTimeout => break Err(()),
                // The client stopped sending its body: the proxy was waiting on the client, not
                // the upstream. Answered 408 and not counted for the version.
                Waited::ClientStalled => {
                    return text(
                        StatusCode::REQUEST_TIMEOUT,
                        "request body not received in time\n",
                    )
                }
            }
        };
        let instance = upstream.name.as_str();
        let (outcome, response) = match result {
            Ok(Ok(mut resp)) => {
                strip_hop_by_hop(resp.headers_mut());
                resp.headers_mut()
                    .insert(ROUTED_TO, HeaderValue::from_static(version.as_str()));
                // Counted when the body ends (crate::measured), within the same deadline.
                let pending = Pending {
                    worker: client.clone(),
                    version,
                    instance: upstream.index,
                    status: resp.status().as_u16(),
                    started,
                    upload: upload.clone(),
                };
                // What is left of the time the proxy may wait on the upstream: counted from when
                // the client's body had arrived (time waiting on the client is not the
                // upstream's), and in the body only while waiting on the upstream.
                let from = upload
                    .as_ref()
                    .map_or(Some(started), |u| u.done_at())
                    .unwrap_or_else(Instant::now);
                let budget = (from + timeout).saturating_duration_since(Instant::now());
                return resp.map(|b| Measured::new(b, budget, pending).boxed());
            }
            Ok(Err(e)) => (
                Outcome::ConnectionError,
                text(
                    StatusCode::BAD_GATEWAY,
                    &format!("upstream {instance}: {e}\n"),
                ),
            ),
            Err(_) => (
                Outcome::ConnectionError,
                text(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!("upstream {instance}: no answer in time\n"),
                ),
            ),
        };
        let answered = response.status().as_u16();
        client.record(version, upstream.index, outcome, answered, started);
        response
    }

    /// Counts one request of `version` sent to the instance at pool place `instance`, timed
    /// from `started` to now; `answered` is the status it is counted under. Queued on the
    /// serving thread's `queue` (crate::recorder).
    fn record(
        &self,
        queue: &Queue,
        version: Version,
        instance: usize,
        outcome: Outcome,
        answered: u16,
        started: Instant,
    ) {
        let finished = Instant::now();
        let m = Measurement {
            second: (finished - self.started).as_secs(),
            version,
            instance,
            outcome,
            answered,
            micros: (finished - started).as_micros() as u64,
        };
        self.metrics.record(queue, m);
    }
}

/// How waiting for the upstream's answer ended.
enum Waited<T> {
    Done(T),
    /// The upstream took longer than `request_timeout` (after the client's body had arrived).
    UpstreamTimeout,
    /// The client sent no part of its body for `request_timeout`.
    ClientStalled,
}

/// Waits for `send`; only time spent waiting on the upstream counts against `timeout`. While
/// the client is still sending its body, the clock is the client's: each part it sends gives
/// it another `timeout`; when its body is complete, the upstream has `timeout` from then.
async fn wait_upstream<F: std::future::Future>(
    send: F,
    started: Instant,
    timeout: Duration,
    upload: Option<&UploadState>,
    timers: &Arc<Timers>,
) -> Waited<F::Output> {
    tokio::pin!(send);
    let mut timer: Option<Kept> = None;
    loop {
        let (deadline, client) = match upload {
            None => (started + timeout, false),
            Some(u) => match u.done_at() {
                Some(done) => (done + timeout, false),
                None => (u.last_progress() + timeout, true),
            },
        };
        let at = tokio::time::Instant::from_std(deadline);
        let timer = match &mut timer {
            Some(t) => {
                t.reset(at);
                t
            }
            None => timer.insert(Timers::take(timers, at)),
        };
        tokio::select! {
            biased;
            out = &mut send => return Waited::Done(out),
            _ = timer => {}
        }
        // The state may have moved on while the timer ran out.
        let moved = match upload {
            None => false,
            Some(u) => {
                let (d, c) = match u.done_at() {
                    Some(done) => (done + timeout, false),
                    None => (u.last_progress() + timeout, true),
                };
                (d, c) != (deadline, client) && d > Instant::now()
            }
        };
        if moved {
            continue;
        }
        return if client {
            Waited::ClientStalled
        } else {
            Waited::UpstreamTimeout
        };
    }
}

/// How long a client may take to send a request head (and how long an idle keep-alive
/// connection is kept), like nginx's client_header_timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The next connection. An accept error (out of file descriptors, a connection reset before
/// it was accepted) must not end the server: it is reported, and accepting resumes shortly.
pub async fn accept(
    listener: &tokio::net::TcpListener,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("warning: accept on {:?}: {e}", listener.local_addr().ok());
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits until the client has sent enough to tell HTTP/1.1 from h2c: its first byte differs
/// from the h2 preface (`Some(false)`), or the whole preface is there (`Some(true)`). `None` if
/// the connection closed first. Only peeks, so the server reads the same bytes. Call it under
/// a timeout: it waits for these bytes without one.
async fn first_bytes(stream: &tokio::net::TcpStream) -> Option<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if buf[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == buf.len() {
            return Some(true);
        }
        // A partial preface: peek returns at once until more arrives, so wait a little.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a new connection speaks h2c (`Some(true)`) or HTTP/1.1, from its first bytes; `None`
/// when it closed or sent nothing within `head_timeout`.
async fn sniff(stream: &tokio::net::TcpStream, head_timeout: Duration) -> Option<bool> {
    tokio::time::timeout(head_timeout, first_bytes(stream))
        .await
        .ok()
        .flatten()
}

/// Serves one client connection with `svc`: the first bytes must come within `head_timeout`,
/// a whole HTTP/1.1 request head too, and an h2c client must answer pings within it. Used by
/// the admin API; the proxy serves plain HTTP/1.1 requests itself (crate::h1server).
pub(crate) async fn serve_client<S, B>(
    stream: tokio::net::TcpStream,
    svc: S,
    head_timeout: Duration,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The protocol is known from the first bytes, so each gets its own server, without the
    // auto-detecting one's extra layer on every read.
    match sniff(&stream, head_timeout).await {
        Some(true) => serve_h2(stream, svc, head_timeout).await,
        Some(false) => serve_h1(stream, svc, head_timeout, tokio::time::Instant::now()).await,
        None => {}
    }
}

/// Serves an h2c connection with hyper. An h2c client that stops answering (or never spoke
/// beyond the preface) is found by pings and its connection closed.
async fn serve_h2<S, B>(stream: tokio::net::TcpStream, svc: S, head_timeout: Duration)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(head_timeout))
        .keep_alive_timeout(head_timeout);
    let _ = b.serve_connection(TokioIo::new(stream), svc).await;
}

/// Serves an HTTP/1.1 connection with hyper. A client that sends no complete request head in
/// time is dropped, so idle or slow connections cannot pile up until the process runs out of
/// file descriptors (crate::watchdog).
pub(crate) async fn serve_h1<I, S, B>(
    io: I,
    svc: S,
    head_timeout: Duration,
    since: tokio::time::Instant,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = watchdog::Activity::since(since);
    let svc = watchdog::Watched {
        inner: svc,
        activity: activity.clone(),
    };
    // The connection is served by a task of its own and the watchdog waits here: polled
    // together in one task, the watchdog's timer was polled on every wake-up of the
    // connection (~330 instructions per request); apart, this task wakes once per timeout.
    let serving = tokio::spawn(
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc),
    );
    let mut serving = AbortOnDrop(serving);
    let timed_out = tokio::select! {
        _ = &mut serving.0 => false,
        _ = watchdog::idle(activity, head_timeout) => true,
    };
    if timed_out {
        // An abort only asks: the task, and the socket it holds, are dropped when the
        // runtime next gets to it. Waited for, so the connection is closed when this
        // returns and the caller frees its slot (max_connections, `connection`).
        serving.0.abort();
        let _ = (&mut serving.0).await;
    }
}

/// A task stopped when its handle is dropped (the caller of `serve_client` gone: a server
/// shutting down).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts a client connection as open until it ends.
struct Open(Arc<Proxy>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one accepted connection (HTTP/1.1 or h2c) until the client closes it.
async fn connection(
    proxy: Arc<Proxy>,
    client: Upstreams,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let limits = **proxy.limits.load();
    // Beyond the cap, a connection is closed at once rather than left to use up the process's
    // file descriptors (and with them the upstream connections).
    if proxy.connections.fetch_add(1, Ordering::Relaxed) >= limits.max_connections {
        proxy.connections.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let _open = Open(proxy.clone());
    let _ = stream.set_nodelay(true);
    let ip = HeaderValue::from_str(&peer.ip().to_string())
        .expect("an IP address is a valid header value");
    match sniff(&stream, limits.head_timeout).await {
        Some(false) => crate::h1server::serve(stream, client, ip, limits.head_timeout).await,
        Some(true) => {
            let svc = hyper::service::service_fn(move |req| {
                let (c, ip) = (client.clone(), ip.clone());
                async move { Ok::<_, std::convert::Infallible>(c.0.proxy.handle(&c, req, &ip).await) }
            });
            serve_h2(stream, svc, limits.head_timeout).await
        }
        None => {}
    }
}

/// Serves the proxy on `listener`, on the caller's runtime, until the task is dropped.
pub async fn serve(proxy: Arc<Proxy>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let client = proxy.upstreams();
    loop {
        let Some((stream, peer)) = accept(&listener).await else {
            continue;
        };
        tokio::spawn(connection(proxy.clone(), client.clone(), stream, peer));
    }
}

/// Serves the proxy on `listener` with `threads` serving threads, each a single-threaded
/// runtime with its own upstream pool; accepted connections are dealt out in turn.
///
/// Why: a proxy request is a chain of small wake-ups (client read → upstream write → upstream
/// read → client write). On a work-stealing runtime those hop between threads; a connection
/// pinned to one thread, like an nginx worker, does the same work with less CPU.
pub async fn serve_on_threads(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    threads: usize,
) -> std::io::Result<()> {
    let mut shards = Vec::new();
    for n in 0..threads.max(1) {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
        let proxy = proxy.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("ship-proxy-{n}"))
            .spawn(move || {
                rt.block_on(async move {
                    let client = proxy.upstreams();
                    while let Some((stream, peer)) = rx.recv().await {
                        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                            continue;
                        };
                        tokio::spawn(connection(proxy.clone(), client.clone(), stream, peer));
                    }
                })
            })?;
        shards.push(tx);
    }
    let mut next = 0;
    loop {
        let Some((stream, peer)) = accept(&listener).await else {
            continue;
        };
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        // A shard whose thread is gone cannot serve; the next one takes the connection.
        let mut item = (stream, peer);
        for _ in 0..shards.len() {
            next = (next + 1) % shards.len();
            match shards[next].send(item) {
                Ok(()) => break,
                Err(e) => item = e.0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> hyper::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn hop_by_hop_headers_stay_on_their_hop_and_the_rest_go_on() {
        let end_to_end = [("host", "a"), ("x-custom", "1"), ("content-length", "3")];
        let mut h = headers(&end_to_end);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&end_to_end), "nothing to strip: untouched");
        let mut h = headers(&[
            ("host", "a"),
            ("keep-alive", "5"),
            ("te", "x"),
            ("upgrade", "h2"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("host", "a")]));
        let mut h = headers(&[
            ("connection", "X-Custom, close"),
            ("x-custom", "1"),
            ("host", "a"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("host", "a")]), "and those Connection names");
    }

    #[tokio::test]
    async fn a_connection_the_watchdog_closes_is_gone_when_serve_client_returns() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        // Half a head: the watchdog closes the connection after the head timeout.
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        // Held by the service, so for as long as the task serving the connection (and with it
        // the socket) is alive.
        let held = Arc::new(());
        let svc = {
            let held = held.clone();
            hyper::service::service_fn(move |_req| {
                let _ = &held;
                async { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new()))) }
            })
        };
        serve_client(stream, svc, Duration::from_millis(100)).await;
        // connection() frees the connection's slot (max_connections) now.
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "the serving task and its socket outlived serve_client"
        );
    }
}
