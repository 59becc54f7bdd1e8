//! Responses the upstream cuts off or sends too slowly: the request counts as an error of the
//! version, and the client sees the connection fail rather than a clean short answer.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::proxy_to;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shiploop_proxy::server::Proxy;
use shiploop_proxy::split::Version;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One step of what the fake upstream writes after reading a request head.
#[derive(Clone)]
enum Step {
    Write(&'static [u8]),
    Sleep(Duration),
}

/// A raw TCP upstream: for every connection, reads one request head, then plays `steps` and
/// closes the connection.
async fn raw_upstream(steps: Vec<Step>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let steps = steps.clone();
            tokio::spawn(async move {
                if common::read_head(&mut stream).await.is_none() {
                    return;
                }
                for step in steps {
                    match step {
                        Step::Write(b) => {
                            if stream.write_all(b).await.is_err() {
                                return;
                            }
                        }
                        Step::Sleep(d) => tokio::time::sleep(d).await,
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A proxy sending everything to the canary at `canary`.
async fn proxy(canary: SocketAddr, timeout: Duration) -> (Arc<Proxy>, SocketAddr) {
    proxy_to(canary, 100, timeout, None).await
}

type TestClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Status, then the body or the error reading it (given up after 10 s).
async fn fetch(addr: SocketAddr) -> (u16, Result<Bytes, String>) {
    fetch_with(&client(), addr).await
}

async fn fetch_with(c: &TestClient, addr: SocketAddr) -> (u16, Result<Bytes, String>) {
    let resp = c
        .request(
            Request::get(format!("http://{addr}/x"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect()).await;
    let body = match body {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("still reading after 10 s".to_string()),
    };
    (status, body)
}

/// The canary's (requests, errors, requests by code, seconds of latency), once `n` requests
/// are counted (the count lands when the response ends, a moment after the client saw it).
async fn canary_counts(p: &Proxy, n: u64) -> (u64, u64, Vec<(u16, u64)>, f64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        {
            let m = p.metrics.lock().unwrap();
            let t = m.totals(Version::Canary);
            if t.requests >= n || Instant::now() > deadline {
                let codes = t.by_code.iter().map(|(c, n)| (*c, *n)).collect();
                return (t.requests, t.errors, codes, t.sum_secs);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The head of `answer` came (200, already on its way) but its body was cut, and the proxy
/// counted one canary request, an error with status `code`. Returns its recorded seconds.
async fn cut_and_counted(p: &Proxy, answer: (u16, Result<Bytes, String>), code: u16) -> f64 {
    let (status, body) = answer;
    assert_eq!(status, 200, "the head was already on its way");
    assert!(body.is_err(), "the client must see the cut, got {body:?}");
    let (requests, errors, codes, secs) = canary_counts(p, 1).await;
    assert_eq!((requests, errors), (1, 1), "codes {codes:?}");
    assert_eq!(codes, vec![(code, 1)]);
    secs
}

fn exposition(p: &Proxy) -> String {
    shiploop_proxy::exposition::render(&p.metrics.lock().unwrap(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_short_of_its_content_length_is_an_error() {
    let up = raw_upstream(vec![Step::Write(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
    )])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(5)).await;
    cut_and_counted(&p, fetch(addr).await, 502).await;
    let text = exposition(&p);
    assert!(
        text.contains("ship_proxy_requests_total{version=\"canary\",code=\"502\"} 1"),
        "{text}"
    );
    assert!(!text.contains("code=\"200\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_client_sees_its_stream_fail_on_a_cut_body() {
    let up = raw_upstream(vec![Step::Write(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
    )])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(5)).await;
    let h2: TestClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    cut_and_counted(&p, fetch_with(&h2, addr).await, 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_cut_off_is_an_error() {
    let up = raw_upstream(vec![Step::Write(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n5\r\nab",
    )])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(5)).await;
    cut_and_counted(&p, fetch(addr).await, 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_request_timeout_is_cut_and_an_error() {
    let up = raw_upstream(vec![
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"),
        Step::Sleep(Duration::from_secs(30)),
        Step::Write(b"0123456789"),
    ])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(1)).await;
    let started = Instant::now();
    let answer = fetch(addr).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "cut after {took:?}");
    let secs = cut_and_counted(&p, answer, 504).await;
    assert!(
        (0.9..2.0).contains(&secs),
        "latency to the cut, got {secs} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_body_counts_with_its_status_and_its_time_to_the_end() {
    let up = raw_upstream(vec![
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"),
        Step::Sleep(Duration::from_millis(400)),
        Step::Write(b"0123456789"),
    ])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(5)).await;
    let (status, body) = fetch(addr).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap().len(), 20);
    let (requests, errors, codes, secs) = canary_counts(&p, 1).await;
    assert_eq!((requests, errors, codes), (1, 0, vec![(200, 1)]));
    assert!(secs >= 0.4, "the time runs to the body's end, got {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_body_is_not_the_versions_error() {
    let up = raw_upstream(vec![
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"),
        Step::Sleep(Duration::from_secs(30)),
    ])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(20)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
    let (requests, errors, codes, secs) = canary_counts(&p, 1).await;
    assert_eq!((requests, errors, codes), (1, 0, vec![(200, 1)]));
    assert!(secs >= 0.3, "its time runs to the hang-up, got {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_request_counts_as_answered() {
    let up = raw_upstream(vec![Step::Write(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
    )])
    .await;
    let (p, addr) = proxy(up, Duration::from_secs(5)).await;
    let resp = client()
        .request(
            Request::head(format!("http://{addr}/x"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.into_body().collect().await.is_ok());
    let (requests, errors, codes, _) = canary_counts(&p, 1).await;
    assert_eq!((requests, errors, codes), (1, 0, vec![(200, 1)]));
}
