//! ship's own HTTP/1.1 server loop for the plain request.
//!
//! Why not hyper's server for every request: its dispatcher, read buffer and encoder were
//! about 9,000 of the ~21,000 instructions the proxy spent on a request
//! (`bench/proxy-profile.sh`), and that was the difference left between ship and nginx. Most
//! requests a proxy carries are plain — HTTP/1.1, no body, an origin-form target — and those
//! are read, forwarded and answered here. The first request that is anything else (a body,
//! `Expect`, `Upgrade`, `CONNECT`, HTTP/1.0, another target form, a malformed, oversized or
//! field-heavy head) hands the connection, with the bytes already read, to hyper for the rest
//! of its life: every unusual case keeps hyper's handling, its error answers included.
//!
//! What this loop keeps of hyper's behaviour: keep-alive until the client says `close`;
//! pipelined requests answered in order; a whole request head within the head timeout of
//! connecting or of the previous answer's end (crate::watchdog's rule); `Date` added when
//! the answer has none; framing by Content-Length when the length is known, chunked
//! otherwise; an answer whose body fails is cut off and its connection closed.

use crate::h1::{self, field, itoa};
use crate::server::{serve_h1, Body, Upstreams};
use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Body as _;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Header fields a plain request may have; one with more goes to hyper (whose limit is the
/// same, and which answers 431 beyond it).
const MAX_FIELDS: usize = 100;

/// A request head longer than this goes to hyper, which allows more.
const MAX_HEAD: usize = 16 * 1024;

/// Bytes read at a time.
const READ: usize = 8 * 1024;

/// One client connection's socket and buffers.
struct Conn {
    io: TcpStream,
    /// Read and not yet taken: the next request's head, or part of it.
    buf: BytesMut,
    /// The answer being written: its head and the body's first frames.
    out: Vec<u8>,
    /// Where the request head's fields are (scratch space, kept).
    spans: Vec<Span>,
    /// The client closed its side after requests still in `buf`: they are answered, and then
    /// the connection is closed.
    ended: bool,
}

/// Serves a client connection whose first bytes are not the h2 preface, until it closes.
pub(crate) async fn serve(
    io: TcpStream,
    client: Upstreams,
    ip: HeaderValue,
    head_timeout: Duration,
) {
    let mut conn = Conn {
        io,
        buf: BytesMut::with_capacity(READ),
        out: Vec::with_capacity(1024),
        spans: Vec::with_capacity(16),
        ended: false,
    };
    // One timer for the connection's life. It may fire early (it is moved on only when it
    // fires, not on every request); then the real deadline is checked and it is set again.
    let idle = tokio::time::sleep(head_timeout);
    tokio::pin!(idle);
    let mut since = Instant::now();
    loop {
        let (req, close) = loop {
            if !conn.buf.is_empty() {
                match plain(&mut conn.buf, &mut conn.spans) {
                    Parsed::Plain(req, close) => break (req, close),
                    Parsed::Partial if conn.buf.len() < MAX_HEAD => {}
                    Parsed::Partial | Parsed::Other => {
                        return hand_over(conn, client, ip, head_timeout, since).await
                    }
                }
            }
            if !read_more(&mut conn, idle.as_mut(), since + head_timeout).await {
                return;
            }
        };
        let head_request = req.method() == Method::HEAD;
        let Some(resp) = answer(&mut conn, client.handle(req, &ip)).await else {
            // The client hung up: the upstream exchange is dropped with the future.
            return;
        };
        match respond(&mut conn, resp, head_request, close).await {
            Ok(true) if !close => since = Instant::now(),
            _ => {
                let _ = conn.io.shutdown().await;
                return;
            }
        }
    }
}

/// Waits for `handle`'s answer while watching the client, as hyper did: `None` when the client
/// hung up first. What it sends meanwhile (pipelined requests) is kept for later.
async fn answer<F>(conn: &mut Conn, handle: F) -> Option<Response<Body>>
where
    F: std::future::Future<Output = Response<Body>>,
{
    let mut handle = std::pin::pin!(handle);
    loop {
        let watch = conn.watching();
        let io = &conn.io;
        // The answer, or `None` when the client may have sent more or hung up.
        let answered = poll_fn(|cx| {
            if let Poll::Ready(resp) = handle.as_mut().poll(cx) {
                return Poll::Ready(Some(resp));
            }
            if watch && stirred(io, cx) {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await;
        if answered.is_some() {
            return answered;
        }
        if conn.read_meanwhile().is_err() {
            return None;
        }
    }
}

/// Whether the client may have sent more or hung up; otherwise `cx` is woken when it does.
///
/// The socket is usually still marked readable from reading the request itself, and finding
/// out by reading costs a system call per request. So the mark is dropped without one (a
/// read that "would block" as far as tokio knows): new bytes mark it again, and a hang-up
/// (the peer's FIN or RST: EPOLLRDHUP, EPOLLHUP) stays marked, as tokio never clears a closed
/// state. Bytes already there are not lost: the next head is read with a read that does not
/// wait for the mark.
fn stirred(io: &TcpStream, cx: &mut Context<'_>) -> bool {
    if io.poll_read_ready(cx).is_pending() {
        return false;
    }
    let _ = io.try_io(tokio::io::Interest::READABLE, || {
        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
    });
    io.poll_read_ready(cx).is_ready()
}

impl Conn {
    /// Whether to notice the client's bytes or hang-up while its answer is awaited or written:
    /// not once it closed its side, nor with a full head's worth of requests waiting.
    fn watching(&self) -> bool {
        !self.ended && self.buf.len() < MAX_HEAD
    }

    /// Reads what the client sent while its answer was awaited: its next requests, kept in
    /// `buf`, or its end. `Err`: it hung up with nothing left to answer. A client that closed
    /// its side after pipelining requests gets them answered first (`ended`).
    fn read_meanwhile(&mut self) -> Result<(), ()> {
        self.buf.reserve(READ);
        match self.io.try_read_buf(&mut self.buf) {
            Ok(0) if self.buf.is_empty() => Err(()),
            Ok(0) => {
                self.ended = true;
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(_) => Err(()),
        }
    }
}

/// Reads more of the client's bytes into `conn.buf`: false when the client closed, the read
/// failed, or `deadline` passed first.
async fn read_more(conn: &mut Conn, mut idle: Pin<&mut Sleep>, deadline: Instant) -> bool {
    if conn.ended {
        return false;
    }
    conn.buf.reserve(READ);
    loop {
        // Under load the bytes are usually there already: no timer, no wait.
        match conn.io.try_read_buf(&mut conn.buf) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
        tokio::select! {
            biased;
            ready = conn.io.readable() => {
                if ready.is_err() {
                    return false;
                }
            }
            _ = idle.as_mut() => {
                if Instant::now() >= deadline {
                    return false;
                }
                idle.as_mut().reset(deadline);
            }
        }
    }
}

/// What the start of the read bytes holds.
// Matched at once by its one caller: boxing the request would add an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// A plain request, its head taken from the buffer; `true`: the client asked to close.
    Plain(Request<()>, bool),
    /// Not yet a whole head.
    Partial,
    /// Anything this loop does not serve itself: hyper will.
    Other,
}

/// Where a header field is in the head: name start, name length, value start, value length.
type Span = (usize, usize, usize, usize);

/// Parses the request head at the start of `buf`; takes it from `buf` only when it is plain.
/// `spans` is scratch space kept by the connection.
fn plain(buf: &mut BytesMut, spans: &mut Vec<Span>) -> Parsed {
    spans.clear();
    let (len, method, target, close) = {
        let mut slots = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_FIELDS];
        let mut r = httparse::Request::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut r, buf, &mut slots)
        {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::Other,
        };
        if r.version != Some(1) {
            return Parsed::Other;
        }
        let (Some(method), Some(path)) = (r.method, r.path) else {
            return Parsed::Other;
        };
        if !path.starts_with('/') || method == "CONNECT" {
            return Parsed::Other;
        }
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return Parsed::Other;
        };
        let base = buf.as_ptr() as usize;
        let mut close = false;
        let mut length = false;
        for f in r.headers.iter() {
            let name = f.name.as_bytes();
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            if is("transfer-encoding") || is("expect") || is("upgrade") {
                return Parsed::Other;
            }
            if is("content-length") {
                // A body: hyper reads those. "0" twice is still no body, but rare enough.
                if length || f.value.trim_ascii() != b"0" {
                    return Parsed::Other;
                }
                length = true;
            }
            if is("connection") {
                for token in f.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"upgrade") {
                        return Parsed::Other;
                    }
                    close |= token.eq_ignore_ascii_case(b"close");
                }
            }
            spans.push((
                f.name.as_ptr() as usize - base,
                f.name.len(),
                f.value.as_ptr() as usize - base,
                f.value.len(),
            ));
        }
        let target = (path.as_ptr() as usize - base, path.len());
        (len, method, target, close)
    };
    let head = buf.split_to(len).freeze();
    match request(&head, method, target, spans) {
        Some(req) => Parsed::Plain(req, close),
        None => {
            // A target or field that http does not take although httparse did: rare. hyper
            // answers it, from the whole head put back in front of what follows.
            let mut whole = BytesMut::with_capacity(head.len() + buf.len());
            whole.extend_from_slice(&head);
            whole.extend_from_slice(buf);
            *buf = whole;
            Parsed::Other
        }
    }
}

/// The request of a plain head. Its target and field values are slices of `head`, as hyper
/// makes them; they are dropped once written upstream (crate::pool::Outgoing).
fn request(
    head: &Bytes,
    method: Method,
    target: (usize, usize),
    spans: &[Span],
) -> Option<Request<()>> {
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1)).ok()?;
    // One more: the proxy adds Host when a client sent none.
    let mut headers = HeaderMap::with_capacity(spans.len() + 1);
    for &(ns, nl, vs, vl) in spans {
        let name = HeaderName::from_bytes(&head[ns..ns + nl]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl)).ok()?;
        headers.append(name, value);
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Some(req)
}

/// Writes `resp` to the client: true when it was written whole and the connection may carry
/// another request.
async fn respond(
    conn: &mut Conn,
    resp: Response<Body>,
    head_request: bool,
    close: bool,
) -> std::io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let out = &mut conn.out;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // 1xx and 204 have neither body nor length; 304 and a HEAD's answer have no body but say
    // what the length would be (RFC 9110 §8.6).
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT;
    let no_body = bodiless || head_request || status == StatusCode::NOT_MODIFIED;
    let mut dated = false;
    let mut length: Option<&HeaderValue> = None;
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            // The framing and the connection are this hop's own.
            continue;
        }
        if name == header::CONTENT_LENGTH {
            // Written once, below (an upstream may repeat it, which h1 checked agrees).
            length = length.or(Some(value));
            continue;
        }
        dated |= name == header::DATE;
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !dated {
        date(out);
    }
    let mut chunked = false;
    if bodiless {
    } else if no_body {
        if let Some(v) = length {
            field(out, b"content-length", first_of_list(v.as_bytes()));
        }
    } else if let Some(n) = body.size_hint().exact() {
        field(out, b"content-length", itoa(n, &mut [0u8; 20]));
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        chunked = true;
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let mut sent = 0;
    let (mut ended, mut failed) = (false, false);
    loop {
        let watch = !ended && conn.watching();
        let (io, out) = (&mut conn.io, &mut conn.out);
        // Frames are taken while they are ready; what is taken is written when the body waits
        // or ends (a small answer goes out in one write). A client slow to read does not stop
        // the body being taken until WAITING bytes are queued: the body's clock counts time
        // waiting on the upstream (crate::measured), never on the client.
        let event = poll_fn(|cx| loop {
            let room =
                |out: &Vec<u8>, sent: usize, ended: bool| !ended && out.len() - sent < WAITING;
            let polled = room(out, sent, ended);
            if polled {
                match next_frame(&mut body, cx) {
                    Poll::Ready(Step::Data(data)) => {
                        if !no_body {
                            frame(out, &data, chunked);
                        }
                        continue;
                    }
                    Poll::Ready(Step::End) => {
                        if chunked {
                            out.extend_from_slice(b"0\r\n\r\n");
                        }
                        ended = true;
                    }
                    // Cut off: what came is delivered, then the connection closes, so the
                    // client sees a short answer rather than a complete-looking one.
                    Poll::Ready(Step::Failed) => (ended, failed) = (true, true),
                    Poll::Pending => {}
                }
            }
            while sent < out.len() {
                match Pin::new(&mut *io).poll_write(cx, &out[sent..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Event::Gone),
                    Poll::Ready(Ok(n)) => sent += n,
                    Poll::Pending => break,
                }
            }
            if sent == out.len() {
                out.clear();
                sent = 0;
                if ended {
                    return Poll::Ready(Event::Written);
                }
            } else if sent >= WAITING {
                // A long answer to a slow reader: what went out is dropped from the queue.
                out.drain(..sent);
                sent = 0;
            }
            // Writing made room while the body was not asked: ask it now, so that something
            // (its next frame, or the socket) wakes this task.
            if !polled && room(out, sent, ended) {
                continue;
            }
            if watch && stirred(io, cx) {
                return Poll::Ready(Event::ClientReadable);
            }
            return Poll::Pending;
        })
        .await;
        match event {
            Event::ClientReadable => {
                if conn.read_meanwhile().is_err() {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
            Event::Gone => return Err(std::io::ErrorKind::BrokenPipe.into()),
            Event::Written => return Ok(!failed),
        }
    }
}

/// Appends one data frame, as a chunk when `chunked`.
fn frame(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    if chunked {
        h1::chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
}

/// Bytes of an answer queued for a client before the body is no longer read ahead.
const WAITING: usize = 256 * 1024;

/// Why writing an answer stopped.
enum Event {
    /// Everything, the body's end included, is written.
    Written,
    /// The client sent something or hung up.
    ClientReadable,
    /// Writing to the client failed.
    Gone,
}

/// What the answer's body gave.
enum Step {
    Data(Bytes),
    End,
    Failed,
}

fn next_frame(body: &mut Body, cx: &mut Context<'_>) -> Poll<Step> {
    loop {
        return match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Step::Data(data)),
                // Trailers: not passed on (hyper's server does not either without a TE:
                // trailers from the client, which plain requests do not carry to the upstream).
                Err(_) => continue,
            },
            Poll::Ready(Some(Err(_))) => Poll::Ready(Step::Failed),
            Poll::Ready(None) => Poll::Ready(Step::End),
            Poll::Pending => Poll::Pending,
        };
    }
}

/// The first element of a field value that may be a list (`5, 5`).
fn first_of_list(v: &[u8]) -> &[u8] {
    v.split(|b| *b == b',').next().unwrap_or(v).trim_ascii()
}

thread_local! {
    /// The `date` field of this second, made once a second per serving thread.
    static DATE: std::cell::RefCell<(u64, Vec<u8>)> = const { std::cell::RefCell::new((u64::MAX, Vec::new())) };
}

/// Writes a `date` field for now.
fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, line)| {
        if *at != secs {
            *at = secs;
            line.clear();
            line.extend_from_slice(b"date: ");
            line.extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
            line.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    });
}

/// Gives the connection to hyper for the rest of its life, the bytes already read first.
async fn hand_over(
    conn: Conn,
    client: Upstreams,
    ip: HeaderValue,
    head_timeout: Duration,
    since: Instant,
) {
    let io = Prefixed {
        prefix: conn.buf.freeze(),
        io: conn.io,
    };
    let svc = hyper::service::service_fn(move |req| {
        let (c, ip) = (client.clone(), ip.clone());
        async move { Ok::<_, std::convert::Infallible>(c.handle(req, &ip).await) }
    });
    // The head timeout still counts from the previous answer's end (or the connection's start).
    serve_h1(io, svc, head_timeout, since).await;
}

/// A connection whose first bytes were already read: they are read again first.
pub(crate) struct Prefixed<T> {
    prefix: Bytes,
    io: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(text.as_bytes());
        (plain(&mut buf, &mut vec![]), buf)
    }

    #[test]
    fn plain_requests_are_taken_and_the_rest_left_whole() {
        let (p, rest) =
            parsed("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /next");
        let Parsed::Plain(req, close) = p else {
            panic!("not plain")
        };
        assert!(!close);
        assert_eq!(req.uri(), "/a?b=1");
        assert_eq!(req.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(&rest[..], b"GET /next");
        let (p, _) =
            parsed("HEAD / HTTP/1.1\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(p, Parsed::Plain(_, true)));
        for other in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n",
            // httparse takes `<`, `>` and a backtick in a target; http's Uri does not.
            "GET /a<b> HTTP/1.1\r\n\r\n",
        ] {
            let (p, rest) = parsed(other);
            assert!(matches!(p, Parsed::Other), "{other:?}");
            assert_eq!(&rest[..], other.as_bytes(), "{other:?} is left whole");
        }
        assert!(matches!(
            parsed("GET / HTTP/1.1\r\nHost:").0,
            Parsed::Partial
        ));
        let many: String = (0..=MAX_FIELDS).map(|i| format!("x-{i}: 1\r\n")).collect();
        assert!(matches!(
            parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n")).0,
            Parsed::Other
        ));
    }

    /// Every byte in the target and in a field value: the head is taken as a request, or left
    /// whole for hyper — never half taken (some bytes pass httparse but not http's types).
    #[test]
    fn a_head_is_taken_whole_or_left_whole() {
        let mut put_back = 0;
        for b in 0..=255u8 {
            for at_target in [true, false] {
                let mut text = b"GET /a".to_vec();
                if at_target {
                    text.push(b);
                }
                text.extend_from_slice(b" HTTP/1.1\r\nx-v: a");
                if !at_target {
                    text.push(b);
                }
                text.extend_from_slice(b"\r\n\r\nrest");
                let mut buf = BytesMut::from(&text[..]);
                match plain(&mut buf, &mut vec![]) {
                    // (A CR or LF in the value ends the head early: more is left.)
                    Parsed::Plain(..) => assert!(text.ends_with(&buf), "{b:#x}"),
                    Parsed::Partial => panic!("{b:#x}"),
                    Parsed::Other => {
                        assert_eq!(&buf[..], &text[..], "{b:#x}");
                        put_back += 1;
                    }
                }
            }
        }
        println!("heads left for hyper: {put_back}");
    }
}
