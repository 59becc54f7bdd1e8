//! The admin API: a separate, loopback-by-default port where the rollout engine reads the
//! proxy's state and measurements and sets the weight. Every request needs the bearer token.
//!
//! - `GET /state` → `{"weight": 5, "health": {...}}`
//! - `PUT /weight` with `{"weight": 25}` → the new state
//! - `GET /measure?window=60&slow=0.6&target=0.3` → measurements keyed as the engine asks for
//!   them: request counts since the proxy started (`canary/requests`, `canary/errors`, and with
//!   `slow`/`target` in seconds `canary/slow`, `canary/slow_target`: requests slower than each),
//!   the window's `canary/error_rate` and `canary/latency_p99` (the same for `stable/…`),
//!   `canary/failed_instances`, and for instances ship started `canary/memory_rss_bytes`,
//!   `canary/cpu_cores`
//! - `GET /metrics` → Prometheus exposition ([`crate::exposition`])

use crate::health::Health;
use crate::resources::Resources;
use crate::server::Proxy;
use crate::split::Version;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The admin API: the proxy whose weight the rollout sets, what it reports, and its token.
pub struct Admin {
    /// The proxy whose weight and measurements the admin API serves.
    pub proxy: Arc<Proxy>,
    /// The active health checks, when configured (for `canary/failed_instances`).
    pub health: Option<Arc<Health>>,
    /// Memory and CPU of the instances ship started, when there are any.
    pub resources: Option<Arc<Resources>>,
    /// The bearer token every admin request must carry.
    pub token: String,
    /// Where a new weight is written before it takes effect, so that a restarted proxy serves
    /// the weight the rollout set (None: the weight lives only in memory).
    pub state_file: Option<std::path::PathBuf>,
    /// What the saved weight is for (see [`save_weight`]).
    pub fingerprint: String,
}

/// Writes `{"weight": w, "canary": fingerprint}` to `path` atomically (a temporary file, then
/// a rename). The fingerprint names the canary instances the weight was set for, so a weight
/// saved for v2 is never applied to a v3 configured later.
pub fn save_weight(path: &std::path::Path, weight: u8, fingerprint: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        json!({ "weight": weight, "canary": fingerprint }).to_string(),
    )?;
    std::fs::rename(&tmp, path)
}

/// The weight saved at `path` for the canary `fingerprint`, if any.
pub fn saved_weight(path: &std::path::Path, fingerprint: &str) -> Option<u8> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    if v.get("canary")?.as_str()? != fingerprint {
        return None;
    }
    v.get("weight")?
        .as_u64()
        .filter(|w| *w <= 100)
        .map(|w| w as u8)
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// Compares in constant time, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    fn state(&self) -> Value {
        let health: Value = match &self.health {
            None => Value::Null,
            Some(h) => h
                .instances()
                .into_iter()
                .map(|(addr, i)| {
                    (
                        addr.to_string(),
                        json!({ "version": i.version.as_str(), "healthy": i.healthy, "checks": i.checks, "last_error": i.last_error }),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
        };
        let resources: Value = match &self.resources {
            None => Value::Null,
            Some(r) => r
                .instances()
                .into_iter()
                .map(|(addr, u)| {
                    (
                        addr.to_string(),
                        json!({ "version": u.version.as_str(), "pid": u.pid, "memory_rss_bytes": u.rss_bytes, "cpu_cores": u.cpu_cores, "error": u.error }),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
        };
        json!({ "weight": self.proxy.weight(), "health": health, "resources": resources })
    }

    /// Measurements in the engine's keys: counts since the proxy started (requests slower than
    /// `slow` and `target` seconds when given), and gauges over the last `window` seconds.
    pub fn measure(&self, window: u64, slow: Option<f64>, target: Option<f64>) -> Value {
        let now = self.proxy.now_secs();
        let m = self.proxy.metrics.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = serde_json::Map::new();
        for v in [Version::Stable, Version::Canary] {
            let t = m.totals(v);
            // A count stands on the version's requests so far (none: no data yet).
            let count = |n: u64| json!({ "value": n, "samples": t.requests });
            out.insert(format!("{}/requests", v.as_str()), count(t.requests));
            out.insert(format!("{}/errors", v.as_str()), count(t.errors));
            if let Some(s) = slow {
                out.insert(format!("{}/slow", v.as_str()), count(t.slower_than(s)));
            }
            if let Some(s) = target {
                out.insert(
                    format!("{}/slow_target", v.as_str()),
                    count(t.slower_than(s)),
                );
            }
        }
        for v in [Version::Stable, Version::Canary] {
            let s = m.version(v, now, window);
            let rate = match s.error_rate {
                Some(r) => json!({ "value": r, "samples": s.requests }),
                None => Value::Null,
            };
            out.insert(format!("{}/error_rate", v.as_str()), rate);
            let p99 = match s.p99 {
                Some(p) => json!({ "value": p, "samples": s.requests - s.connection_errors }),
                None => Value::Null,
            };
            out.insert(format!("{}/latency_p99", v.as_str()), p99);
        }
        if let Some(h) = &self.health {
            for v in [Version::Stable, Version::Canary] {
                let ratio = match h.failed_ratio(v) {
                    Some((r, n)) => json!({ "value": r, "samples": n }),
                    None => Value::Null,
                };
                out.insert(format!("{}/failed_instances", v.as_str()), ratio);
            }
        }
        if let Some(r) = &self.resources {
            for v in [Version::Stable, Version::Canary] {
                let (rss, cpu) = r.worst(v);
                let rss = rss.map_or(Value::Null, |(b, n)| json!({ "value": b, "samples": n }));
                let cpu = cpu.map_or(Value::Null, |(c, n)| json!({ "value": c, "samples": n }));
                out.insert(format!("{}/memory_rss_bytes", v.as_str()), rss);
                out.insert(format!("{}/cpu_cores", v.as_str()), cpu);
            }
        }
        Value::Object(out)
    }

    /// Answers one admin request (`/state`, `/weight`, `/measure`, `/metrics`) with a valid token.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let authorised = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.trim().as_bytes(), self.token.as_bytes()));
        if !authorised {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "a valid bearer token is required" }),
            );
        }
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/state") => reply(StatusCode::OK, self.state()),
            (Method::PUT | Method::POST, "/weight") => {
                let body = match req.into_body().collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(e) => {
                        return reply(StatusCode::BAD_REQUEST, json!({ "error": e.to_string() }))
                    }
                };
                let weight = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("weight").and_then(Value::as_u64))
                    .filter(|w| *w <= 100);
                match weight {
                    Some(w) => {
                        let w = w as u8;
                        let saved = match &self.state_file {
                            Some(path) => save_weight(path, w, &self.fingerprint).map_err(|e| {
                                format!("cannot save the weight to {}: {e}", path.display())
                            }),
                            None => Ok(()),
                        };
                        match saved {
                            Ok(()) => {
                                self.proxy.set_weight(w);
                                reply(StatusCode::OK, self.state())
                            }
                            // Less canary traffic is always applied — a full disk must never
                            // stand between an operator and a rollback — with the warning.
                            Err(e) if w <= self.proxy.weight() => {
                                self.proxy.set_weight(w);
                                let mut state = self.state();
                                state["warning"] = json!(format!(
                                    "{e}; a restarted proxy will not know this weight"
                                ));
                                reply(StatusCode::OK, state)
                            }
                            Err(e) => reply(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                json!({ "error": format!("weight not raised: {e}") }),
                            ),
                        }
                    }
                    None => reply(
                        StatusCode::BAD_REQUEST,
                        json!({ "error": "expected {\"weight\": 0-100}" }),
                    ),
                }
            }
            (Method::GET, "/measure") => {
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .map(str::to_string)
                };
                let window = param("window").and_then(|w| w.parse().ok()).unwrap_or(60);
                let secs = |name: &str| -> Result<Option<f64>, String> {
                    match param(name) {
                        None => Ok(None),
                        Some(v) => match v.parse::<f64>() {
                            Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                            _ => Err(format!("{name}={v}: expected seconds, e.g. {name}=0.6")),
                        },
                    }
                };
                match (secs("slow"), secs("target")) {
                    (Ok(slow), Ok(target)) => {
                        reply(StatusCode::OK, self.measure(window, slow, target))
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        reply(StatusCode::BAD_REQUEST, json!({ "error": e }))
                    }
                }
            }
            (Method::GET, "/metrics") => {
                let text = {
                    let golden = self.proxy.metrics.lock().unwrap_or_else(|p| p.into_inner());
                    crate::exposition::render(&golden, self.resources.as_deref())
                };
                Response::builder()
                    .header("content-type", crate::exposition::CONTENT_TYPE)
                    .body(Full::new(Bytes::from(text)))
                    .unwrap_or_default()
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("no {path} here") }),
            ),
        }
    }
}

/// Serves the admin API on `listener` until the task is dropped.
pub async fn serve(admin: Arc<Admin>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    loop {
        let Some((stream, _)) = crate::server::accept(&listener).await else {
            continue;
        };
        let admin = admin.clone();
        let head_timeout = admin.proxy.limits().head_timeout;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let a = admin.clone();
                async move { Ok::<_, std::convert::Infallible>(a.handle(req).await) }
            });
            // The same first-bytes and head timeout as the proxy's clients.
            crate::server::serve_client(stream, svc, head_timeout).await;
        });
    }
}
