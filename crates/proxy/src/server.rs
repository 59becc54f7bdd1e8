//! The reverse proxy: accepts HTTP/1.1 and h2c, picks a version with [`crate::split`], an
//! instance of it round-robin, forwards over pooled upstream connections, and records every
//! request in the golden metrics.
//!
//! Routing state (the weight) is swapped atomically: a request reads one consistent snapshot,
//! so a weight change never fails a request, and requests already sent to the canary finish
//! there after a rollback.

use crate::metrics::{Golden, Outcome};
use crate::split::{Splitter, Version};
use arc_swap::ArcSwap;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Where the sticky key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    Header(String),
    Cookie(String),
    None,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub stable: Vec<SocketAddr>,
    pub canary: Vec<SocketAddr>,
    pub sticky: StickyKey,
    /// The header that forces a version (`stable` / `canary`).
    pub override_header: String,
    pub request_timeout: Duration,
    /// Seconds of golden metrics to keep.
    pub window_secs: u64,
}

/// What every request reads, swapped as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    pub weight: u8,
}

pub struct Proxy {
    cfg: ProxyConfig,
    routing: ArcSwap<Routing>,
    splitter: Splitter,
    rr: [AtomicUsize; 2],
    client: Client<HttpConnector, Incoming>,
    started: Instant,
    pub metrics: Mutex<Golden>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all("connection")
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
    for n in HOP_BY_HOP {
        h.remove(*n);
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
    pub fn new(cfg: ProxyConfig, weight: u8) -> Arc<Proxy> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let window = cfg.window_secs;
        Arc::new(Proxy {
            cfg,
            routing: ArcSwap::from_pointee(Routing {
                weight: weight.min(100),
            }),
            splitter: Splitter::new(),
            rr: [AtomicUsize::new(0), AtomicUsize::new(0)],
            client,
            started: Instant::now(),
            metrics: Mutex::new(Golden::new(window)),
        })
    }

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

    fn sticky_key(&self, req: &Request<Incoming>) -> Option<Vec<u8>> {
        match &self.cfg.sticky {
            StickyKey::None => None,
            StickyKey::Header(h) => req.headers().get(h.as_str()).map(|v| v.as_bytes().to_vec()),
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

    fn instances(&self, v: Version) -> &[SocketAddr] {
        match v {
            Version::Stable => &self.cfg.stable,
            Version::Canary => &self.cfg.canary,
        }
    }

    fn pick(&self, v: Version) -> Option<SocketAddr> {
        let list = self.instances(v);
        if list.is_empty() {
            return None;
        }
        let i = self.rr[v as usize].fetch_add(1, Ordering::Relaxed);
        Some(list[i % list.len()])
    }

    pub async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> Response<Body> {
        let routing = **self.routing.load();
        let forced = req
            .headers()
            .get(self.cfg.override_header.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(Version::parse);
        let key = self.sticky_key(&req);
        let mut version = self.splitter.choose(routing.weight, forced, key.as_deref());
        // No canary instances (or none yet): stable serves, whatever the weight says.
        if self.instances(version).is_empty() {
            version = Version::Stable;
        }
        let Some(upstream) = self.pick(version) else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no upstream instance configured\n",
            );
        };
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let Ok(uri) = format!("http://{upstream}{path}").parse::<Uri>() else {
            return text(StatusCode::BAD_REQUEST, "bad request target\n");
        };
        *req.uri_mut() = uri;
        *req.version_mut() = hyper::Version::HTTP_11;
        strip_hop_by_hop(req.headers_mut());
        let xff = match req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) => format!("{prev}, {}", client_addr.ip()),
            None => client_addr.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            req.headers_mut().insert("x-forwarded-for", v);
        }
        let started = Instant::now();
        let result = tokio::time::timeout(self.cfg.request_timeout, self.client.request(req)).await;
        let elapsed = started.elapsed().as_micros() as u64;
        let instance = upstream.to_string();
        let (outcome, response) = match result {
            Ok(Ok(mut resp)) => {
                strip_hop_by_hop(resp.headers_mut());
                resp.headers_mut().insert(
                    "x-ship-routed-to",
                    HeaderValue::from_static(version.as_str()),
                );
                (
                    Outcome::Status(resp.status().as_u16()),
                    resp.map(|b| b.boxed()),
                )
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
        let now = self.now_secs();
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now, version, &instance, outcome, elapsed);
        response
    }
}

/// Serves the proxy on `listener` until the task is dropped.
pub async fn serve(proxy: Arc<Proxy>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let p = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(p.handle(req, peer).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
