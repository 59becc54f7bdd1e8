//! Active health checks: every instance is asked for its health path on an interval; a run of
//! failures marks it unhealthy, a run of successes healthy again. The failed-instance ratio per
//! version feeds the "health checks failing in more than N % of instances" rollback trigger.

use crate::split::Version;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the active health checks ask each instance.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// The HTTP path asked (`/healthz` by default).
    pub path: String,
    /// Time between two checks of one instance.
    pub interval: Duration,
    /// How long a check may take before it counts as failed.
    pub timeout: Duration,
    /// Consecutive failures that mark an instance unhealthy.
    pub unhealthy_threshold: u32,
    /// Consecutive successes that mark it healthy again.
    pub healthy_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            path: "/healthz".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
        }
    }
}

/// What the health checks know of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHealth {
    /// The release the instance serves (stable or canary).
    pub version: Version,
    /// Whether it is in service, by the last run of checks.
    pub healthy: bool,
    /// Failed checks in a row so far.
    pub consecutive_failures: u32,
    /// Passed checks in a row so far.
    pub consecutive_successes: u32,
    /// Why the latest failed check failed, if one has.
    pub last_error: Option<String>,
    /// Checks done so far; 0 means nothing is known yet.
    pub checks: u64,
}

/// Told when an instance turns healthy or unhealthy (the proxy, so it routes around it).
pub type Observer = Arc<dyn Fn(SocketAddr, bool) + Send + Sync>;

/// The health checks' findings per instance, shared by the checker, the proxy and the admin API.
#[derive(Default)]
pub struct Health {
    instances: Mutex<BTreeMap<SocketAddr, InstanceHealth>>,
    observer: Mutex<Option<Observer>>,
}

impl Health {
    /// Sets who is told when an instance turns healthy or unhealthy.
    pub fn observe(&self, f: Observer) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }
}

impl Health {
    /// The share (0–1) of `version`'s checked instances that are unhealthy, and how many were
    /// checked; None before any instance of that version has been checked.
    pub fn failed_ratio(&self, version: Version) -> Option<(f64, usize)> {
        let map = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let checked: Vec<&InstanceHealth> = map
            .values()
            .filter(|h| h.version == version && h.checks > 0)
            .collect();
        if checked.is_empty() {
            return None;
        }
        let failed = checked.iter().filter(|h| !h.healthy).count();
        Some((failed as f64 / checked.len() as f64, checked.len()))
    }

    /// Every checked instance's health, by address.
    pub fn instances(&self) -> BTreeMap<SocketAddr, InstanceHealth> {
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(
        &self,
        addr: SocketAddr,
        version: Version,
        cfg: &HealthConfig,
        result: Result<(), String>,
    ) {
        let mut map = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.get(&addr).map(|h| h.healthy);
        let h = map.entry(addr).or_insert(InstanceHealth {
            version,
            healthy: true,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_error: None,
            checks: 0,
        });
        h.checks += 1;
        match result {
            Ok(()) => {
                h.consecutive_successes += 1;
                h.consecutive_failures = 0;
                if h.consecutive_successes >= cfg.healthy_threshold {
                    h.healthy = true;
                }
            }
            Err(e) => {
                h.consecutive_failures += 1;
                h.consecutive_successes = 0;
                h.last_error = Some(e);
                if h.consecutive_failures >= cfg.unhealthy_threshold {
                    h.healthy = false;
                }
            }
        }
        let now = h.healthy;
        drop(map);
        if before.unwrap_or(true) != now {
            if let Some(f) = self
                .observer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                f(addr, now);
            }
        }
    }
}

/// Starts checking `instances` (address, version) and returns the shared health table. The
/// checks run until the returned handle is aborted.
pub fn spawn(
    instances: Vec<(SocketAddr, Version)>,
    cfg: HealthConfig,
) -> (Arc<Health>, tokio::task::JoinHandle<()>) {
    let health = Arc::new(Health::default());
    let h = health.clone();
    let task = tokio::spawn(async move {
        // A fresh connection per check: a kept-alive one could outlive a listener that died.
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let mut tick = tokio::time::interval(cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let checks = instances.iter().map(|(addr, version)| {
                let client = client.clone();
                let cfg = cfg.clone();
                let h = h.clone();
                let (addr, version) = (*addr, *version);
                async move {
                    let result = check(&client, addr, &cfg).await;
                    h.record(addr, version, &cfg, result);
                }
            });
            futures_join_all(checks).await;
        }
    });
    (health, task)
}

async fn check(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    cfg: &HealthConfig,
) -> Result<(), String> {
    let uri = format!("http://{addr}{}", cfg.path);
    let req = hyper::Request::get(uri)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let fut = async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("health check answered {status}"))
        }
    };
    match tokio::time::timeout(cfg.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:?}", cfg.timeout)),
    }
}

/// Runs the futures concurrently and waits for all (a small join_all, to avoid a dependency).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}
