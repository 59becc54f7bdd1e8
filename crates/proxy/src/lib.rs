//! ship's built-in data plane: a reverse proxy that splits live traffic between the stable and
//! the new version by percentage and measures every request.
//!
//! - [`split`]: which version a request goes to (weight, sticky key, override header);
//! - [`server`]: the HTTP/1.1 + h2c server and forwarding, on per-core threads, over [`pool`],
//!   which speaks HTTP/1.1 to the upstreams itself ([`h1`], [`response`]); plain HTTP/1.1
//!   requests are served by ship's own loop (`h1server`), the rest by hyper, whose client
//!   connections' head timeout is a watchdog (`watchdog`); request timers are reused
//!   (`timers`);
//! - [`measured`]: the response body that counts its request when it ends (or is cut off);
//! - [`metrics`]: golden metrics per version and instance, fed by the serving threads through
//!   [`recorder`]; [`health`]: active health checks;
//!   [`resources`]: memory and CPU of instances started by [`launch`];
//! - [`admin`]: the token-protected admin API the builtin router and metric source call, with
//!   [`exposition`], its Prometheus `/metrics`.

pub mod admin;
pub mod exposition;
pub mod h1;
mod h1server;
pub mod health;
pub mod launch;
pub mod measured;
pub mod metrics;
pub mod pool;
pub mod recorder;
pub mod resources;
pub mod response;
pub mod server;
pub mod split;
mod timers;
pub mod upload;
mod watchdog;
