//! Real servers for integration tests, each started on a free loopback port and stopped when
//! dropped (shiploop-testkit's), and ways to send them traffic. A missing server binary fails
//! the test (the test command installs them); it never skips.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use shiploop_testkit::servers::{
    alertmanager, post_alert, prometheus, prometheus_with, Server,
};
#[allow(unused_imports)]
pub use shiploop_testkit::{binary, free_addr, http, http_get, wait_ready};

/// `ship-sample`, built with the workspace, next to the `ship` under test.
pub fn sample(args: &[&str]) -> Server {
    shiploop_testkit::servers::sample(Path::new(env!("CARGO_BIN_EXE_ship")), args)
}

/// Sends `n` GET requests to `addr`.
pub fn load(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        let _ = http_get(&format!("http://{addr}/checkout"));
    }
}

/// The versions (from ship-sample's JSON body) that answered `n` GETs of `front`, deduplicated.
pub fn versions(front: SocketAddr, n: usize) -> Vec<String> {
    let mut out = vec![];
    for _ in 0..n {
        let (code, body) = http_get(&format!("http://{front}/checkout")).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        out.push(v["version"].as_str().unwrap().to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// `ship -C <ws> args…` running in the background, output discarded.
pub fn ship_in_background(root: &Path, args: &[&str]) -> Child {
    super::ship_quiet(root, args, &[]).spawn().unwrap()
}
