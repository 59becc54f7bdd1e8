//! Child processes a test starts: found on PATH (or in /usr/sbin), killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Child;

/// The binary `name` on PATH or in /usr/sbin (Debian puts nginx and haproxy there). A missing
/// one fails the test — the test command installs it; nothing is skipped.
pub fn binary(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed; the test command installs it (apt-get install -y {name})");
}

/// `ship-sample` (or another binary built with the workspace) next to `ship`: `sibling(ship,
/// "ship-sample")`. Fails the test when it was not built.
pub fn sibling(bin: &Path, name: &str) -> PathBuf {
    let p = bin.with_file_name(name);
    assert!(
        p.is_file(),
        "{} is missing: cargo build --workspace",
        p.display()
    );
    p
}

/// A child process killed (and reaped) when dropped, so a failing test leaves no server behind.
pub struct Guard {
    /// The process (its pid, signals, `try_wait`).
    pub child: Child,
}

impl Guard {
    /// Takes `child` in charge.
    pub fn new(child: Child) -> Guard {
        Guard { child }
    }

    /// Stops it now (as if it crashed).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().map(|s| s.is_some()).unwrap_or(true)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}
