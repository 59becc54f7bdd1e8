//! The API and dashboard client: a thread that asks `/api/v1/rollouts?limit=100`, `/` and
//! `/metrics` in turn, a few times a second, with a viewer token, and times each answer.

use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The paths asked, in turn.
pub const PATHS: [&str; 3] = ["/api/v1/rollouts?limit=100", "/", "/metrics"];

/// What the client measured, per path: latencies in µs, answer sizes, failures.
pub struct Probe {
    pub latency: Vec<Histogram<u64>>,
    pub bytes: Vec<u64>,
    pub failures: Vec<(String, String)>,
}

impl Probe {
    fn new() -> Probe {
        Probe {
            latency: PATHS
                .iter()
                .map(|_| {
                    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!())
                })
                .collect(),
            bytes: vec![0; PATHS.len()],
            failures: vec![],
        }
    }
}

/// Starts the client; it stops when `stop` is set.
pub fn start(
    addr: SocketAddr,
    token: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> (std::thread::JoinHandle<()>, Arc<Mutex<Probe>>) {
    let probe = Arc::new(Mutex::new(Probe::new()));
    let out = probe.clone();
    let handle = std::thread::spawn(move || {
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let which = i % PATHS.len();
            i += 1;
            let started = Instant::now();
            let answer = get(addr, PATHS[which], &token);
            let took = started.elapsed();
            let mut p = out.lock().unwrap_or_else(|e| e.into_inner());
            match answer {
                Ok((200, len)) => {
                    let _ = p.latency[which].record(took.as_micros().max(1) as u64);
                    p.bytes[which] = len as u64;
                }
                Ok((status, _)) => p
                    .failures
                    .push((PATHS[which].into(), format!("HTTP {status}"))),
                Err(e) => p.failures.push((PATHS[which].into(), e.to_string())),
            }
            drop(p);
            std::thread::sleep(every.saturating_sub(took));
        }
    });
    (handle, probe)
}

/// One GET on a new connection; the status and the body's length.
fn get(addr: SocketAddr, path: &str, token: &str) -> std::io::Result<(u16, usize)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nCookie: ship_token={token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, buf.len() - head_end))
}
