//! What the workspace's tests set up again and again, in one place: a temporary workspace
//! (ship.toml, verdicts, keys, an approved release), servers started on free loopback ports and
//! stopped when dropped (`ship serve`, `ship proxy`, `ship-sample`, Prometheus, Alertmanager),
//! waiting for a URL or a condition, and seeds for randomised tests that are printed and can be
//! replayed (`SHIP_TEST_SEED=<n>`), and a throw-away PostgreSQL cluster ([`postgres::Cluster`]).
//!
//! A dev-dependency only (`publish = false`): a failed set-up fails the test that asked for
//! it, so this crate panics with a message instead of returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http;
pub mod postgres;
pub mod process;
pub mod seed;
pub mod servers;
pub mod wait;
pub mod workspace;

pub use http::{free_addr, http, http_get};
pub use process::{binary, Guard};
pub use seed::{seed, Rng, SEED_VAR};
pub use wait::{wait_for, wait_ready, wait_until};
pub use workspace::TempWorkspace;
