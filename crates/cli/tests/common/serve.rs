//! `ship serve` started on a free loopback port for a test, stopped when dropped.

use super::servers;
use super::Ws;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VIEWER: &str = "viewer-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";

pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// `ship serve` in `ws` (its ship.toml listening on `addr`) with the [`VIEWER`] and
    /// [`OPERATOR`] tokens and `env`, once it answers `/healthz`.
    pub fn spawn(ws: &Ws, addr: SocketAddr, env: &[(&str, &str)]) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_ship"))
            .arg("-C")
            .arg(ws.root())
            .arg("serve")
            .envs(env.iter().copied())
            .env(
                "SHIP_API_TOKENS",
                format!("viewer:{VIEWER},operator:{OPERATOR}"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = Serve { child, addr };
        let started = Instant::now();
        while servers::http_get(&format!("http://{addr}/healthz")).is_err() {
            assert!(
                s.child.try_wait().unwrap().is_none(),
                "ship serve exited before answering"
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "ship serve never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}
