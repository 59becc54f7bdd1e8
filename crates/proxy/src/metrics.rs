//! Golden metrics — requests, 5xx, connection errors, latency — per version and per instance,
//! over a sliding window of one-second buckets. Time is passed in (seconds since the proxy
//! started), so windows are tested without waiting.

use crate::split::Version;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};

/// Latencies are kept in microseconds, from 1 µs to 1 h, with 3 significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

#[derive(Debug, Clone)]
struct Bucket {
    second: u64,
    requests: u64,
    errors_5xx: u64,
    connection_errors: u64,
    latency: Histogram<u64>,
}

impl Bucket {
    fn new(second: u64) -> Bucket {
        Bucket {
            second,
            requests: 0,
            errors_5xx: 0,
            connection_errors: 0,
            latency: histogram(),
        }
    }
}

/// What one request did: the upstream's status, or no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    ConnectionError,
}

/// A sliding window of per-second buckets.
#[derive(Debug, Clone)]
pub struct Window {
    buckets: VecDeque<Bucket>,
    keep_secs: u64,
}

/// The window's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub requests: u64,
    pub errors_5xx: u64,
    pub connection_errors: u64,
    /// (5xx + connection errors) / requests; None without requests.
    pub error_rate: Option<f64>,
    /// Seconds; None without answered requests.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Window {
    /// Keeps the last `keep_secs` seconds (the longest window anyone will ask for).
    pub fn new(keep_secs: u64) -> Window {
        Window {
            buckets: VecDeque::new(),
            keep_secs: keep_secs.max(1),
        }
    }

    fn bucket(&mut self, second: u64) -> &mut Bucket {
        if self.buckets.back().is_none_or(|b| b.second < second) {
            self.buckets.push_back(Bucket::new(second));
        }
        while self
            .buckets
            .front()
            .is_some_and(|b| b.second + self.keep_secs <= second)
        {
            self.buckets.pop_front();
        }
        // Late arrivals (an older second) land in the newest bucket rather than being lost.
        self.buckets.back_mut().expect("a bucket was just ensured")
    }

    pub fn record(&mut self, second: u64, outcome: Outcome, latency_micros: u64) {
        let b = self.bucket(second);
        b.requests += 1;
        match outcome {
            Outcome::Status(s) if s >= 500 => b.errors_5xx += 1,
            Outcome::Status(_) => {}
            Outcome::ConnectionError => b.connection_errors += 1,
        }
        if matches!(outcome, Outcome::Status(_)) {
            let _ = b.latency.record(latency_micros.clamp(1, MAX_MICROS));
        }
    }

    /// Totals over the last `secs` seconds up to and including `now`.
    pub fn snapshot(&self, now: u64, secs: u64) -> Snapshot {
        let from = now.saturating_sub(secs.saturating_sub(1));
        let mut hist = histogram();
        let (mut requests, mut e5, mut ce) = (0, 0, 0);
        for b in self
            .buckets
            .iter()
            .filter(|b| b.second >= from && b.second <= now)
        {
            requests += b.requests;
            e5 += b.errors_5xx;
            ce += b.connection_errors;
            let _ = hist.add(&b.latency);
        }
        let q = |p: f64| (!hist.is_empty()).then(|| hist.value_at_quantile(p) as f64 / 1e6);
        Snapshot {
            requests,
            errors_5xx: e5,
            connection_errors: ce,
            error_rate: (requests > 0).then(|| (e5 + ce) as f64 / requests as f64),
            p50: q(0.50),
            p99: q(0.99),
        }
    }
}

/// A metric family: name, help text, and how to read it from a snapshot.
type Family = (&'static str, &'static str, fn(&Snapshot) -> Option<f64>);

/// Windows per version and per instance.
#[derive(Debug, Clone)]
pub struct Golden {
    keep_secs: u64,
    versions: [Window; 2],
    instances: BTreeMap<String, (Version, Window)>,
}

impl Golden {
    pub fn new(keep_secs: u64) -> Golden {
        Golden {
            keep_secs,
            versions: [Window::new(keep_secs), Window::new(keep_secs)],
            instances: BTreeMap::new(),
        }
    }

    fn idx(v: Version) -> usize {
        match v {
            Version::Stable => 0,
            Version::Canary => 1,
        }
    }

    pub fn record(
        &mut self,
        second: u64,
        version: Version,
        instance: &str,
        outcome: Outcome,
        latency_micros: u64,
    ) {
        self.versions[Self::idx(version)].record(second, outcome, latency_micros);
        // Looked up before inserting: the key is allocated once per instance, not per request.
        if let Some((_, w)) = self.instances.get_mut(instance) {
            w.record(second, outcome, latency_micros);
            return;
        }
        let mut w = Window::new(self.keep_secs);
        w.record(second, outcome, latency_micros);
        self.instances.insert(instance.to_string(), (version, w));
    }

    pub fn version(&self, v: Version, now: u64, secs: u64) -> Snapshot {
        self.versions[Self::idx(v)].snapshot(now, secs)
    }

    pub fn instances(&self, now: u64, secs: u64) -> Vec<(String, Version, Snapshot)> {
        self.instances
            .iter()
            .map(|(name, (v, w))| (name.clone(), *v, w.snapshot(now, secs)))
            .collect()
    }

    /// Prometheus text exposition of the window's totals, per version and per instance.
    pub fn prometheus(&self, now: u64, secs: u64) -> String {
        let mut out = String::new();
        let families: [Family; 5] = [
            ("ship_proxy_requests", "Requests in the window.", |s| {
                Some(s.requests as f64)
            }),
            ("ship_proxy_errors_5xx", "5xx answers in the window.", |s| {
                Some(s.errors_5xx as f64)
            }),
            (
                "ship_proxy_connection_errors",
                "Requests without an answer in the window.",
                |s| Some(s.connection_errors as f64),
            ),
            (
                "ship_proxy_latency_p50_seconds",
                "Median latency in the window.",
                |s| s.p50,
            ),
            (
                "ship_proxy_latency_p99_seconds",
                "p99 latency in the window.",
                |s| s.p99,
            ),
        ];
        for (name, help, f) in families {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for v in [Version::Stable, Version::Canary] {
                if let Some(x) = f(&self.version(v, now, secs)) {
                    out.push_str(&format!(
                        "{name}{{version=\"{}\",window=\"{secs}s\"}} {x}\n",
                        v.as_str()
                    ));
                }
            }
            for (inst, v, s) in self.instances(now, secs) {
                if let Some(x) = f(&s) {
                    let inst = inst.replace('\\', "\\\\").replace('"', "\\\"");
                    out.push_str(&format!(
                        "{name}{{version=\"{}\",instance=\"{inst}\",window=\"{secs}s\"}} {x}\n",
                        v.as_str()
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_injected_error_rate_is_measured_within_a_point() {
        let mut g = Golden::new(120);
        for n in 0..10_000u64 {
            // 5 % errors, as ship-sample injects them.
            let err = ((n + 1) * 5) / 100 > (n * 5) / 100;
            let outcome = Outcome::Status(if err { 500 } else { 200 });
            g.record(n / 200, Version::Canary, "v2-a", outcome, 1_000);
        }
        let s = g.version(Version::Canary, 49, 60);
        assert_eq!(s.requests, 10_000);
        let rate = s.error_rate.unwrap();
        assert!((rate - 0.05).abs() <= 0.01, "{rate}");
    }

    #[test]
    fn p99_of_an_injected_delay_is_measured_within_ten_percent() {
        let mut w = Window::new(60);
        for n in 0..1000u64 {
            // 200 ms plus a little noise.
            w.record(n / 100, Outcome::Status(200), 200_000 + (n % 7) * 300);
        }
        let p99 = w.snapshot(9, 10).p99.unwrap();
        assert!((p99 - 0.2).abs() / 0.2 <= 0.10, "{p99}");
    }

    #[test]
    fn the_window_slides_and_connection_errors_count() {
        let mut w = Window::new(10);
        w.record(0, Outcome::ConnectionError, 0);
        w.record(0, Outcome::Status(200), 5_000);
        w.record(5, Outcome::Status(503), 5_000);
        let s = w.snapshot(5, 10);
        assert_eq!((s.requests, s.errors_5xx, s.connection_errors), (3, 1, 1));
        assert!((s.error_rate.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // Ten seconds later the first second has left the window.
        w.record(10, Outcome::Status(200), 5_000);
        let s = w.snapshot(10, 10);
        assert_eq!(s.requests, 2);
        assert_eq!(
            Window::new(5).snapshot(3, 5).error_rate,
            None,
            "no requests: no data, not zero"
        );
    }

    #[test]
    fn prometheus_exposition_names_versions_and_instances() {
        let mut g = Golden::new(60);
        g.record(1, Version::Stable, "v1-a", Outcome::Status(200), 10_000);
        g.record(1, Version::Canary, "v2-a", Outcome::Status(500), 20_000);
        let text = g.prometheus(1, 60);
        assert!(text.contains("# TYPE ship_proxy_requests gauge"));
        assert!(
            text.contains("ship_proxy_requests{version=\"canary\",window=\"60s\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "ship_proxy_errors_5xx{version=\"canary\",instance=\"v2-a\",window=\"60s\"} 1"
            ),
            "{text}"
        );
    }
}
