//! The sample service as a process on a free loopback port.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Sample {
    child: Child,
    addr: String,
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Sample {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ship-sample"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    Sample { child, addr }
}

/// (status, x-ship-version) of one GET.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let version = resp
        .lines()
        .find_map(|l| l.strip_prefix("x-ship-version: "))
        .unwrap_or("")
        .trim()
        .to_string();
    (status, version)
}

#[test]
fn answers_with_its_version_and_the_error_rate_it_was_given() {
    let s = start(&["--version", "v2", "--error-rate", "0.05"]);
    let statuses: Vec<u16> = (0..200).map(|_| get(&s.addr, "/").0).collect();
    assert_eq!(statuses.iter().filter(|c| **c == 500).count(), 10);
    assert_eq!(get(&s.addr, "/").1, "v2");
    assert_eq!(get(&s.addr, "/healthz").0, 200);
}

#[test]
fn fails_health_checks_and_adds_latency_on_request() {
    let s = start(&["--fail-health", "--latency-ms", "150"]);
    assert_eq!(get(&s.addr, "/healthz").0, 503);
    let t = Instant::now();
    assert_eq!(get(&s.addr, "/").0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
}
