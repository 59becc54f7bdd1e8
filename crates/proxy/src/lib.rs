//! ship's built-in data plane: a reverse proxy that splits live traffic between the stable and
//! the new version by percentage and measures every request.
//!
//! Built in parts (issue 4): the routing decision lives in [`split`]; the server, golden metrics,
//! health checks and admin API build on it.

pub mod admin;
pub mod health;
pub mod metrics;
pub mod pool;
pub mod server;
pub mod split;
