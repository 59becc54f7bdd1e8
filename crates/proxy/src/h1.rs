//! HTTP/1.1 to an upstream instance, spoken by the request's own task: the request head and
//! body out, the answer's head in (crate::pool runs the exchange, crate::response reads the
//! answer's body).
//!
//! Why not hyper's client: it drives every upstream connection from a task of its own and
//! passes each request to it over a channel and the answer back over another. That task, with
//! hyper's client-side parse and encode, was 41 % of the proxy's instructions per request
//! (docs/BENCHMARKS.md, "What the profile showed"). Here the task serving the client writes the
//! request and reads the answer itself, with no hand-off.
//!
//! What it speaks (RFC 9112): requests in origin form, a request body by Content-Length or
//! chunked; answers framed by Content-Length, chunked, or the connection's end; interim (1xx)
//! answers skipped. No upgrades (the proxy strips `Upgrade`), no pipelining: a connection
//! carries one exchange at a time.

use crate::upload::Upload;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use tokio::net::TcpStream;

/// A response head larger than this is refused (a 502), as nginx refuses one larger than its
/// `proxy_buffer_size`; ship's limit is roomier than nginx's default 4–8 KiB.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Header fields in one response head at most.
const MAX_HEADERS: usize = 128;

/// Why an exchange with an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Reading from or writing to the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The upstream closed the connection before its answer was complete.
    #[error("connection closed before the response was complete")]
    Closed,
    /// The answer is not HTTP/1.1 that ship can forward.
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    /// The answer's head could not be parsed.
    #[error("invalid response head: {0}")]
    Head(httparse::Error),
    /// The client's own request body failed (it hung up mid-upload).
    #[error("request body: {0}")]
    Client(hyper::Error),
}

/// How the request body goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// As many bytes as the Content-Length says; `Some`: the header is added with this value.
    Length(Option<u64>),
    /// Chunked: the length is not known up front (an HTTP/2 client sent no content-length).
    Chunked,
}

impl Framing {
    pub(crate) fn of(parts: &Parts, body: &Upload) -> Framing {
        if body.is_end_stream() {
            Framing::Empty
        } else if parts.headers.contains_key(header::CONTENT_LENGTH) {
            Framing::Length(None)
        } else if let Some(n) = body.size_hint().exact() {
            Framing::Length(Some(n))
        } else {
            Framing::Chunked
        }
    }
}

/// The header ship adds the client's address to.
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Writes the request head into `out` (cleared first), with `client` (the client's address)
/// appended to `X-Forwarded-For`. Written here rather than set in the request's header map
/// first: a lookup and an insert in the map cost more (~430 instructions per request) than
/// the comparison made here while the fields are written anyway.
///
/// `Expect` is not passed on: the client was already answered `100 Continue` when its body
/// was read, and the upstream gets the body at once. Nor is `Transfer-Encoding`: the framing
/// is ship's own (`framing`), and hop-by-hop headers are gone before this (crate::server).
pub(crate) fn encode_head(out: &mut Vec<u8>, parts: &Parts, framing: Framing, client: &[u8]) {
    out.clear();
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded = false;
    for (name, value) in &parts.headers {
        if name == header::EXPECT || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == FORWARDED_FOR {
            forwarded = true;
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    // Earlier proxies' addresses first, in order, then this client's (one field).
    out.extend_from_slice(b"x-forwarded-for: ");
    if forwarded {
        for v in parts.headers.get_all(FORWARDED_FOR) {
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(client);
    out.extend_from_slice(b"\r\n");
    match framing {
        Framing::Length(Some(n)) => field(out, b"content-length", itoa(n, &mut [0u8; 20])),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // Some servers refuse a POST without a length (nginx answers 411).
        Framing::Empty
            if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH)
                && !parts.headers.contains_key(header::CONTENT_LENGTH) =>
        {
            out.extend_from_slice(b"content-length: 0\r\n")
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a header field line.
pub(crate) fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` as one chunk of a chunked body (its size line, the data, CRLF).
pub(crate) fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(hex(data.len(), &mut [0u8; 16]));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, in `buf` (no allocation, unlike `format!`, on every head).
pub(crate) fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `n` in hexadecimal (a chunk's size line), in `buf`.
fn hex(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How the answer's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// No body (a HEAD request, 204, 304, or Content-Length 0).
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// A parsed answer head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Answer,
    /// Whether the connection may carry another exchange once this body has been read.
    pub keep_alive: bool,
}

/// httparse's response parser over field slots left uninitialised: a fixed array of
/// initialised ones would be zeroed on every parse.
fn parse_response<'h, 'b>(
    r: &mut httparse::Response<'h, 'b>,
    buf: &'b [u8],
    fields: &'h mut [MaybeUninit<httparse::Header<'b>>],
) -> httparse::Result<usize> {
    httparse::ParserConfig::default().parse_response_with_uninit_headers(r, buf, fields)
}

/// One header field's place in the head: name start, name length, value start, value length.
pub(crate) type Span = (usize, usize, usize, usize);

/// Parses the answer head at the start of `buf`, skipping interim (1xx) answers, and removes
/// it from `buf`; `Ok(None)` while it is incomplete. `head_request`: the request was HEAD, so
/// the answer has no body whatever its headers say. `spans` is scratch space, kept by the
/// connection so that no response allocates it (or zeroes a fixed array) again.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    spans: &mut Vec<Span>,
) -> Result<Option<Head>, ExchangeError> {
    loop {
        spans.clear();
        let (len, code, version) = {
            let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut []);
            match parse_response(&mut r, buf, &mut fields) {
                Ok(httparse::Status::Complete(len)) => {
                    let base = buf.as_ptr() as usize;
                    spans.extend(r.headers.iter().map(|h| {
                        (
                            h.name.as_ptr() as usize - base,
                            h.name.len(),
                            h.value.as_ptr() as usize - base,
                            h.value.len(),
                        )
                    }));
                    (len, r.code.unwrap_or(0), r.version.unwrap_or(1))
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                    return Err(ExchangeError::Invalid("response head larger than 64 KiB"))
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(ExchangeError::Head(e)),
            }
        };
        if code == 101 {
            return Err(ExchangeError::Invalid(
                "101 Switching Protocols was not asked for",
            ));
        }
        if (100..200).contains(&code) {
            buf.advance(len);
            continue;
        }
        let status = StatusCode::from_u16(code)
            .map_err(|_| ExchangeError::Invalid("status code out of range"))?;
        let head = buf.split_to(len).freeze();
        // One more: crate::server adds x-ship-routed-to to every answer.
        let mut headers = HeaderMap::with_capacity(spans.len() + 1);
        for &(ns, nl, vs, vl) in spans.iter() {
            let name = HeaderName::from_bytes(&head[ns..ns + nl])
                .map_err(|_| ExchangeError::Invalid("a header name"))?;
            let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
                .map_err(|_| ExchangeError::Invalid("a header value"))?;
            headers.append(name, value);
        }
        return framing(status, version, headers, head_request).map(Some);
    }
}

/// The answer's framing and whether its connection can be reused (RFC 9112 §6.3, §9.3).
fn framing(
    status: StatusCode,
    version: u8,
    mut headers: HeaderMap,
    head_request: bool,
) -> Result<Head, ExchangeError> {
    let (mut close, mut keep) = (false, false);
    for v in headers.get_all(header::CONNECTION) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    // HTTP/1.0 closes unless it says otherwise.
    let mut keep_alive = !close && (version == 1 || keep);
    let body =
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Answer::Empty
        } else if headers.contains_key(header::TRANSFER_ENCODING) {
            // Transfer-Encoding wins over Content-Length, which must not reach the client with a
            // body it does not describe; a message with both is not trusted for reuse, nor is
            // an HTTP/1.0 one with Transfer-Encoding, which HTTP/1.0 does not have (RFC 9112
            // §6.1: its framing is faulty, and the connection is closed after it).
            let with_length = headers.remove(header::CONTENT_LENGTH).is_some();
            if with_length || version != 1 {
                keep_alive = false;
            }
            let last = headers
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .next_back()
                .and_then(|v| v.as_bytes().rsplit(|b| *b == b',').next())
                .map(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if last == Some(true) {
                Answer::Chunked
            } else {
                keep_alive = false;
                Answer::UntilClose
            }
        } else if headers.contains_key(header::CONTENT_LENGTH) {
            match content_length(&headers)? {
                0 => Answer::Empty,
                n => Answer::Length(n),
            }
        } else {
            keep_alive = false;
            Answer::UntilClose
        };
    Ok(Head {
        status,
        headers,
        body,
        keep_alive,
    })
}

/// The Content-Length; several fields (or a list) must all agree.
fn content_length(headers: &HeaderMap) -> Result<u64, ExchangeError> {
    let mut found = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            let n = std::str::from_utf8(part)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(ExchangeError::Invalid("an unreadable content-length"))?;
            if found.is_some_and(|f| f != n) {
                return Err(ExchangeError::Invalid(
                    "content-length fields that disagree",
                ));
            }
            found = Some(n);
        }
    }
    found.ok_or(ExchangeError::Invalid("an empty content-length"))
}

/// Whether `buf` holds a whole final answer head (interim ones are dropped from it). A head
/// that cannot be parsed counts too: reading it will report why.
fn final_head_buffered(buf: &mut BytesMut) -> bool {
    loop {
        let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut []);
        match parse_response(&mut r, buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) => match r.code {
                Some(c) if (100..200).contains(&c) && c != 101 => buf.advance(len),
                _ => return true,
            },
            Ok(httparse::Status::Partial) => return buf.len() > MAX_HEAD,
            Err(_) => return true,
        }
    }
}

/// Reads what the upstream sent while the request body was still going out: `true` when its
/// final answer came early (it will not read the rest of the body; ship stops sending it).
fn answered_early(io: &TcpStream, read: &mut BytesMut) -> Result<bool, ExchangeError> {
    read.reserve(4096);
    match io.try_read_buf(read) {
        Ok(0) => Err(ExchangeError::Closed),
        Ok(_) => Ok(final_head_buffered(read)),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes`, watching for an early answer meanwhile: `true` if it came (the rest is not
/// written then).
async fn write_watching(
    io: &TcpStream,
    read: &mut BytesMut,
    mut bytes: &[u8],
) -> Result<bool, ExchangeError> {
    while !bytes.is_empty() {
        match io.try_write(bytes) {
            Ok(0) => return Err(std::io::Error::from(ErrorKind::WriteZero).into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let early = tokio::select! {
                    r = io.writable() => { r?; false }
                    r = io.readable() => { r?; answered_early(io, read)? }
                };
                if early {
                    return Ok(true);
                }
            }
            // An upstream that answers early and closes at once, the body unread, has its
            // kernel reset the connection, and this write fails: its answer, which came
            // before the reset, is still there to read and is what the client should get.
            Err(e) if closed_by_peer(&e) => {
                return match answered_before_failing(io, read).await {
                    true => Ok(true),
                    false => Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Whether a write failed because the upstream closed or reset the connection.
fn closed_by_peer(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// After a write failed because the upstream closed the connection: whether its final answer
/// had come before. Such a socket is readable (its end or its error), so the wait for
/// readiness is short; what the upstream sent before the close is read first.
async fn answered_before_failing(io: &TcpStream, read: &mut BytesMut) -> bool {
    if final_head_buffered(read) {
        return true;
    }
    loop {
        if io.readable().await.is_err() {
            return false;
        }
        match answered_early(io, read) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
    }
}

/// Sends the request body after its head. `Ok(true)`: all of it went; `Ok(false)`: the
/// upstream answered first, so the connection cannot carry another exchange. Trailers are not
/// passed on.
pub(crate) async fn send_body(
    io: &TcpStream,
    read: &mut BytesMut,
    scratch: &mut Vec<u8>,
    body: &mut Upload,
    framing: Framing,
) -> Result<bool, ExchangeError> {
    let chunked = framing == Framing::Chunked;
    loop {
        let next = tokio::select! {
            biased;
            frame = body.frame() => Some(frame),
            r = io.readable() => { r?; None }
        };
        let frame = match next {
            None if answered_early(io, read)? => return Ok(false),
            None => continue,
            Some(None) => {
                let early = chunked && write_watching(io, read, b"0\r\n\r\n").await?;
                return Ok(!early);
            }
            Some(Some(Err(e))) => return Err(ExchangeError::Client(e)),
            Some(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let early = if chunked {
            scratch.clear();
            chunk(scratch, &data);
            write_watching(io, read, scratch).await?
        } else {
            write_watching(io, read, &data).await?
        };
        if early {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_written_in_decimal_and_hex() {
        use super::{hex, itoa};
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(itoa(u64::MAX, &mut [0; 20]), b"18446744073709551615");
        assert_eq!(hex(0, &mut [0; 16]), b"0");
        assert_eq!(hex(0x1f40, &mut [0; 16]), b"1f40");
    }

    use super::*;

    fn parse(raw: &[u8], head_request: bool) -> (Result<Option<Head>, ExchangeError>, BytesMut) {
        let mut buf = BytesMut::from(raw);
        let r = parse_head(&mut buf, head_request, &mut Vec::new());
        (r, buf)
    }

    #[test]
    fn a_head_is_parsed_and_the_body_left_in_the_buffer() {
        let (h, rest) = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello",
            false,
        );
        let h = h.unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.body, Answer::Length(5));
        assert!(h.keep_alive);
        let xa: Vec<_> = h.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(&rest[..], b"hello");
    }

    #[test]
    fn an_incomplete_head_waits_and_interim_answers_are_skipped() {
        let partial = b"HTTP/1.1 200 OK\r\nContent-Len";
        let (h, rest) = parse(partial, false);
        assert!(h.unwrap().is_none());
        assert_eq!(&rest[..], partial, "nothing taken");
        let (h, _) = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            false,
        );
        let h = h.unwrap().unwrap();
        assert_eq!((h.status.as_u16(), h.body), (201, Answer::Empty));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let body = |raw: &[u8], head| {
            let h = parse(raw, head).0.unwrap().unwrap();
            (h.body, h.keep_alive)
        };
        assert_eq!(
            body(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n",
                false
            ),
            (Answer::Chunked, false),
            "both: chunked wins, and the connection is not reused"
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\n\r\n", false),
            (Answer::UntilClose, false)
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n", true),
            (Answer::Empty, true),
            "a HEAD answer has no body"
        );
        assert_eq!(
            body(
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n",
                false
            ),
            (Answer::Empty, true)
        );
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false),
            (Answer::Length(1), false),
            "HTTP/1.0 closes"
        );
        assert_eq!(
            body(
                b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
                false
            ),
            (Answer::Chunked, false),
            "HTTP/1.0 has no Transfer-Encoding: its framing is not trusted for reuse"
        );
        assert_eq!(
            body(
                b"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 1\r\n\r\n",
                false
            ),
            (Answer::Length(1), false)
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\n", false),
            (Answer::Length(3), true)
        );
        for bad in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            assert!(
                parse(bad, false).0.is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_head_past_the_limit_is_refused() {
        let mut raw = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        raw.resize(MAX_HEAD + 10, b'a');
        assert!(parse(&raw, false).0.is_err());
    }

    #[test]
    fn request_heads_are_origin_form_with_their_framing() {
        let (parts, ()) = hyper::Request::post("/a?b=1")
            .header("host", "up")
            .header("expect", "100-continue")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap()
            .into_parts();
        let mut out = Vec::new();
        encode_head(&mut out, &parts, Framing::Chunked, b"10.0.0.9");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: up\r\nx-forwarded-for: 10.0.0.9\r\n\
             transfer-encoding: chunked\r\n\r\n",
            "Expect is answered here; the framing is ship's, once"
        );
        encode_head(&mut out, &parts, Framing::Empty, b"10.0.0.9");
        assert!(String::from_utf8(out.clone())
            .unwrap()
            .ends_with("x-forwarded-for: 10.0.0.9\r\ncontent-length: 0\r\n\r\n"));
        encode_head(&mut out, &parts, Framing::Length(Some(12)), b"10.0.0.9");
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("content-length: 12\r\n"));
    }

    #[test]
    fn the_client_is_appended_to_earlier_proxies_in_one_field() {
        let (parts, ()) = hyper::Request::get("/")
            .header("x-forwarded-for", "1.1.1.1")
            .header("host", "up")
            .header("x-forwarded-for", "2.2.2.2, 3.3.3.3")
            .body(())
            .unwrap()
            .into_parts();
        let mut out = Vec::new();
        encode_head(&mut out, &parts, Framing::Empty, b"::1");
        let head = String::from_utf8(out).unwrap();
        assert_eq!(
            head,
            "GET / HTTP/1.1\r\nhost: up\r\n\
             x-forwarded-for: 1.1.1.1, 2.2.2.2, 3.3.3.3, ::1\r\n\r\n"
        );
    }
}
