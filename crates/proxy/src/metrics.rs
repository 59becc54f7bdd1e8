//! Golden metrics — requests, 5xx, connection errors, latency — per version and per instance:
//! over a sliding window of one-second buckets (the gauges the dashboard charts), and as
//! counters since the proxy started (what the judge and Prometheus' `rate()` need). Time is
//! passed in (seconds since the proxy started), so windows are tested without waiting.

use crate::split::Version;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};

/// Latencies are kept in microseconds, from 1 µs to 1 h, with 3 significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// The same precision, sized for the largest latency it has seen so far. A window makes one
/// per version and instance every second: sized for 1 h up front, each was ~180 kB of zeroed
/// memory (and a 60 s window ~43 MB of them), for seconds whose latencies all fit in a few kB.
fn growing_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("valid histogram precision")
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
            latency: growing_histogram(),
        }
    }
}

/// What one request did: the upstream's status, or no whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with this status code.
    Status(u16),
    /// No answer, or one cut off mid-body or not finished in time (crate::measured).
    ConnectionError,
}

/// Upper bounds of the exposed latency histogram, in seconds: the Prometheus client libraries'
/// defaults, so the same queries work on ship's proxy and on the service itself.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters of one version (or one instance) since the proxy started.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Requests by the status the client got; a request without a whole answer (none, or a
    /// body cut off) is counted under the proxy's own 502 (504 when it timed out), even when
    /// the upstream's head had already gone to the client.
    pub by_code: BTreeMap<u16, u64>,
    /// Requests counted.
    pub requests: u64,
    /// 5xx answers and requests without one.
    pub errors: u64,
    /// Requests per [`BUCKETS`] bound (not cumulative), then above the last.
    pub buckets: [u64; BUCKETS.len() + 1],
    /// Every request's time added up, in seconds (the histogram's `_sum`).
    pub sum_secs: f64,
    /// Every request's time, errors included, for counts over any limit.
    latency: Histogram<u64>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            by_code: BTreeMap::new(),
            requests: 0,
            errors: 0,
            buckets: [0; BUCKETS.len() + 1],
            sum_secs: 0.0,
            latency: histogram(),
        }
    }
}

impl Totals {
    fn record(&mut self, code: u16, error: bool, latency_micros: u64, timed: bool) {
        *self.by_code.entry(code).or_default() += 1;
        self.requests += 1;
        self.errors += u64::from(error);
        let secs = latency_micros as f64 / 1e6;
        self.sum_secs += secs;
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i] += 1;
        if timed {
            let _ = self.latency.record(latency_micros.clamp(1, MAX_MICROS));
        }
    }

    /// Requests that took longer than `secs`.
    pub fn slower_than(&self, secs: f64) -> u64 {
        let limit = ((secs * 1e6) as u64).clamp(1, MAX_MICROS);
        let within = self.latency.count_between(0, limit);
        self.latency.len().saturating_sub(within)
    }
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
    /// Requests in the window.
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors_5xx: u64,
    /// Requests without a whole answer.
    pub connection_errors: u64,
    /// (5xx + connection errors) / requests; None without requests.
    pub error_rate: Option<f64>,
    /// Seconds; None without answered requests.
    pub p50: Option<f64>,
    /// Seconds; None without answered requests.
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
        let newest = match self.buckets.back() {
            Some(b) if b.second >= second => b.second,
            _ => {
                self.buckets.push_back(Bucket::new(second));
                second
            }
        };
        while self
            .buckets
            .front()
            .is_some_and(|b| b.second + self.keep_secs <= newest)
        {
            self.buckets.pop_front();
        }
        // A late arrival (an older second: a serving thread's batch applied after another's,
        // crate::recorder) lands in its own second's bucket while that is kept; one older than
        // the window lands in the newest bucket rather than being lost.
        let last = self.buckets.len() - 1;
        if newest == second {
            return &mut self.buckets[last];
        }
        let at = match self.buckets.binary_search_by_key(&second, |b| b.second) {
            Ok(i) => i,
            Err(i) if second + self.keep_secs > newest => {
                self.buckets.insert(i, Bucket::new(second));
                i
            }
            Err(_) => last,
        };
        &mut self.buckets[at]
    }

    /// Counts one request in the bucket of `second`, with its outcome and latency.
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
        let mut hist = growing_histogram();
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

/// Windows and counters per version and per instance.
#[derive(Debug, Clone)]
pub struct Golden {
    keep_secs: u64,
    versions: [Window; 2],
    totals: [Totals; 2],
    instances: BTreeMap<String, (Version, Window, Totals)>,
}

impl Golden {
    /// Empty metrics that keep the last `keep_secs` seconds.
    pub fn new(keep_secs: u64) -> Golden {
        Golden {
            keep_secs,
            versions: [Window::new(keep_secs), Window::new(keep_secs)],
            totals: [Totals::default(), Totals::default()],
            instances: BTreeMap::new(),
        }
    }

    /// A version's counters since the proxy started.
    pub fn totals(&self, v: Version) -> &Totals {
        &self.totals[Self::idx(v)]
    }

    /// Each instance's version and counters.
    pub fn instance_totals(&self) -> impl Iterator<Item = (&str, Version, &Totals)> {
        self.instances
            .iter()
            .map(|(name, (v, _, t))| (name.as_str(), *v, t))
    }

    fn idx(v: Version) -> usize {
        match v {
            Version::Stable => 0,
            Version::Canary => 1,
        }
    }

    /// Records one request; `answered` is the status the client got.
    pub fn record(
        &mut self,
        second: u64,
        version: Version,
        instance: &str,
        outcome: Outcome,
        answered: u16,
        latency_micros: u64,
    ) {
        let error = answered >= 500 || outcome == Outcome::ConnectionError;
        self.versions[Self::idx(version)].record(second, outcome, latency_micros);
        self.totals[Self::idx(version)].record(answered, error, latency_micros, true);
        // Looked up before inserting: the key is allocated once per instance, not per request.
        if let Some((_, w, t)) = self.instances.get_mut(instance) {
            w.record(second, outcome, latency_micros);
            t.record(answered, error, latency_micros, false);
            return;
        }
        let mut w = Window::new(self.keep_secs);
        w.record(second, outcome, latency_micros);
        let mut t = Totals {
            latency: Histogram::new(1).expect("a minimal histogram"),
            ..Totals::default()
        };
        t.record(answered, error, latency_micros, false);
        self.instances.insert(instance.to_string(), (version, w, t));
    }

    /// One version's window totals over the last `secs` seconds up to `now`.
    pub fn version(&self, v: Version, now: u64, secs: u64) -> Snapshot {
        self.versions[Self::idx(v)].snapshot(now, secs)
    }

    /// Each instance's name, version and window totals over the last `secs` seconds up to `now`.
    pub fn instances(&self, now: u64, secs: u64) -> Vec<(String, Version, Snapshot)> {
        self.instances
            .iter()
            .map(|(name, (v, w, _))| (name.clone(), *v, w.snapshot(now, secs)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_percentiles_keep_their_precision_from_a_microsecond_to_an_hour() {
        let mut w = Window::new(60);
        // Second 1: fast requests only (a small histogram); second 2: one of nearly an hour,
        // and one past the hour (clamped to it).
        for _ in 0..98 {
            w.record(1, Outcome::Status(200), 1);
        }
        w.record(2, Outcome::Status(200), 3_000_000_000);
        w.record(2, Outcome::Status(200), 7_200_000_000);
        let s = w.snapshot(2, 2);
        assert_eq!(s.requests, 100);
        assert_eq!(s.p50, Some(0.000_001));
        let p99 = s.p99.unwrap();
        assert!((p99 - 3_000.0).abs() / 3_000.0 < 0.001, "{p99}");
        let top = w.snapshot(2, 1).p99.unwrap();
        assert!((top - 3_600.0).abs() / 3_600.0 < 0.001, "{top}");
    }

    #[test]
    fn an_injected_error_rate_is_measured_within_a_point() {
        let mut g = Golden::new(120);
        for n in 0..10_000u64 {
            // 5 % errors, as ship-sample injects them.
            let err = ((n + 1) * 5) / 100 > (n * 5) / 100;
            let outcome = Outcome::Status(if err { 500 } else { 200 });
            let answered = if err { 500 } else { 200 };
            g.record(n / 200, Version::Canary, "v2-a", outcome, answered, 1_000);
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
    fn counters_run_since_the_start_and_count_slow_requests_at_any_limit() {
        let mut g = Golden::new(60);
        for n in 0..1000u64 {
            // 1 % answered 500, 2 % not at all; 3 % take 800 ms, the rest 20 ms.
            let (outcome, answered) = match n % 100 {
                0 => (Outcome::Status(500), 500),
                1 | 2 => (Outcome::ConnectionError, 502),
                _ => (Outcome::Status(200), 200),
            };
            let micros = if n % 100 >= 97 { 800_000 } else { 20_000 };
            // Far apart in time: counters never leave a window.
            g.record(n * 10, Version::Canary, "v2-a", outcome, answered, micros);
        }
        let t = g.totals(Version::Canary);
        assert_eq!((t.requests, t.errors), (1000, 30));
        assert_eq!(t.by_code[&502], 20);
        assert_eq!(t.slower_than(0.6), 30);
        assert_eq!(t.slower_than(0.01), 1000);
        assert_eq!(t.buckets[2], 970, "20 ms is in the 25 ms bucket");
        assert_eq!(t.buckets[7], 30, "800 ms in the 1 s one");
        assert_eq!(g.totals(Version::Stable).requests, 0);
        let (name, v, it) = g.instance_totals().next().unwrap();
        assert_eq!((name, v, it.requests), ("v2-a", Version::Canary, 1000));
    }
}
