//! An upstream's answer body, read from its connection as the client takes it; when the body
//! has been read to its end on a connection that can carry another exchange, the connection
//! goes back to the pool (crate::pool). A body dropped before its end closes its connection.
//!
//! A body that arrived whole with its head (the common case: small answers) is handed over as
//! one piece and its connection is back in the pool before the client is answered.

use crate::h1::{Answer, ExchangeError};
use crate::pool::{Conn, Pool};
use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Bytes read at a time from an upstream body.
const READ_SIZE: usize = 16 * 1024;

/// Where a chunked body's reader is (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// At a chunk-size line.
    Size,
    /// In a chunk's data, with this much left.
    Data(u64),
    /// At the CRLF that ends a chunk's data.
    DataEnd,
    /// In the trailer section (dropped, not forwarded).
    Trailers,
}

enum State {
    Done,
    /// The whole body, read with the head.
    Whole(Bytes),
    /// This many bytes still to read.
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// The connection while its body is read.
struct Held {
    conn: Conn,
    pool: Pool,
    index: usize,
    keep_alive: bool,
}

/// An upstream answer's body.
pub struct UpstreamBody {
    state: State,
    held: Option<Held>,
    /// A failure found, given on the next poll (see [`UpstreamBody::fail`]).
    failed: Option<ExchangeError>,
}

impl UpstreamBody {
    pub(crate) fn new(
        mut conn: Conn,
        pool: Pool,
        index: usize,
        answer: Answer,
        keep_alive: bool,
    ) -> UpstreamBody {
        let state = match answer {
            Answer::Empty => State::Done,
            Answer::Length(n) if conn.read.len() as u64 >= n => {
                State::Whole(conn.read.split_to(n as usize).freeze())
            }
            Answer::Length(n) => State::Length(n),
            Answer::Chunked => State::Chunked(Chunk::Size),
            Answer::UntilClose => State::UntilClose,
        };
        let mut body = UpstreamBody {
            failed: None,
            state,
            held: Some(Held {
                conn,
                pool,
                index,
                keep_alive,
            }),
        };
        if matches!(body.state, State::Done | State::Whole(_)) {
            body.release();
        }
        body
    }

    /// The body has been read to its end: its connection goes back to the pool if it can carry
    /// another exchange (nothing unread left on it: bytes past the end would be read as the
    /// next answer).
    fn release(&mut self) {
        if let Some(h) = self.held.take() {
            if h.keep_alive && h.conn.read.is_empty() {
                h.pool.put(h.index, h.conn);
            }
        }
    }

    /// Ends the body with `e`; the connection is closed. The error is given on the next poll,
    /// not this one: hyper's server aborts the client's connection at a body error without
    /// sending what it has buffered, and the client should get what the upstream did send
    /// (its head, part of its body) before the cut, as it would from nginx.
    fn fail(
        &mut self,
        e: ExchangeError,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        self.state = State::Done;
        self.held = None;
        self.failed = Some(e);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn data(b: Bytes) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        Poll::Ready(Some(Ok(Frame::data(b))))
    }
}

/// Reads more of the body into the connection's buffer: the number of bytes read, 0 at the
/// connection's end.
fn fill(held: &mut Held, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
    let conn = &mut held.conn;
    conn.read.reserve(READ_SIZE);
    tokio_util::io::poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.read)
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = ExchangeError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        // Set where the buffered bytes are not enough to go on (a chunk-size line or a trailer
        // line not yet whole): more is read first, as where nothing is buffered.
        let mut want_more = false;
        loop {
            let held = match (&mut this.state, this.held.as_mut()) {
                (State::Done, _) => return Poll::Ready(None),
                (State::Whole(_), _) => {
                    let State::Whole(b) = std::mem::replace(&mut this.state, State::Done) else {
                        unreachable!()
                    };
                    return Self::data(b);
                }
                (_, None) => return Poll::Ready(None),
                (_, Some(held)) => held,
            };
            // Nothing buffered where bytes are needed: read more first.
            let needed = match this.state {
                State::Length(_) | State::UntilClose | State::Chunked(Chunk::Data(_)) => 1,
                State::Chunked(Chunk::DataEnd) => 2,
                _ => 0,
            };
            if want_more || held.conn.read.len() < needed {
                want_more = false;
                match ready!(fill(held, cx)) {
                    Err(e) => return this.fail(e.into(), cx),
                    Ok(0) if matches!(this.state, State::UntilClose) => {
                        this.state = State::Done;
                        this.held = None;
                        return Poll::Ready(None);
                    }
                    Ok(0) => return this.fail(ExchangeError::Closed, cx),
                    Ok(_) => continue,
                }
            }
            let read = &mut held.conn.read;
            match &mut this.state {
                State::Length(left) => {
                    let take = (*left).min(read.len() as u64);
                    let b = read.split_to(take as usize).freeze();
                    *left -= take;
                    if *left == 0 {
                        this.state = State::Done;
                        this.release();
                    }
                    return Self::data(b);
                }
                State::UntilClose => return Self::data(read.split().freeze()),
                State::Chunked(Chunk::Data(left)) => {
                    let take = (*left).min(read.len() as u64);
                    let b = read.split_to(take as usize).freeze();
                    *left -= take;
                    if *left == 0 {
                        this.state = State::Chunked(Chunk::DataEnd);
                    }
                    return Self::data(b);
                }
                State::Chunked(Chunk::DataEnd) => {
                    if &read[..2] != b"\r\n" {
                        return this.fail(ExchangeError::Invalid("a chunk not ended by CRLF"), cx);
                    }
                    read.advance(2);
                    this.state = State::Chunked(Chunk::Size);
                }
                State::Chunked(Chunk::Size) => match httparse::parse_chunk_size(read) {
                    // httparse reads a line without a digit ("\r\n", ";x\r\n") as size 0,
                    // the last chunk: a malformed body would end early as if complete. A
                    // chunk size has at least one digit (RFC 9112 §7.1); hyper's client
                    // refused such a line too.
                    Ok(httparse::Status::Complete(_)) if !read[0].is_ascii_hexdigit() => {
                        return this
                            .fail(ExchangeError::Invalid("a chunk size without a digit"), cx)
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        read.advance(used);
                        this.state = State::Chunked(match size {
                            0 => Chunk::Trailers,
                            n => Chunk::Data(n),
                        });
                    }
                    Ok(httparse::Status::Partial) if read.len() > 1024 => {
                        return this.fail(ExchangeError::Invalid("a chunk-size line too long"), cx)
                    }
                    Ok(httparse::Status::Partial) => want_more = true,
                    Err(_) => return this.fail(ExchangeError::Invalid("a bad chunk size"), cx),
                },
                State::Chunked(Chunk::Trailers) => {
                    if read.starts_with(b"\r\n") {
                        read.advance(2);
                        this.state = State::Done;
                        this.release();
                        return Poll::Ready(None);
                    }
                    match read.windows(2).position(|w| w == b"\r\n") {
                        Some(end) => read.advance(end + 2),
                        None if read.len() > crate::h1::MAX_HEAD => {
                            return this.fail(ExchangeError::Invalid("trailers too large"), cx)
                        }
                        None => want_more = true,
                    }
                }
                State::Done | State::Whole(_) => unreachable!("handled above"),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done) && self.failed.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            State::Whole(b) => SizeHint::with_exact(b.len() as u64),
            State::Length(n) => SizeHint::with_exact(*n),
            _ => SizeHint::default(),
        }
    }
}
