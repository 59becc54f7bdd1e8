//! The proxy's own HTTP/1.1 to its upstreams (crates/proxy/src/h1.rs, response.rs, pool.rs),
//! against raw TCP upstreams that write exactly the bytes each test needs: how answers and
//! uploads are framed, early and interim answers, answers without a body, and when an upstream
//! connection is reused, left alone, or a request sent again on another.
//!
//! Every test runs under a time limit shorter than the proxy's request timeout, so a proxy
//! that waits for bytes that will never come fails the test rather than answering late.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::proxy_to;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame};
use hyper::{HeaderMap, Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request as the upstream read it.
#[derive(Debug, Clone)]
struct Seen {
    /// Its connection: 1 for the first one the upstream accepted, and so on.
    conn: usize,
    method: String,
    target: String,
    /// Names in lower case, in order.
    headers: Vec<(String, String)>,
    /// The body as the upstream decoded it; `None` if its script did not read it.
    body: Option<Vec<u8>>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }
}

/// What the upstream does after reading a request's head.
#[derive(Clone)]
enum Act {
    /// Reads the request's body (by its content-length, or chunked).
    ReadBody,
    Write(Vec<u8>),
    /// Writes these bytes one write per byte, a moment apart, so that every byte arrives
    /// on its own.
    Bytewise(Vec<u8>),
    Sleep(Duration),
    /// Closes the connection (with unread bytes of the request left, the kernel resets it).
    Close,
    /// Keeps the connection open without reading from it again.
    Hold,
}

fn write(b: &[u8]) -> Act {
    Act::Write(b.to_vec())
}

/// An answer with `body` and its content-length.
fn ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The body read, then `answer`: what a well-behaved upstream does.
fn answer(answer: Vec<u8>) -> Vec<Act> {
    vec![Act::ReadBody, Act::Write(answer)]
}

type Script = dyn Fn(&Seen) -> Vec<Act> + Send + Sync;

/// A raw upstream on a free loopback port: for each request it reads the head, records it,
/// and plays what `script` says for it. After the script it reads the connection's next
/// request (unless the script closed or held the connection, or left the body unread).
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    conns: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start(script: impl Fn(&Seen) -> Vec<Act> + Send + Sync + 'static) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script: Arc<Script> = Arc::new(script);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(serve_connection(stream, n, script.clone(), s.clone()));
            }
        });
        Upstream { addr, seen, conns }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests for `target`, in the order they came.
    fn seen_at(&self, target: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target == target)
            .collect()
    }

    fn conns(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads from `s` into `buf` until `done` says where what is wanted ends; `None` at the
/// connection's end.
async fn fill_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        if let Some(n) = done(buf) {
            return Some(n);
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The request body, decoded by its framing (written here independently of the proxy's own
/// chunked code, so a mistake there cannot cancel out).
async fn read_body(s: &mut TcpStream, buf: &mut Vec<u8>, req: &Seen) -> Option<Vec<u8>> {
    if req.chunked() {
        let mut out = Vec::new();
        loop {
            let end = fill_until(s, buf, |b| find(b, b"\r\n")).await?;
            let line = String::from_utf8(buf[..end].to_vec()).unwrap();
            buf.drain(..end + 2);
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("chunk-size line {line:?}"));
            if size == 0 {
                // The trailer section, up to its empty line.
                loop {
                    let end = fill_until(s, buf, |b| find(b, b"\r\n")).await?;
                    buf.drain(..end + 2);
                    if end == 0 {
                        return Some(out);
                    }
                }
            }
            fill_until(s, buf, |b| (b.len() >= size + 2).then_some(size)).await?;
            assert_eq!(&buf[size..size + 2], b"\r\n", "a chunk ends with CRLF");
            out.extend(buf.drain(..size));
            buf.drain(..2);
        }
    } else {
        let n = req.content_length().unwrap_or(0);
        fill_until(s, buf, |b| (b.len() >= n).then_some(n)).await?;
        Some(buf.drain(..n).collect())
    }
}

async fn serve_connection(
    mut s: TcpStream,
    conn: usize,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let Some(end) = fill_until(&mut s, &mut buf, |b| find(b, b"\r\n\r\n")).await else {
            return;
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let (method, target) = (first.next().unwrap(), first.next().unwrap());
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let req = Seen {
            conn,
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body: None,
        };
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(req.clone());
            seen.len() - 1
        };
        let mut body_left = req.chunked() || req.content_length().unwrap_or(0) > 0;
        for act in script(&req) {
            match act {
                Act::ReadBody => {
                    let Some(body) = read_body(&mut s, &mut buf, &req).await else {
                        return;
                    };
                    seen.lock().unwrap()[index].body = Some(body);
                    body_left = false;
                }
                Act::Write(b) => {
                    if s.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Act::Bytewise(b) => {
                    for byte in b {
                        if s.write_all(&[byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Act::Sleep(d) => tokio::time::sleep(d).await,
                Act::Close => return,
                Act::Hold => body_left = true,
            }
        }
        if body_left {
            // The next request cannot be told from the rest of this one.
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
    }
}

/// A proxy sending everything to `up`, on one serving thread (so one pool of upstream
/// connections), with a request timeout longer than any test may take.
async fn proxy(up: &Upstream) -> SocketAddr {
    proxy_to(up.addr, 100, Duration::from_secs(30), None)
        .await
        .1
}

/// Runs a test's body, failing it if it takes longer than `secs`: a hang is a failure.
async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("still waiting after {secs} s"))
}

fn client<B>() -> Client<HttpConnector, B>
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2c_client<B>() -> Client<HttpConnector, B>
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Sends `req`; the answer's status, head and whole body.
async fn fetch<B>(c: &Client<HttpConnector, B>, req: Request<B>) -> (u16, HeaderMap, Bytes)
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let resp = c.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

async fn get(c: &Client<HttpConnector, Full<Bytes>>, addr: SocketAddr, path: &str) -> (u16, Bytes) {
    let req = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .unwrap();
    let (status, _, body) = fetch(c, req).await;
    (status, body)
}

fn send_full(method: Method, addr: SocketAddr, path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// `n` bytes that are not all alike, so that a byte lost, doubled or moved shows.
fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 253 + seed) as u8).collect()
}

/// A chunked answer with chunk extensions (one with a quoted `;`) and a trailer section.
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n\
5;name=value\r\nhello\r\n1 ; q=\"a;b\"\r\n,\r\n6\r\n world\r\n0;last\r\nx-sum: 42\r\nx-more: a, b\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_answer_with_extensions_and_trailers_is_forwarded_whole() {
    let up = Upstream::start(|req| {
        if req.target == "/whole" {
            vec![write(CHUNKED)]
        } else if req.target == "/bytewise" {
            vec![Act::Bytewise(CHUNKED.to_vec())]
        } else {
            // "/split/N": the first N bytes, then the rest, so that every boundary between
            // two reads is met once.
            let n: usize = req.target.rsplit('/').next().unwrap().parse().unwrap();
            vec![
                write(&CHUNKED[..n]),
                Act::Sleep(Duration::from_millis(5)),
                write(&CHUNKED[n..]),
            ]
        }
    })
    .await;
    let addr = proxy(&up).await;
    within(20, async {
        let c = client();
        let mut paths = vec!["/whole".to_string(), "/bytewise".to_string()];
        paths.extend((1..CHUNKED.len()).map(|n| format!("/split/{n}")));
        for path in &paths {
            let (status, body) = get(&c, addr, path).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(&body[..], b"hello, world", "{path}");
        }
        assert_eq!(
            up.conns(),
            1,
            "every answer was read to its exact end, so one connection carried them all"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_size_line_without_a_digit_is_an_error() {
    // An empty line where a chunk size should be (here a stray CRLF after a chunk) is not the
    // last chunk: the body must not end there as if it were complete.
    let up = Upstream::start(|req| match req.target.as_str() {
        "/empty" => vec![write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n\r\n6\r\n world\r\n0\r\n\r\n",
        )],
        _ => vec![write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n;ext\r\n\r\n",
        )],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let c: Client<HttpConnector, Full<Bytes>> = client();
        for path in ["/empty", "/extension-only"] {
            let resp = c
                .request(
                    Request::get(format!("http://{addr}{path}"))
                        .body(Full::default())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}: the head was on its way");
            let body = resp.into_body().collect().await;
            assert!(
                body.is_err(),
                "{path}: the client must see the body cut, got {:?}",
                body.map(|b| b.to_bytes())
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_arrive_intact() {
    let big = pattern(4 << 20, 1);
    let chunks: Vec<Vec<u8>> = (0..12).map(|i| pattern(100_000 + i * 7, i)).collect();
    let (b, ch) = (big.clone(), chunks.clone());
    let up = Upstream::start(move |req| match req.target.as_str() {
        "/length" => vec![Act::Write(ok(&b))],
        _ => {
            let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for c in &ch {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            vec![Act::Write(out)]
        }
    })
    .await;
    let addr = proxy(&up).await;
    within(20, async {
        let c = client();
        let (status, body) = get(&c, addr, "/length").await;
        assert_eq!(status, 200);
        assert_eq!(body.len(), big.len());
        assert!(body[..] == big[..], "the 4 MiB body arrived changed");
        let (status, body) = get(&c, addr, "/chunked").await;
        assert_eq!(status, 200);
        assert!(
            body[..] == chunks.concat()[..],
            "the chunked body arrived changed"
        );
        let (_, body) = get(&c, addr, "/length").await;
        assert!(body[..] == big[..]);
        assert_eq!(
            up.conns(),
            1,
            "each answer was read to its end and the connection kept"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_body_with_content_length_arrives_intact() {
    let up = Upstream::start(|_| {
        answer(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok".to_vec())
    })
    .await;
    let addr = proxy(&up).await;
    within(20, async {
        let c = client();
        let sent = pattern(3 << 20, 2);
        for path in ["/a", "/b"] {
            let (status, _, body) =
                fetch(&c, send_full(Method::POST, addr, path, sent.clone())).await;
            assert_eq!((status, &body[..]), (201, &b"ok"[..]));
        }
        for s in up.seen() {
            assert_eq!(s.method, "POST");
            assert_eq!(s.content_length(), Some(sent.len()), "{:?}", s.headers);
            assert!(!s.chunked(), "{:?}", s.headers);
            assert!(
                s.body.as_deref() == Some(&sent[..]),
                "the body arrived changed"
            );
        }
        assert_eq!(up.seen().len(), 2);
        assert_eq!(up.conns(), 1);
    })
    .await;
}

/// A request body in pieces, its length not known up front: an h2c client sends it without
/// a content-length.
struct Pieces(VecDeque<Bytes>);

impl Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_upload_without_content_length_goes_up_chunked_and_intact() {
    let up = Upstream::start(|_| answer(ok(b"got"))).await;
    let addr = proxy(&up).await;
    within(20, async {
        let pieces: Vec<Vec<u8>> = [1, 10, 70_000, 3, 300_000, 5, 1 << 20]
            .iter()
            .enumerate()
            .map(|(i, n)| pattern(*n, i))
            .collect();
        let body = Pieces(pieces.iter().map(|p| Bytes::from(p.clone())).collect());
        let req = Request::put(format!("http://{addr}/unsized"))
            .body(body)
            .unwrap();
        let (status, _, answer) = fetch(&h2c_client(), req).await;
        assert_eq!((status, &answer[..]), (200, &b"got"[..]));
        // With a length (the client knows it): sent as it is.
        let sized = pattern(200_000, 9);
        let (status, _, _) = fetch(
            &h2c_client(),
            send_full(Method::POST, addr, "/sized", sized.clone()),
        )
        .await;
        assert_eq!(status, 200);

        let unsized_ = &up.seen_at("/unsized")[0];
        assert!(unsized_.chunked(), "{:?}", unsized_.headers);
        assert_eq!(unsized_.content_length(), None, "{:?}", unsized_.headers);
        assert!(
            unsized_.body.as_deref() == Some(&pieces.concat()[..]),
            "the chunked upload arrived changed"
        );
        let sized_ = &up.seen_at("/sized")[0];
        assert!(!sized_.chunked(), "{:?}", sized_.headers);
        assert_eq!(sized_.content_length(), Some(sized.len()));
        assert!(sized_.body.as_deref() == Some(&sized[..]));
        assert_eq!(up.conns(), 1);
    })
    .await;
}

const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large";

/// Over a raw connection, a POST to `path` announcing `announced` bytes of which the client
/// sends `sends` (then waits, the connection open); what the proxy answers (head and
/// content-length body), read while the upload goes on. (hyper's client reports a failed
/// write of the body rather than an answer that came before it.)
async fn upload(addr: SocketAddr, path: &str, announced: usize, sends: usize) -> String {
    let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {announced}\r\n\r\n");
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(head.as_bytes()).await?;
        let piece = vec![b'u'; 64 << 10];
        let mut sent = 0;
        while sent < sends {
            let n = piece.len().min(sends - sent);
            w.write_all(&piece[..n]).await?;
            sent += n;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::io::Error>(w)
    });
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if let Some(end) = find(&out, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len: usize = head
                .split("\r\n")
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if out.len() >= end + 4 + len {
                break;
            }
        }
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_reaches_the_client_without_a_hang() {
    // The upstream refuses the upload at its head and never reads the body: the proxy must
    // stop sending it (the upstream's buffers fill up) and pass the answer on.
    let up = Upstream::start(|_| vec![write(TOO_LARGE), Act::Hold]).await;
    let addr = proxy(&up).await;
    within(10, async {
        // A body far larger than the socket buffers between the proxy and the upstream.
        let r = upload(addr, "/upload", 64 << 20, 64 << 20).await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r:?}");
        assert!(r.ends_with("\r\n\r\ntoo large"), "{r:?}");
        // A client that sends a little and waits: the answer comes while the proxy waits
        // on the client, not on a blocked write.
        let r = upload(addr, "/upload", 1 << 20, 1000).await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r:?}");
        assert!(r.ends_with("\r\n\r\ntoo large"), "{r:?}");
    })
    .await;
    assert_eq!(up.seen().len(), 2);
    assert_eq!(up.conns(), 2, "a connection answered early is not reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_then_a_close_reaches_the_client() {
    // The upstream answers at the head and closes at once; with the body unread, its kernel
    // resets the connection, and the proxy's next write of the body fails. The answer, in
    // the proxy's receive buffer before the reset, is still what the client gets.
    let up = Upstream::start(|_| vec![write(TOO_LARGE), Act::Close]).await;
    let addr = proxy(&up).await;
    within(20, async {
        for i in 0..10 {
            let r = upload(addr, "/upload", 64 << 20, 64 << 20).await;
            assert!(r.starts_with("HTTP/1.1 413"), "upload {i}: {r:?}");
            assert!(r.ends_with("\r\n\r\ntoo large"), "upload {i}: {r:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_are_skipped() {
    let up = Upstream::start(|req| match req.target.as_str() {
        "/get" => vec![
            write(b"HTTP/1.1 100 Continue\r\n\r\n"),
            write(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"),
            Act::Write(ok(b"after interim")),
        ],
        // The 100 comes at once, while the proxy is still sending the body; the upstream
        // reads the body only a moment later, so the proxy's writes are blocked meanwhile.
        _ => vec![
            write(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Act::Sleep(Duration::from_millis(100)),
            Act::ReadBody,
            Act::Write(ok(b"got it")),
        ],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let (status, body) = get(&client(), addr, "/get").await;
        assert_eq!((status, &body[..]), (200, &b"after interim"[..]));
        let sent = pattern(8 << 20, 3);
        let (status, _, body) = fetch(
            &client(),
            send_full(Method::POST, addr, "/post", sent.clone()),
        )
        .await;
        assert_eq!((status, &body[..]), (200, &b"got it"[..]));
        let post = &up.seen_at("/post")[0];
        assert!(
            post.body.as_deref() == Some(&sent[..]),
            "the body went whole after the 100"
        );
        let (status, body) = get(&client(), addr, "/get").await;
        assert_eq!((status, &body[..]), (200, &b"after interim"[..]));
        assert_eq!(up.conns(), 1, "an interim answer does not end the exchange");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_a_body_do_not_hang() {
    // Each names a length it does not send (RFC 9110 §8.6: HEAD, 304), or has none (204).
    let up = Upstream::start(|req| match req.target.as_str() {
        "/head" => vec![write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")],
        "/304" => vec![write(
            b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\ncontent-length: 7\r\n\r\n",
        )],
        "/204" => vec![write(
            b"HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n",
        )],
        "/head-chunked" => vec![write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        )],
        _ => vec![Act::Write(ok(b"after"))],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let c = client();
        let head = |path: &str| {
            Request::head(format!("http://{addr}{path}"))
                .body(Full::default())
                .unwrap()
        };
        let (status, _, body) = fetch(&c, head("/head")).await;
        assert_eq!((status, body.len()), (200, 0));
        let (status, _, body) = fetch(&c, head("/head-chunked")).await;
        assert_eq!((status, body.len()), (200, 0));
        assert_eq!(get(&c, addr, "/304").await, (304, Bytes::new()));
        assert_eq!(get(&c, addr, "/204").await, (204, Bytes::new()));
        assert_eq!(get(&c, addr, "/after").await, (200, Bytes::from("after")));
        assert_eq!(
            up.conns(),
            1,
            "no body was waited for, and the connection carried every request"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_reused_only_when_its_answer_allows() {
    // After each of these the upstream goes on reading requests on the same connection, so
    // a request the proxy wrongly sent there would be answered, and seen.
    let up = Upstream::start(|req| match req.target.as_str() {
        "/close" => vec![write(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nclose",
        )],
        "/http10" => vec![write(b"HTTP/1.0 200 OK\r\ncontent-length: 4\r\n\r\n1.0!")],
        "/http10-keep-alive" => vec![write(
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 4\r\n\r\nkept",
        )],
        // HTTP/1.0 has no Transfer-Encoding: its framing is not trusted (RFC 9112 §6.1).
        "/http10-chunked" => vec![write(
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\n1.0\r\n0\r\n\r\n",
        )],
        "/te-and-cl" => vec![write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nte\r\n0\r\n\r\n",
        )],
        // Bytes past the end of the body: a second answer nobody asked for.
        "/extra" => vec![write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nextraHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled",
        )],
        "/until-close" => vec![
            write(b"HTTP/1.1 200 OK\r\nx-framing: none\r\n\r\nuntil "),
            Act::Sleep(Duration::from_millis(50)),
            write(b"the end"),
            Act::Close,
        ],
        _ => vec![Act::Write(ok(b"keep"))],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let c = client();
        let cases: [(&str, &[u8], bool); 7] = [
            ("/close", b"close", false),
            ("/http10", b"1.0!", false),
            ("/http10-keep-alive", b"kept", true),
            ("/http10-chunked", b"1.0", false),
            ("/te-and-cl", b"te", false),
            ("/extra", b"extra", false),
            ("/until-close", b"until the end", false),
        ];
        for (path, expected, reused) in cases {
            let before = get(&c, addr, "/keep").await;
            assert_eq!(before, (200, Bytes::from("keep")), "before {path}");
            let (status, body) = get(&c, addr, path).await;
            assert_eq!((status, &body[..]), (200, expected), "{path}");
            let after = get(&c, addr, "/keep").await;
            assert_eq!(after, (200, Bytes::from("keep")), "after {path}");
            let seen = up.seen();
            let n = seen.len();
            let (prev, this, next) = (&seen[n - 3], &seen[n - 2], &seen[n - 1]);
            assert_eq!(this.target, path);
            assert_eq!(prev.conn, this.conn, "{path} went on a kept connection");
            if reused {
                assert_eq!(next.conn, this.conn, "the connection after {path} is kept");
            } else {
                assert_ne!(
                    next.conn, this.conn,
                    "the connection after {path} is not reused"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_on_a_kept_connection_the_upstream_closed_is_sent_again() {
    let up = Upstream::start(|req| match (req.target.as_str(), req.conn) {
        // The upstream closes the kept connection as the request arrives, answering nothing
        // (as a server whose keep-alive timeout ran out just then does).
        ("/raced", 1) => vec![Act::Close],
        // It closes the connection a moment after answering, while it is idle in the pool.
        ("/then-idle", _) => vec![
            Act::Write(ok(b"first")),
            Act::Sleep(Duration::from_millis(100)),
            Act::Close,
        ],
        // Part of an answer, then the close: the request may have been acted on.
        ("/partial", _) => vec![write(b"HTTP/1.1 200 OK\r\ncontent-le"), Act::Close],
        (path, _) => vec![Act::Write(ok(path.as_bytes()))],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let c = client();
        assert_eq!(get(&c, addr, "/first").await, (200, Bytes::from("/first")));
        assert_eq!(get(&c, addr, "/raced").await, (200, Bytes::from("/raced")));
        let raced = up.seen_at("/raced");
        assert_eq!(raced.len(), 2, "sent again: {raced:?}");
        assert_eq!((raced[0].conn, raced[1].conn), (1, 2));

        assert_eq!(
            get(&c, addr, "/then-idle").await,
            (200, Bytes::from("first"))
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(get(&c, addr, "/idle").await, (200, Bytes::from("/idle")));

        assert_eq!(get(&c, addr, "/kept").await, (200, Bytes::from("/kept")));
        let (status, _) = get(&c, addr, "/partial").await;
        assert_eq!(status, 502);
        let partial = up.seen_at("/partial");
        assert_eq!(partial.len(), 1, "part of an answer came: not sent again");
        assert_eq!(
            partial[0].conn,
            up.seen_at("/kept")[0].conn,
            "it went on a kept connection"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_on_a_kept_connection_the_upstream_closed_is_not_sent_again() {
    let up = Upstream::start(|req| match req.method.as_str() {
        // Takes the request and closes without an answer.
        "POST" | "PUT" if req.target == "/read-then-close" => vec![Act::ReadBody, Act::Close],
        "POST" => vec![Act::Close],
        _ => vec![Act::Write(ok(b"kept"))],
    })
    .await;
    let addr = proxy(&up).await;
    within(10, async {
        let c = client();
        let cases = [
            (Method::POST, "/read-then-close", 4),
            // Idempotent, but its body was taken from the client: it cannot go again.
            (Method::PUT, "/read-then-close", 4),
            // The upstream closes as the head arrives, the body unread: a small body is
            // written before the reset comes, and the answer's head is found missing...
            (Method::POST, "/closes-at-the-head", 4),
            // ...a large one meets the reset while it is being sent.
            (Method::POST, "/closes-at-the-head-large", 8 << 20),
        ];
        for (method, path, size) in cases {
            let kept = get(&c, addr, "/kept").await;
            assert_eq!(kept, (200, Bytes::from("kept")));
            let before = up.seen().len();
            let status = if size < 1 << 20 {
                fetch(&c, send_full(method.clone(), addr, path, pattern(size, 5)))
                    .await
                    .0
            } else {
                let r = upload(addr, path, size, size).await;
                r.get(9..12).unwrap_or_default().parse().unwrap_or(0)
            };
            assert_eq!(status, 502, "{method} {path} ({size} bytes)");
            let seen = up.seen();
            assert_eq!(
                seen.len(),
                before + 1,
                "{method} {path} ({size} bytes) sent once: {:?}",
                &seen[before..]
            );
            assert_eq!(
                seen[before - 1].conn,
                seen[before].conn,
                "on the kept connection"
            );
        }
    })
    .await;
}
