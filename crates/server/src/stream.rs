//! The live event stream (`/api/v1/events/stream`; the dashboard's pages follow it for their
//! live updates). Any viewer can hold one open for hours, so an idle stream must cost next to
//! nothing: one poller reads what is new in the event log and hands it to every stream through
//! a broadcast channel; a stream reads the log itself only to catch up (from `after`, or when it
//! fell behind the channel), a small page at a time, over one shared connection. How many
//! streams a token, and the server, may hold open is capped.

use crate::problem::Problem;
use axum::http::StatusCode;
use axum::response::sse::Event as SseEvent;
use shiploop_store::{Location, StateStore};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events one read of the log holds at most. A stream keeps at most one page, rendered, while
/// its client is slow to read: a page of 1,000 decoded decisions was 10 MB a stream.
const PAGE: usize = 32;
/// New events the channel keeps for streams that are slow to take them; one that falls
/// further behind catches up from the log.
const CHANNEL: usize = 256;
/// How often the poller looks for new events (other ship processes write the log too).
const POLL: Duration = Duration::from_millis(500);

/// One event, rendered once for every stream.
#[derive(Clone)]
struct Item {
    /// The poller read this event in a batch of everything after `from`: a stream that has
    /// seen less than `from` missed events and catches up from the log.
    from: i64,
    seq: i64,
    release: String,
    event: SseEvent,
}

/// The caps on open streams.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open streams at most, all tokens together.
    pub total: usize,
    /// Open streams at most for one token.
    pub per_token: usize,
}

/// The live event streams: one event-log poller shared by every stream, and the caps on them.
pub struct Feed {
    db: Location,
    tx: broadcast::Sender<Arc<Item>>,
    /// The connection catch-up reads share, one read at a time: however many streams catch
    /// up at once, they take one connection and one blocking thread.
    reader: Arc<tokio::sync::Mutex<Option<Box<dyn StateStore + Send>>>>,
    poller: AtomicBool,
    limits: Limits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_token: HashMap<usize, usize>,
}

/// A stream's place under the caps, given back when the stream ends.
pub struct Slot {
    feed: Arc<Feed>,
    token: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.feed.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                open.by_token.remove(&self.token);
            }
        }
    }
}

impl Feed {
    /// A feed reading the event log in the state database at `db`, under `limits`.
    pub fn new(db: Location, limits: Limits) -> Arc<Feed> {
        Arc::new(Feed {
            db,
            tx: broadcast::channel(CHANNEL).0,
            reader: Arc::default(),
            poller: AtomicBool::new(false),
            limits,
            open: Mutex::default(),
        })
    }

    /// Streams open now (for /metrics).
    pub fn open_streams(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// A place for one more stream of `token` (the token's index), or 429.
    pub fn admit(self: &Arc<Feed>, token: usize) -> Result<Slot, Problem> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.by_token.get(&token).copied().unwrap_or(0);
        let refused = if mine >= self.limits.per_token {
            Some(format!(
                "this token has {mine} live event streams open (server.max_streams_per_token): close one first"
            ))
        } else if open.total >= self.limits.total {
            Some(format!(
                "the server has {} live event streams open (server.max_streams): try again later",
                open.total
            ))
        } else {
            None
        };
        if let Some(detail) = refused {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                detail,
            ));
        }
        open.total += 1;
        *open.by_token.entry(token).or_default() += 1;
        Ok(Slot {
            feed: self.clone(),
            token,
        })
    }

    /// The stream of events after `cursor` (of `release`, or all), live until `stop`.
    pub fn stream(
        self: &Arc<Feed>,
        slot: Slot,
        release: Option<String>,
        cursor: i64,
        stop: watch::Receiver<bool>,
    ) -> impl futures_util::Stream<Item = Result<SseEvent, Infallible>> {
        let tail = self.tail(slot, release, cursor, stop);
        futures_util::stream::unfold(tail, |mut tail| async move {
            let item = tail.next().await?;
            Some((Ok(item.event), tail))
        })
    }

    fn tail(
        self: &Arc<Feed>,
        slot: Slot,
        release: Option<String>,
        cursor: i64,
        stop: watch::Receiver<bool>,
    ) -> Tail {
        if !self.poller.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll(self.clone(), stop.clone()));
        }
        // Subscribed before the first read: whatever the log gets after that read is in the
        // channel, whatever it had before is in the read.
        Tail {
            feed: self.clone(),
            _slot: slot,
            rx: self.tx.subscribe(),
            release,
            seen: cursor,
            page: VecDeque::new(),
            live: false,
            stop,
        }
    }

    /// One read: up to a page of events of `release` after `cursor`, and how far the log was
    /// read (every event up to it was seen, matching or not).
    async fn read(
        &self,
        release: Option<String>,
        cursor: i64,
    ) -> Result<(Vec<Item>, i64), Problem> {
        let mut conn = self.reader.clone().lock_owned().await;
        let db = self.db.clone();
        crate::blocking(move || {
            let st = match conn.take() {
                Some(st) => st,
                None => shiploop_store::open(&db)?,
            };
            let read = page(&*st, release.as_deref(), cursor, PAGE);
            *conn = Some(st);
            read
        })
        .await?
    }
}

/// Up to `limit` events of `release` after `cursor`, rendered, and how far they cover the log.
fn page(
    st: &dyn StateStore,
    release: Option<&str>,
    cursor: i64,
    limit: usize,
) -> Result<(Vec<Item>, i64), Problem> {
    // Read first: every event up to `end` was in the log before the page was read.
    let end = st.last_seq(None)?;
    let events = st.events_since(release, cursor, Some(limit))?;
    let last = events.last().map_or(cursor, |e| e.seq);
    // A full page may have more after it; otherwise the log was read to its end.
    let seen = if events.len() == limit {
        last
    } else {
        last.max(end)
    };
    let items = events
        .into_iter()
        .map(|e| Item {
            from: cursor,
            seq: e.seq,
            event: SseEvent::default()
                .id(e.seq.to_string())
                .event(e.kind())
                .json_data(&e)
                .unwrap_or_default(),
            release: e.release,
        })
        .collect();
    Ok((items, seen))
}

/// Where one stream is.
struct Tail {
    feed: Arc<Feed>,
    _slot: Slot,
    rx: broadcast::Receiver<Arc<Item>>,
    release: Option<String>,
    /// Every event up to this one was looked at (events of other releases are skipped).
    seen: i64,
    /// Read from the log, not sent yet.
    page: VecDeque<Item>,
    /// Caught up: new events come from the channel.
    live: bool,
    stop: watch::Receiver<bool>,
}

impl Tail {
    async fn next(&mut self) -> Option<Item> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            if let Some(item) = self.page.pop_front() {
                return Some(item);
            }
            if !self.live {
                match self.feed.read(self.release.clone(), self.seen).await {
                    Ok((items, seen)) => {
                        self.live = items.len() < PAGE;
                        self.page = items.into();
                        self.seen = seen;
                    }
                    // The database busy or gone: tried again shortly, the stream kept.
                    Err(_) => self.pause(POLL).await,
                }
                continue;
            }
            let item = tokio::select! {
                item = self.rx.recv() => item,
                _ = self.stop.changed() => return None,
            };
            match item {
                Ok(item) if item.seq <= self.seen => {}
                // A gap between what this stream saw and what the poller read: from the log.
                Ok(item) if item.from > self.seen => self.live = false,
                Ok(item) => {
                    self.seen = item.seq;
                    if self.release.as_ref().is_none_or(|r| *r == item.release) {
                        self.page.push_back((*item).clone());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.live = false,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    async fn pause(&mut self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.changed() => {}
        }
    }
}

/// Reads what is new in the event log every `POLL` and hands it to the streams; with no stream
/// open it only keeps its place at the log's end.
async fn poll(feed: Arc<Feed>, mut stop: watch::Receiver<bool>) {
    let mut conn: Option<Box<dyn StateStore + Send>> = None;
    let mut cursor: Option<i64> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let listening = feed.tx.receiver_count() > 0;
        let (db, at, taken) = (feed.db.clone(), cursor, conn.take());
        let read = crate::blocking(move || {
            let st = match taken {
                Some(st) => st,
                None => match shiploop_store::open(&db) {
                    Ok(st) => st,
                    Err(e) => return (None, Err(e.into())),
                },
            };
            let read = match at {
                Some(at) if listening => page(&*st, None, at, CHANNEL).map(Some),
                _ => st
                    .last_seq(None)
                    .map(|end| Some((vec![], end)))
                    .map_err(Problem::from),
            };
            (Some(st), read)
        })
        .await;
        let mut full = false;
        if let Ok((st, read)) = read {
            conn = st;
            if let Ok(Some((items, seen))) = read {
                full = items.len() == CHANNEL;
                for item in items {
                    let _ = feed.tx.send(Arc::new(item));
                }
                cursor = Some(seen);
            }
        }
        if !full {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiploop_store::event::{Event, OncallAcked};

    fn append(st: &mut shiploop_store::SqliteStore, n: usize) {
        for i in 0..n {
            let release = if i % 3 == 0 { "b" } else { "a" };
            let e = Event::OncallAcked(OncallAcked { by: i.to_string() });
            st.append(release, &e, chrono::Utc::now()).unwrap();
        }
    }

    async fn take(tail: &mut Tail, n: usize) -> Vec<(i64, String)> {
        let mut out = vec![];
        while out.len() < n {
            let item = tokio::time::timeout(Duration::from_secs(10), tail.next())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} events: {out:?}", out.len()))
                .expect("the stream ended");
            out.push((item.seq, item.release));
        }
        out
    }

    #[tokio::test]
    async fn streams_see_every_event_once_in_order_though_they_fall_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let mut st = shiploop_store::SqliteStore::open(&db).unwrap();
        append(&mut st, 100);
        let feed = Feed::new(
            Location::Sqlite(db),
            Limits {
                total: 3,
                per_token: 2,
            },
        );
        let (_tx, stop) = watch::channel(false);
        let mut all = feed.tail(feed.admit(0).unwrap(), None, 0, stop.clone());
        let mut only_a = feed.tail(feed.admit(0).unwrap(), Some("a".into()), 10, stop.clone());
        assert_eq!(feed.admit(0).err().unwrap().status, 429, "per token");
        let third = feed.admit(1).unwrap();
        assert_eq!(feed.admit(2).err().unwrap().status, 429, "in all");
        drop(third);
        assert!(feed.admit(2).is_ok(), "a slot is given back");
        let mut got = take(&mut all, 50).await;
        // Live: caught up, then new events through the channel.
        got.extend(take(&mut all, 50).await);
        append(&mut st, 10);
        got.extend(take(&mut all, 10).await);
        // More than the channel keeps while neither stream is read: both catch up from the log.
        append(&mut st, CHANNEL * 2 + 7);
        tokio::time::sleep(POLL * 3).await;
        let total = 110 + CHANNEL * 2 + 7;
        got.extend(take(&mut all, total - 110).await);
        let expected: Vec<(i64, String)> = st
            .events(None)
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.release))
            .collect();
        assert_eq!(got, expected);
        let a: Vec<_> = expected
            .into_iter()
            .filter(|(seq, r)| *seq > 10 && r == "a")
            .collect();
        assert_eq!(take(&mut only_a, a.len()).await, a);
        // Nothing more, and a stop ends the stream.
        let more = tokio::time::timeout(POLL * 3, all.next()).await;
        assert!(more.is_err(), "an event that is not in the log");
        _tx.send(true).unwrap();
        assert!(all.next().await.is_none());
    }
}
