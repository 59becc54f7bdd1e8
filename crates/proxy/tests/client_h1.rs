//! What an HTTP/1.1 client gets back, byte for byte: plain requests answered by ship's own
//! server loop (crate::h1server) — pipelined, in order, framed right whatever the upstream's
//! framing — and a connection handed to hyper at its first request with a body, the requests
//! after it still answered.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::{proxy_to, read_head};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DATE: &str = "date: Tue, 01 Dec 2026 10:00:00 GMT\r\n";

/// A raw upstream: one request per connection, answered by its path with fixed bytes (so the
/// proxy's framing is what the client sees), then closed.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Some(head) = read_head(&mut s).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                if path == "/slow" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let answer = match path.as_str() {
                    "/slow" => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n{DATE}connection: close\r\n\r\nslow"
                    ),
                    "/dup-length" => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n{DATE}connection: close\r\n\r\nhello"
                    ),
                    "/length" => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n{DATE}connection: close\r\n\r\nhello"
                    ),
                    "/chunked" => format!(
                        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                    ),
                    "/until-close" => format!("HTTP/1.0 200 OK\r\n{DATE}\r\nbye"),
                    "/no-content" => {
                        format!("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n{DATE}connection: close\r\n\r\n")
                    }
                    "/no-date" => {
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()
                    }
                    _ => format!(
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n{DATE}connection: close\r\n\r\n"
                    ),
                };
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Sends `raw` on one connection and reads until the proxy closes it.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the proxy closes the connection after `connection: close`")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A 200 as the proxy writes it: the upstream's `fields`, the proxy's routing field, then its
/// own `framing` field (content-length or transfer-encoding), if any.
fn answer(fields: &str, framing: &str, body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{fields}x-ship-routed-to: stable\r\n{framing}\r\n{body}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_plain_requests_are_answered_in_order_and_framed_for_the_client() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    let got = exchange(
        addr,
        b"GET /length HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /chunked HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /until-close HTTP/1.1\r\nhost: x\r\n\r\n\
          HEAD /length HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /no-content HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let want = [
        // The upstream's date passes through, its length is written once as the framing; its
        // `connection: close` is its own hop's.
        answer(DATE, "content-length: 5\r\n", "hello"),
        // Chunked upstream: chunked to the client, one chunk per piece read.
        answer(
            DATE,
            "transfer-encoding: chunked\r\n",
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        ),
        // An HTTP/1.0 body that ends with its connection: chunked to an HTTP/1.1 client, which
        // keeps its connection.
        answer(
            DATE,
            "transfer-encoding: chunked\r\n",
            "3\r\nbye\r\n0\r\n\r\n",
        ),
        // HEAD: the length a GET would have, and no body.
        answer(DATE, "content-length: 5\r\n", ""),
        // 204: neither body nor length; the client asked to close, and is told so.
        format!(
            "HTTP/1.1 204 No Content\r\n{DATE}x-ship-routed-to: stable\r\nconnection: close\r\n\r\n"
        ),
    ]
    .concat();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_a_date_gets_one() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    let got = exchange(
        addr,
        b"GET /no-date HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let date = got
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .unwrap_or_else(|| panic!("no date: {got}"));
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert!(got.ends_with("\r\n\r\nok"), "{got}");
}

/// The first request with a body hands the connection to hyper; what was already read of the
/// requests after it is not lost, and they are answered in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_hands_the_connection_over_without_losing_a_byte() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    let got = exchange(
        addr,
        b"GET /length HTTP/1.1\r\nhost: x\r\n\r\n\
          POST /length HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc\
          GET /length HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 3, "{got}");
    assert_eq!(got.matches("\r\n\r\nhello").count(), 3, "{got}");
    assert!(got.starts_with(&answer(DATE, "content-length: 5\r\n", "hello")));
}

/// Heads ship does not serve itself get hyper's answers, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_get_hyper_s_answers() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    for raw in [
        &b"garbage\r\n\r\n"[..],
        b"GET /a<b> HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad name: 1\r\n\r\n",
    ] {
        let got = exchange(addr, raw).await;
        assert!(
            got.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{}: {got}",
            String::from_utf8_lossy(raw)
        );
    }
    // Over a hundred fields: 431, as hyper answers.
    let many: String = (0..120).map(|i| format!("x-{i}: 1\r\n")).collect();
    let got = exchange(addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 431 "), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_length_reaches_the_client_once() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    let got = exchange(
        addr,
        b"GET /dup-length HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(got.matches("content-length").count(), 1, "{got}");
    assert!(got.ends_with("\r\n\r\nhello"), "{got}");
}

/// A client that pipelines two requests and closes its side at once still gets both answers,
/// the first one slow; then the proxy closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_then_a_half_close_are_all_answered() {
    let (_p, addr) = proxy_to(upstream().await, 0, Duration::from_secs(5), None).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /length HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let got = String::from_utf8_lossy(&out);
    let slow = got.find("\r\n\r\nslow").unwrap_or_else(|| panic!("{got}"));
    let hello = got.find("\r\n\r\nhello").unwrap_or_else(|| panic!("{got}"));
    assert!(slow < hello, "{got}");
}

/// A client that hangs up while its answer is awaited: the exchange with the upstream is
/// dropped at once (its connection closed), not carried on until the upstream answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_before_its_answer_ends_the_upstream_exchange() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_head(&mut s).await.unwrap();
        let mut buf = [0u8; 1024];
        // No answer for 10 s; the proxy closing the connection ends the wait.
        let closed = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
        let _ = closed_tx.send(matches!(closed, Ok(Ok(0)) | Ok(Err(_))));
    });
    let (_p, addr) = proxy_to(up, 0, Duration::from_secs(30), None).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /wait HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hung_up = std::time::Instant::now();
    drop(c);
    let closed = tokio::time::timeout(Duration::from_secs(3), closed_rx)
        .await
        .expect("the upstream connection is closed within 3 s of the hang-up")
        .unwrap();
    assert!(closed, "the upstream's read ended otherwise");
    println!("upstream closed {:?} after the hang-up", hung_up.elapsed());
}
