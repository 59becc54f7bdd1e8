//! `ship serve` started on a free loopback port for a test, stopped when dropped.

use super::Ws;
use shiploop_testkit::{wait_for, Guard};
use std::net::SocketAddr;

pub const VIEWER: &str = "viewer-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";

/// A running `ship serve`, killed when dropped.
pub struct Serve {
    pub proc: Guard,
    pub addr: SocketAddr,
}

impl Serve {
    /// `ship serve` in `ws` (its ship.toml listening on `addr`) with the [`VIEWER`] and
    /// [`OPERATOR`] tokens and `env`, once it answers `/healthz`.
    pub fn spawn(ws: &Ws, addr: SocketAddr, env: &[(&str, &str)]) -> Serve {
        Serve::spawn_args(ws, addr, &["serve"], env)
    }

    /// `ship <args>` (a `serve` listening on `addr`), as [`Serve::spawn`].
    pub fn spawn_args(ws: &Ws, addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let tokens = format!("viewer:{VIEWER},operator:{OPERATOR}");
        let child = super::ship_quiet(ws.root(), args, env)
            .env("SHIP_API_TOKENS", tokens)
            .spawn()
            .unwrap();
        let mut s = Serve {
            proc: Guard::new(child),
            addr,
        };
        wait_for(&format!("http://{addr}/healthz"), &mut s.proc.child);
        s
    }
}
