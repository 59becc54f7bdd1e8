//! A proxy on a free loopback port, both versions sent to one upstream, for the data-plane tests.
#![allow(dead_code)]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shiploop_proxy::server::{serve_on_threads, Balance, Limits, Proxy, ProxyConfig, StickyKey};
use std::convert::Infallible;
use std::future::Future;
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

/// An upstream on a free loopback port answering each request with `answer` (HTTP/1 or h2c, a
/// task per connection); returns its address.
pub async fn serve_upstream<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = hyper::service::service_fn(answer.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Reads from `s` until a whole request head has come: the bytes read (the head and whatever
/// followed it in the same reads), or `None` if the connection ended first.
pub async fn read_head(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}
