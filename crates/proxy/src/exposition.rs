//! `/metrics` of the admin API, in the Prometheus conventions (OpenMetrics text, encoded by
//! `prometheus-client`): counters since the proxy started and a latency histogram per version,
//! so `rate()` and `increase()` work, and the same per upstream instance. The instance label is
//! `upstream`, never `instance`, which Prometheus sets itself to the scraped target.
//!
//! - `ship_proxy_requests_total{version, code}`: counted when the response body ends; a
//!   response that never came whole is under the proxy's `code="502"` (`"504"`: not finished
//!   within `request_timeout`), so the usual `code=~"5.."` error queries count it
//! - `ship_proxy_request_duration_seconds_bucket{version, le}` (`_sum`, `_count`)
//! - `ship_proxy_upstream_requests_total{version, upstream, code}`
//! - `ship_proxy_upstream_memory_rss_bytes{version, upstream}`,
//!   `ship_proxy_upstream_cpu_cores{version, upstream}` (instances ship started)

use crate::metrics::{Golden, BUCKETS};
use crate::resources::Resources;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;

/// What one scrape reports, copied out of the proxy's counters under its lock.
#[derive(Debug, Default)]
struct Scrape {
    /// (version, code) → requests.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// version → (sum of seconds, per-bucket counts with +Inf last).
    latency: Vec<(&'static str, f64, Vec<u64>)>,
    /// (version, upstream, code) → requests.
    upstream: BTreeMap<(&'static str, String, u16), u64>,
    /// (version, upstream) → (memory bytes, CPU cores).
    resources: Vec<(&'static str, String, Option<f64>, Option<f64>)>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "ship_proxy_requests",
            "Requests by version and the upstream's status; 502/504: no whole answer (none, cut off mid-body, or not finished within the request timeout).",
            None,
            MetricType::Counter,
        )?;
        for ((version, code), n) in &self.requests {
            let code = code.to_string();
            let labels = [("version", *version), ("code", code.as_str())];
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        let unit = Unit::Seconds;
        let mut family = encoder.encode_descriptor(
            "ship_proxy_request_duration",
            "Time from the request's arrival to the end of the response body (or the failure), by version.",
            Some(&unit),
            MetricType::Histogram,
        )?;
        for (version, sum, counts) in &self.latency {
            let mut buckets: Vec<(f64, u64)> = BUCKETS
                .iter()
                .copied()
                .zip(counts.iter().copied())
                .collect();
            buckets.push((f64::INFINITY, counts.last().copied().unwrap_or(0)));
            let count = counts.iter().sum();
            family
                .encode_family(&[("version", *version)])?
                .encode_histogram::<NoLabelSet>(*sum, count, &buckets, None)?;
        }
        let mut family = encoder.encode_descriptor(
            "ship_proxy_upstream_requests",
            "Requests each upstream instance was sent, by the status the client got.",
            None,
            MetricType::Counter,
        )?;
        for ((version, upstream, code), n) in &self.upstream {
            let code = code.to_string();
            let labels = [
                ("version", *version),
                ("upstream", upstream.as_str()),
                ("code", code.as_str()),
            ];
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        type Read = fn(&(&'static str, String, Option<f64>, Option<f64>)) -> Option<f64>;
        let gauges: [(&str, &str, Option<Unit>, Read); 2] = [
            (
                "ship_proxy_upstream_memory_rss",
                "Resident memory of an upstream instance ship started.",
                Some(Unit::Bytes),
                |r| r.2,
            ),
            (
                "ship_proxy_upstream_cpu_cores",
                "CPU cores an upstream instance ship started used over the last interval.",
                None,
                |r| r.3,
            ),
        ];
        for (name, help, unit, read) in &gauges {
            let mut family =
                encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
            for r in &self.resources {
                if let Some(v) = read(r) {
                    family
                        .encode_family(&[("version", r.0), ("upstream", r.1.as_str())])?
                        .encode_gauge(&v)?;
                }
            }
        }
        Ok(())
    }
}

/// The exposition of the proxy's counters (and of the instances ship started, if any).
pub fn render(golden: &Golden, resources: Option<&Resources>) -> String {
    let mut scrape = Scrape::default();
    for v in [crate::split::Version::Stable, crate::split::Version::Canary] {
        let t = golden.totals(v);
        for (code, n) in &t.by_code {
            scrape.requests.insert((v.as_str(), *code), *n);
        }
        scrape
            .latency
            .push((v.as_str(), t.sum_secs, t.buckets.to_vec()));
    }
    for (name, v, t) in golden.instance_totals() {
        for (code, n) in &t.by_code {
            scrape
                .upstream
                .insert((v.as_str(), name.to_string(), *code), *n);
        }
    }
    if let Some(r) = resources {
        for (addr, u) in r.instances() {
            scrape.resources.push((
                u.version.as_str(),
                addr.to_string(),
                u.rss_bytes.map(|b| b as f64),
                u.cpu_cores,
            ));
        }
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;
    use crate::split::Version;

    #[test]
    fn counters_and_a_histogram_per_version_with_an_upstream_label() {
        let mut g = Golden::new(60);
        g.record(
            1,
            Version::Stable,
            "127.0.0.1:8001",
            Outcome::Status(200),
            200,
            10_000,
        );
        g.record(
            1,
            Version::Canary,
            "127.0.0.1:8002",
            Outcome::Status(500),
            500,
            20_000,
        );
        g.record(
            2,
            Version::Canary,
            "127.0.0.1:8002",
            Outcome::ConnectionError,
            502,
            3_000,
        );
        let text = render(&g, None);
        for line in [
            "# TYPE ship_proxy_requests counter",
            "ship_proxy_requests_total{version=\"canary\",code=\"500\"} 1",
            "ship_proxy_requests_total{version=\"canary\",code=\"502\"} 1",
            "# TYPE ship_proxy_request_duration_seconds histogram",
            "ship_proxy_request_duration_seconds_bucket{le=\"0.005\",version=\"canary\"} 1",
            "ship_proxy_request_duration_seconds_bucket{le=\"0.025\",version=\"canary\"} 2",
            "ship_proxy_request_duration_seconds_count{version=\"stable\"} 1",
            "ship_proxy_upstream_requests_total{version=\"stable\",upstream=\"127.0.0.1:8001\",code=\"200\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains("instance="), "{text}");
    }
}
