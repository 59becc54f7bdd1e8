//! `ship serve` under load: hundreds of idle live event streams (memory, the API's latency, the
//! caps on streams per token and in all) and clients that send half a request and go quiet.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::serve::{Serve, OPERATOR, VIEWER};
use common::servers::free_addr;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

impl Serve {
    /// A workspace whose `[server]` table gets `keys`, and `ship serve` answering on it.
    fn start(keys: &str, events: usize) -> (Ws, Serve) {
        let ws = Ws::init();
        let addr = free_addr();
        let mut cfg = ws.read("ship.toml").replace(
            "listen = \"127.0.0.1:8480\"",
            &format!("listen = \"{addr}\""),
        );
        // The template lists every [server] key with its default: each is set in its place.
        for line in keys.lines() {
            let key = line.split(" = ").next().unwrap();
            // Other tables have keys of the same names (request_timeout): look in [server].
            let server = cfg.find("\n[server]\n").unwrap();
            let at = server + cfg[server..].find(&format!("\n{key} = ")).expect(key) + 1;
            let end = at + cfg[at..].find('\n').unwrap();
            cfg.replace_range(at..end, line);
        }
        ws.write("ship.toml", &cfg);
        if events > 0 {
            fill_event_log(&ws, events);
        }
        let s = Serve::spawn(&ws, addr, &[]);
        (ws, s)
    }

    /// The server's resident memory, in kB.
    fn rss_kb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.proc.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// A live event stream opened and left unread after its status line: (status, connection).
    fn open_stream(&self, token: &str, query: &str) -> (u16, TcpStream) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        write!(
            s,
            "GET /api/v1/events/stream{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
        (status, s)
    }

    /// `GET path` on a new connection: (status, the whole answer, how long it took).
    fn timed_get(&self, path: &str, token: &str) -> (u16, String, Duration) {
        let started = Instant::now();
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        (status, out, started.elapsed())
    }
}

/// `n` events the size of a rollout's decisions (about 2.5 kB of JSON each, with the judge's
/// evidence), as a long-running server's event log holds.
fn fill_event_log(ws: &Ws, n: usize) {
    use shiploop_store::event::{Event, Unrecognised};
    use shiploop_store::StateStore;
    let mut st = shiploop_store::SqliteStore::open(&ws.path(".ship/state.db")).unwrap();
    // One fsync per event would take minutes; the test's database need not survive a crash.
    st.connection()
        .pragma_update(None, "synchronous", "OFF")
        .unwrap();
    let evidence: Vec<_> = (0..12)
        .map(|i| json!({ "check": format!("check-{i}"), "canary": 0.0123 * i as f64, "stable": 0.01, "samples": 1200 + i, "verdict": "pass", "why": "within the margin at 99 % confidence" }))
        .collect();
    for i in 0..n {
        let data = json!({
            "kind": "hold", "stage_name": "canary", "weight": 5, "tick": i,
            "reason": "canary errors 41/1,230 (3.33 %) vs stable 212/23,400 (0.91 %): not yet above the 1 pp margin with 99 % confidence",
            "evidence": evidence,
        });
        // The decision's size, not its fields, is what this test is about: kept as written.
        let e = Event::Unrecognised(Unrecognised {
            kind: "decision".into(),
            data,
        });
        st.append("2026-12-01-web", &e, chrono::Utc::now()).unwrap();
    }
}

#[test]
fn hundreds_of_idle_event_streams_cost_little_and_the_api_stays_fast() {
    const STREAMS: usize = 300;
    let (ws, s) = Serve::start("max_streams = 400\nmax_streams_per_token = 400", 2000);
    let before = s.rss_kb();
    // Clients that replay the whole log (no `after`) and then never read.
    let started = Instant::now();
    let streams: Vec<TcpStream> = (0..STREAMS)
        .map(|_| {
            let (status, c) = s.open_stream(VIEWER, "");
            assert_eq!(status, 200);
            c
        })
        .collect();
    let opened = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let with = s.rss_kb();
    let mut took: Vec<Duration> = (0..20)
        .map(|_| {
            let (status, body, t) = s.timed_get("/api/v1/rollouts", VIEWER);
            assert_eq!(status, 200, "{body}");
            t
        })
        .collect();
    took.sort();
    let per_stream = with.saturating_sub(before) / STREAMS as u64;
    eprintln!(
        "{STREAMS} streams opened in {opened:?}; RSS {before} kB -> {with} kB ({per_stream} kB a stream); /api/v1/rollouts median {:?}, max {:?}",
        took[10], took[19]
    );
    assert!(per_stream < 300, "{per_stream} kB a stream");
    assert!(took[10] < Duration::from_millis(100), "{took:?}");
    assert!(took[19] < Duration::from_secs(1), "{took:?}");

    // A new event still reaches a stream that follows the log's end.
    let (status, mut follower) = s.open_stream(VIEWER, "?after=2000");
    assert_eq!(status, 200);
    use shiploop_store::event::{Event, Unrecognised};
    use shiploop_store::StateStore;
    let mut st = shiploop_store::SqliteStore::open(&ws.path(".ship/state.db")).unwrap();
    let paused = Event::Unrecognised(Unrecognised {
        kind: "paused".into(),
        data: json!({"reason": "look"}),
    });
    st.append("2026-12-01-web", &paused, chrono::Utc::now())
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("id: 2001") {
        let n = follower.read(&mut buf).expect("the new event within 20 s");
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("event: paused"), "{seen}");
    drop(streams);
}

#[test]
fn streams_beyond_a_tokens_cap_or_the_servers_get_429() {
    let (_ws, s) = Serve::start("max_streams = 5\nmax_streams_per_token = 3", 0);
    let mut viewer: Vec<TcpStream> = (0..3)
        .map(|_| {
            let (status, c) = s.open_stream(VIEWER, "");
            assert_eq!(status, 200);
            c
        })
        .collect();
    let refused = |token: &str, cap: &str| {
        let (status, body, _) = s.timed_get("/api/v1/events/stream", token);
        assert_eq!(status, 429, "{body}");
        let lower = body.to_lowercase();
        assert!(
            lower.contains("content-type: application/problem+json"),
            "{body}"
        );
        assert!(lower.contains("retry-after: "), "{body}");
        assert!(body.contains(cap), "{body}");
    };
    refused(VIEWER, "server.max_streams_per_token");
    // Another token has its own share, up to the server's cap.
    let operator: Vec<TcpStream> = (0..2)
        .map(|_| {
            let (status, c) = s.open_stream(OPERATOR, "");
            assert_eq!(status, 200);
            c
        })
        .collect();
    refused(OPERATOR, "server.max_streams");
    // A closed stream gives its place back.
    drop(viewer.pop());
    let started = Instant::now();
    loop {
        let (status, c) = s.open_stream(VIEWER, "");
        if status == 200 {
            viewer.push(c);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Other requests are not counted.
    let (status, body, _) = s.timed_get("/api/v1/rollouts", VIEWER);
    assert_eq!(status, 200, "{body}");
    drop(operator);
}

#[test]
fn half_sent_requests_and_idle_connections_are_closed_after_the_header_read_timeout() {
    let (_ws, s) = Serve::start("header_read_timeout = \"1s\"", 0);
    let half: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    let silent = TcpStream::connect(s.addr).unwrap();
    // A keep-alive connection that asked once and then went quiet.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // A live stream sends no request head while it lasts: it stays open.
    let (status, mut stream) = s.open_stream(VIEWER, "");
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(2500));
    for (i, mut c) in half.into_iter().chain([silent, idle]).enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        match c.read_to_end(&mut vec![]) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} still open after 2.5 s: {e}"),
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    match stream.read(&mut buf) {
        Ok(n) => assert!(n > 0, "the live stream was closed"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
    }
    let (status, body, _) = s.timed_get("/healthz", VIEWER);
    assert_eq!((status, body.ends_with("ok\n")), (200, true), "{body}");
}

/// Sends `head` (a request head and the start of its body) and reads the status line: (status,
/// how long it took, the connection).
fn send_head(addr: SocketAddr, head: &str) -> (u16, Duration, TcpStream) {
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut status = [0u8; 12];
    c.read_exact(&mut status)
        .unwrap_or_else(|e| panic!("no answer to {head:?}: {e}"));
    let code = String::from_utf8_lossy(&status[9..12]).parse().unwrap();
    (code, started.elapsed(), c)
}

/// Reads what is left of the answer; the connection must then be closed by the server.
fn rest_and_closed(mut c: TcpStream, what: &str) -> String {
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = vec![];
    match c.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: the connection stayed open: {e}"),
    }
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn stalled_bodies_are_answered_401_at_once_without_a_token_and_408_after_the_request_timeout() {
    let (_ws, s) = Serve::start("request_timeout = \"1s\"", 0);
    let stalled = |path: &str, auth: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{body}"
        )
    };
    // Without a token, a command's body is never waited for.
    for path in ["/api/v1/rollouts/x/pause", "/releases/x/pause"] {
        let (status, took, c) = send_head(s.addr, &stalled(path, "", "{"));
        assert_eq!(status, 401, "{path}");
        assert!(took < Duration::from_millis(800), "{path}: {took:?}");
        drop(c);
    }
    let operator = format!("Authorization: Bearer {OPERATOR}\r\n");
    let chunked = format!(
        "POST /api/v1/rollouts/x/pause HTTP/1.1\r\nHost: x\r\n{operator}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n"
    );
    let login = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=ab".to_string();
    for (what, head) in [
        (
            "a command's body",
            stalled("/api/v1/rollouts/x/pause", &operator, "{"),
        ),
        ("a chunked body", chunked),
        ("a login form", login),
    ] {
        let (status, took, c) = send_head(s.addr, &head);
        assert_eq!(status, 408, "{what}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{what}: {took:?}"
        );
        let rest = rest_and_closed(c, what);
        assert!(rest.contains("application/problem+json"), "{what}: {rest}");
        assert!(rest.contains("request_timeout"), "{what}: {rest}");
    }
    // A whole body still works.
    let body = r#"{"reason":"x"}"#;
    let (status, _, c) = send_head(
        s.addr,
        &format!(
            "POST /api/v1/rollouts/nope/pause HTTP/1.1\r\nHost: x\r\n{operator}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 404, "{}", rest_and_closed(c, "a whole body"));
}

/// The server process's open file descriptors.
fn open_fds(s: &Serve) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", s.proc.child.id()))
        .unwrap()
        .count()
}

#[test]
fn connections_beyond_max_connections_wait_unaccepted_and_requests_are_still_answered() {
    const CAP: usize = 20;
    let (_ws, s) = Serve::start(
        &format!("header_read_timeout = \"1s\"\nmax_connections = {CAP}"),
        0,
    );
    let before = open_fds(&s);
    let silent: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = open_fds(&s);
    eprintln!("descriptors: {before} before, {during} with 60 silent clients (cap {CAP})");
    assert!(during <= before + CAP, "{before} → {during}");
    // Slow clients are closed by their timeouts, so the places come free: an authorized
    // request waits its turn and is answered.
    let (status, body, took) = s.timed_get("/api/v1/rollouts", VIEWER);
    eprintln!("an authorized request behind them took {took:?}");
    assert_eq!(status, 200, "{body}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(silent);
}

#[test]
fn an_events_page_is_bounded_and_more_leads_to_the_rest() {
    const EVENTS: usize = 450;
    let (_ws, s) = Serve::start("", EVENTS);
    let (mut after, mut seen, mut pages) = (0i64, 0usize, 0);
    loop {
        let (status, body, _) = s.timed_get(&format!("/api/v1/events?after={after}"), VIEWER);
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value =
            serde_json::from_str(&body[body.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        let events = json["events"].as_array().unwrap();
        assert!(events.len() <= 200, "a page of {}", events.len());
        seen += events.len();
        pages += 1;
        if json["more"] == false {
            break;
        }
        assert_eq!(events.len(), 200);
        after = events.last().unwrap()["seq"].as_i64().unwrap();
    }
    assert!(seen >= EVENTS, "{seen} events in {pages} pages");
    assert!(pages >= 3, "{pages} pages");
}
