//! Waiting on a condition instead of sleeping a fixed time: polled often, with a deadline long
//! enough for a loaded machine that only a broken test reaches.

use crate::http::http_get;
use std::process::Child;
use std::time::{Duration, Instant};

/// Polls `done` every `every` until it holds; fails the test naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what}: not within {} s",
            limit.as_secs()
        );
        std::thread::sleep(every);
    }
}

/// Waits until `url` answers at all (any status), failing if `child` exits first or after
/// 20 s.
pub fn wait_for(url: &str, child: &mut Child) {
    let started = Instant::now();
    while http_get(url).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process serving {url} exited"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url} never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `GET url` answers 200, failing if `child` (named `what`) exits first or after
/// 30 s.
pub fn wait_ready(url: &str, child: &mut Child, what: &str) {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before it was ready");
        }
        if http_get(url).is_ok_and(|(code, _)| code == 200) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
