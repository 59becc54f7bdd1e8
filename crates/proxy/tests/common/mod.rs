//! A proxy on a free loopback port, both versions sent to one upstream, for the data-plane tests.
#![allow(dead_code)]

use shiploop_proxy::server::{serve_on_threads, Balance, Limits, Proxy, ProxyConfig, StickyKey};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A proxy sending both versions to `up`, `weight` % to the canary, with `request_timeout` and
/// (when given) `limits`.
pub async fn proxy_to(
    up: SocketAddr,
    weight: u8,
    request_timeout: Duration,
    limits: Option<Limits>,
) -> (Arc<Proxy>, SocketAddr) {
    let cfg = ProxyConfig {
        stable: vec![up],
        canary: vec![up],
        sticky: StickyKey::None,
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout,
        window_secs: 120,
        balance: Balance::RoundRobin,
    };
    let p = Proxy::new(cfg, weight);
    if let Some(l) = limits {
        p.set_limits(l);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on_threads(p.clone(), listener, 1));
    (p, addr)
}
