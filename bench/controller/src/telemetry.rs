//! What the benchmark hears from the controllers: every tick's duration, every decision, the
//! provider errors — forwarded to the server's own `/metrics` counters as `ship serve` does —
//! and the supervisor's errors.

use hdrhistogram::Histogram;
use shiploop_controller::serve::Observer;
use shiploop_rollout::Decision;
use shiploop_server::metrics::ServeMetrics;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| unreachable!())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The controllers' telemetry hook.
pub struct Bench {
    pub metrics: Arc<ServeMetrics>,
    /// Tick durations in µs, since the measurement began.
    pub ticks: Mutex<Histogram<u64>>,
    /// Tick durations in µs, while rollouts were still being taken on.
    pub startup_ticks: Mutex<Histogram<u64>>,
    /// Ticks ended in each wall-clock second of the measurement.
    pub per_second: Mutex<BTreeMap<u64, u32>>,
    pub decisions: AtomicU64,
    pub measuring: AtomicBool,
    driven: Mutex<HashSet<String>>,
    pub driven_count: AtomicUsize,
    pub provider_errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Bench {
    pub fn new(metrics: Arc<ServeMetrics>) -> Bench {
        Bench {
            metrics,
            ticks: Mutex::new(histogram()),
            startup_ticks: Mutex::new(histogram()),
            per_second: Mutex::default(),
            decisions: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            driven: Mutex::default(),
            driven_count: AtomicUsize::new(0),
            provider_errors: Mutex::default(),
        }
    }

    /// (p50, p99, max) in ms.
    pub fn quantiles(h: &Histogram<u64>) -> (f64, f64, f64) {
        let ms = |v: u64| v as f64 / 1000.0;
        (
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }
}

impl shiploop_controller::Telemetry for Bench {
    fn tick(&self, took: Duration) {
        shiploop_controller::Telemetry::tick(&*self.metrics, took);
        let us = (took.as_micros() as u64).max(1);
        if self.measuring.load(Ordering::Relaxed) {
            let _ = lock(&self.ticks).record(us);
            let second = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            *lock(&self.per_second).entry(second).or_default() += 1;
        } else {
            let _ = lock(&self.startup_ticks).record(us);
        }
    }
    fn decision(&self, release: &str, d: &Decision) {
        shiploop_controller::Telemetry::decision(&*self.metrics, release, d);
        if self.measuring.load(Ordering::Relaxed) {
            self.decisions.fetch_add(1, Ordering::Relaxed);
        }
        let mut driven = lock(&self.driven);
        if !driven.contains(release) {
            driven.insert(release.to_string());
            self.driven_count.store(driven.len(), Ordering::Relaxed);
        }
    }
    fn provider_error(&self, provider: &'static str) {
        *lock(&self.provider_errors).entry(provider).or_default() += 1;
        shiploop_controller::Telemetry::provider_error(&*self.metrics, provider);
    }
}

/// The supervisor's observer: counts what ended and what failed.
#[derive(Default)]
pub struct Watch {
    pub errors: AtomicU64,
    pub finished: AtomicU64,
    pub first_errors: Mutex<Vec<String>>,
}

impl Observer for Watch {
    fn decision(&self, _release: &str, _d: &Decision) {}
    fn finished(&self, _release: &str, _outcome: &str) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
    fn error(&self, release: &str, message: &str, _retry_in: Duration) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = lock(&self.first_errors);
        if first.len() < 5 {
            first.push(format!("{release}: {message}"));
        }
    }
}
