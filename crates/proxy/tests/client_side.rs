//! What a client alone can do to the proxy: hold connections open without sending a request,
//! and fail or stall its own uploads. Neither may exhaust the proxy nor count as an error of
//! the version the client was sent to.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::{proxy_to, serve_upstream};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use shiploop_proxy::server::{Limits, Proxy};
use shiploop_proxy::split::Version;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upstream that reads the whole request body, then answers 200 with its length.
async fn upstream() -> SocketAddr {
    serve_upstream(|req: hyper::Request<hyper::body::Incoming>| async move {
        let n = match req.into_body().collect().await {
            Ok(b) => b.to_bytes().len(),
            Err(_) => 0,
        };
        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(format!(
            "{n}"
        )))))
    })
    .await
}

async fn proxy(request_timeout: Duration, limits: Limits) -> (Arc<Proxy>, SocketAddr) {
    proxy_to(upstream().await, 0, request_timeout, Some(limits)).await
}

fn limits(head: Duration) -> Limits {
    Limits {
        head_timeout: head,
        max_connections: 10_000,
    }
}

/// Whether the proxy closed `s` (read gives EOF or an error) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let end = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end.into(), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // h2 SETTINGS, a ping: not a close
        }
    }
}

/// A whole request over a fresh connection; the response as text.
async fn request(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_no_request_are_closed_after_the_head_timeout() {
    let (_p, addr) = proxy(Duration::from_secs(5), limits(Duration::from_millis(300))).await;
    let preface: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // An empty SETTINGS frame after the preface.
    let mut with_settings = preface.to_vec();
    with_settings.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let cases: [(&str, &[u8]); 5] = [
        ("nothing", b""),
        ("P", b"P"),
        ("half a request head", b"GET / HTTP/1.1\r\nHost: x\r\n"),
        ("the h2 preface", preface),
        ("the preface and SETTINGS", &with_settings),
    ];
    let mut open = Vec::new();
    for (name, bytes) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        open.push((name, s));
    }
    for (name, s) in &mut open {
        // Head timeout, plus for h2 the ping's own timeout, plus slack.
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "a connection that sent {name} is still open"
        );
    }
    // A normal request still works.
    let r = request(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let (p, addr) = proxy(
        Duration::from_secs(5),
        Limits {
            head_timeout: Duration::from_secs(30),
            max_connections: 3,
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let end = Instant::now() + Duration::from_secs(2);
    while p.connections() < 3 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(p.connections(), 3);
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(1)).await);
    drop(held);
    let end = Instant::now() + Duration::from_secs(2);
    while p.connections() > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = request(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

fn canary(p: &Proxy) -> (u64, u64) {
    let m = p.metrics.lock().unwrap();
    let t = m.totals(Version::Canary);
    (t.requests, t.errors)
}

const UPLOAD_HEAD: &[u8] =
    b"POST /up HTTP/1.1\r\nHost: x\r\nx-ship-version: canary\r\nContent-Length: 100\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_client_abandons_is_not_an_error_of_the_version() {
    let (p, addr) = proxy(Duration::from_secs(5), limits(Duration::from_secs(5))).await;
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(UPLOAD_HEAD).await.unwrap();
        s.write_all(b"abc").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        canary(&p).1,
        0,
        "canary (requests, errors) {:?}",
        canary(&p)
    );
    // A whole upload is still counted, as a success.
    let mut whole = UPLOAD_HEAD.to_vec();
    whole.extend_from_slice(&[b'x'; 100]);
    let r = request(addr, &whole).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("100"), "{r}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(canary(&p), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_client_stalls_is_not_an_error_of_the_version() {
    let timeout = Duration::from_millis(400);
    let (p, addr) = proxy(timeout, limits(Duration::from_secs(5))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPLOAD_HEAD).await.unwrap();
    s.write_all(b"abc").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    let r = String::from_utf8_lossy(&out);
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert_eq!(
        canary(&p).1,
        0,
        "canary (requests, errors) {:?}",
        canary(&p)
    );

    // A slow upload that keeps coming is not cut at request_timeout: only the upstream's time
    // counts.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPLOAD_HEAD).await.unwrap();
    for _ in 0..10 {
        s.write_all(&[b'x'; 10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut [0u8; 0])).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), s.read_buf(&mut out)).await;
    let r = String::from_utf8_lossy(&out);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(canary(&p), (1, 0));
}

/// An upstream that answers every request at once with `size` bytes.
async fn big_upstream(size: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(vec![b'x'; size]);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_slowly_does_not_use_up_the_upstreams_time() {
    let size = 8 << 20;
    let up = big_upstream(size).await;
    let (p, addr) = proxy_to(up, 100, Duration::from_millis(300), None).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(600),
        "read in {took:?}: not slow enough to test"
    );
    assert!(got > size, "got {got} of {size} bytes in {took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(canary(&p), (1, 0), "read {got} bytes in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_closes_connections_that_send_no_request() {
    let (p, _) = proxy(Duration::from_secs(5), limits(Duration::from_millis(300))).await;
    let admin = Arc::new(shiploop_proxy::admin::Admin {
        proxy: p,
        health: None,
        resources: None,
        token: "t".repeat(32),
        state_file: None,
        fingerprint: String::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(shiploop_proxy::admin::serve(admin, listener));
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /state HTTP/1.1\r\n").await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(3)).await,
        "half a head"
    );
    let r = request(
        addr,
        b"GET /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
}

/// Reads one whole HTTP/1.1 answer with a Content-Length from `s`; its status line.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "closed before a whole answer: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a content-length");
            if got.len() >= end + 4 + len {
                return text.lines().next().unwrap().to_string();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_is_closed_after_the_head_timeout_and_not_while_answering() {
    // The upstream takes 900 ms, three head timeouts: a request in hand keeps its connection.
    let slow = serve_upstream(|_req: hyper::Request<hyper::body::Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(900)).await;
        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("slow"))))
    })
    .await;
    let (_p, addr) = proxy_to(
        slow,
        0,
        Duration::from_secs(5),
        Some(limits(Duration::from_millis(300))),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_answer(&mut s).await, "HTTP/1.1 200 OK");
        // The next request within the head timeout is served on the same connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then idle: closed one head timeout after the last answer.
    let idle_from = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(3)).await,
        "still open"
    );
    assert!(
        idle_from.elapsed() >= Duration::from_millis(150),
        "{:?}",
        idle_from.elapsed()
    );
}
