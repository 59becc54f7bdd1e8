//! `ship-sample`: a small HTTP service for demos, tests and experiments. It answers with its
//! version and can be told to misbehave — an error rate, extra latency, failing health checks,
//! growing memory — so a rollout has something real to watch. `GET /metrics` exposes the
//! conventional `http_requests_total` and `http_request_duration_seconds` families (labelled
//! with the version) for Prometheus to scrape.

use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Parser, Clone)]
#[command(name = "ship-sample", disable_version_flag = true)]
struct Args {
    /// Address to listen on (loopback by default; port 0 picks a free one and prints it).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The version this instance reports (`x-ship-version` header and JSON body).
    #[arg(long, default_value = "v1")]
    version: String,
    /// Fraction of requests (0–1) answered with 500: spread evenly (exactly that rate), or with
    /// `--random-errors` each request fails with that probability, as real failures do.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fail requests at random (independently, with probability --error-rate) instead of
    /// evenly.
    #[arg(long)]
    random_errors: bool,
    /// The seed of --random-errors (the same seed fails the same requests).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Extra latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Answer the health check path with 503.
    #[arg(long)]
    fail_health: bool,
    /// The health check path.
    #[arg(long, default_value = "/healthz")]
    health_path: String,
    /// Allocate and keep this many MiB more every second (a memory leak on demand).
    #[arg(long, default_value_t = 0)]
    grow_mib_per_sec: u64,
    /// A path that is broken in this version: answered with 500 (repeatable). A feature the
    /// golden metrics may not notice, but a smoke test does.
    #[arg(long = "fail-path", value_name = "PATH")]
    fail_paths: Vec<String>,
    /// A feature flag this version knows, NAME=VALUE (repeatable): `GET /flags/NAME` answers
    /// {"flag": NAME, "value": VALUE}; an unknown flag is a 404.
    #[arg(long = "flag", value_name = "NAME=VALUE")]
    flags: Vec<String>,
}

struct State {
    args: Args,
    served: AtomicU64,
    leak: Mutex<Vec<Vec<u8>>>,
    metrics: Metrics,
}

/// Histogram bucket bounds in seconds (Prometheus client defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `version="…"`, and `code="…"` for the requests.
type Labels = Vec<(&'static str, String)>;

/// Counters since start, kept and encoded by prometheus-client as any instrumented service
/// keeps them.
#[derive(Debug)]
struct Metrics {
    version: String,
    registry: Registry,
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
}

impl Metrics {
    fn new(version: &str) -> Self {
        let requests = Family::<Labels, Counter>::default();
        // Both codes from the start, at 0: an error rate reads 0, not "no data".
        for code in ["200", "500"] {
            let _ = requests.get_or_create(&Self::labels(version, Some(code)));
        }
        let duration =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        let _ = duration.get_or_create(&Self::labels(version, None));
        let mut registry = Registry::default();
        registry.register(
            "http_requests",
            "Requests answered, by status code",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request",
            duration.clone(),
        );
        Metrics {
            version: version.to_string(),
            registry,
            requests,
            duration,
        }
    }

    fn labels(version: &str, code: Option<&str>) -> Labels {
        let mut l = vec![("version", version.to_string())];
        l.extend(code.map(|c| ("code", c.to_string())));
        l
    }

    fn observe(&self, status: u16, secs: f64) {
        let code = if status >= 500 { "500" } else { "200" };
        self.requests
            .get_or_create(&Self::labels(&self.version, Some(code)))
            .inc();
        self.duration
            .get_or_create(&Self::labels(&self.version, None))
            .observe(secs);
    }

    /// The Prometheus text format (0.0.4): the names every client library's defaults use.
    fn exposition(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Whether request number `n` (from 0) is one of the errors: exactly `rate` of any prefix of
/// requests, rounded down, spread evenly rather than at random.
fn is_error(n: u64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
}

/// A uniform number in [0, 1) for request `n`: SplitMix64 of (seed, n), so a run is repeatable
/// and requests served concurrently need no shared generator.
fn uniform(seed: u64, n: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let a = &state.args;
    let path = req.uri().path().to_string();
    if path == a.health_path {
        let (code, body) = if a.fail_health {
            (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
        } else {
            (StatusCode::OK, "ok")
        };
        return Ok(Response::builder()
            .status(code)
            .header("x-ship-version", &a.version)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default());
    }
    if path == "/metrics" {
        return Ok(Response::builder()
            .header("content-type", prometheus_text::CONTENT_TYPE)
            .body(Full::new(Bytes::from(state.metrics.exposition())))
            .unwrap_or_default());
    }
    if let Some(name) = path.strip_prefix("/flags/") {
        let known = a
            .flags
            .iter()
            .find_map(|f| f.split_once('=').filter(|(n, _)| *n == name));
        let (code, body) = match known {
            Some((n, v)) => (
                StatusCode::OK,
                serde_json::json!({ "flag": n, "value": v, "version": a.version }).to_string(),
            ),
            None => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": format!("unknown flag {name}") }).to_string(),
            ),
        };
        return Ok(Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .header("x-ship-version", &a.version)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default());
    }
    let started = std::time::Instant::now();
    if a.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(a.latency_ms)).await;
    }
    let n = state.served.fetch_add(1, Ordering::Relaxed);
    let failed = if a.random_errors {
        uniform(a.seed, n) < a.error_rate
    } else {
        is_error(n, a.error_rate)
    };
    let status = if failed || a.fail_paths.contains(&path) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({ "version": a.version, "path": path, "request": n }).to_string();
    state
        .metrics
        .observe(status.as_u16(), started.elapsed().as_secs_f64());
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-ship-version", &a.version)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.error_rate) {
        eprintln!("error: --error-rate must be between 0 and 1");
        std::process::exit(2);
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    // The first line names the address, so a caller that asked for port 0 learns the port.
    println!("listening on http://{addr} as {}", args.version);
    let state = Arc::new(State {
        args: args.clone(),
        served: AtomicU64::new(0),
        leak: Mutex::new(vec![]),
        metrics: Metrics::new(&args.version),
    });
    if args.grow_mib_per_sec > 0 {
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let chunk = vec![1u8; (s.args.grow_mib_per_sec * 1024 * 1024) as usize];
                s.leak.lock().unwrap_or_else(|p| p.into_inner()).push(chunk);
            }
        });
    }
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{is_error, uniform, Metrics};

    #[test]
    fn random_errors_come_at_the_rate_and_differ_by_seed() {
        let failed = |seed| (0..100_000u64).filter(|n| uniform(seed, *n) < 0.01).count();
        let (a, b) = (failed(1), failed(2));
        assert!((800..1200).contains(&a), "{a}");
        assert!((800..1200).contains(&b), "{b}");
        assert_ne!(
            (0..1000u64)
                .map(|n| uniform(1, n) < 0.5)
                .collect::<Vec<_>>(),
            (0..1000u64)
                .map(|n| uniform(2, n) < 0.5)
                .collect::<Vec<_>>()
        );
        // Runs of failures are as long as chance makes them: not every 100th request.
        let gaps: Vec<u64> = (0..100_000u64).filter(|n| uniform(1, *n) < 0.01).collect();
        assert!(gaps.windows(2).any(|w| w[1] - w[0] < 10));
    }

    #[test]
    fn metrics_are_conventional_prometheus_families() {
        let m = Metrics::new("v2");
        m.observe(200, 0.003);
        m.observe(500, 0.2);
        let text = m.exposition();
        assert!(
            text.contains("http_requests_total{version=\"v2\",code=\"500\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{version=\"v2\",le=\"0.005\"} 1")
        );
        assert!(text.contains("http_request_duration_seconds_bucket{version=\"v2\",le=\"0.25\"} 2"));
        assert!(text.contains("http_request_duration_seconds_count{version=\"v2\"} 2"));
        for line in [
            "# HELP http_requests_total Requests answered, by status code.",
            "# TYPE http_requests_total counter",
            "# HELP http_request_duration_seconds Time to answer a request.",
            "# TYPE http_request_duration_seconds histogram",
            "http_request_duration_seconds_bucket{version=\"v2\",le=\"1\"} 2",
            "http_request_duration_seconds_bucket{version=\"v2\",le=\"+Inf\"} 2",
            "http_request_duration_seconds_sum{version=\"v2\"} 0.203",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Before any request both codes read 0, and the version is a quoted label value.
        let text = Metrics::new("a\"b").exposition();
        assert!(
            text.contains("http_requests_total{version=\"a\\\"b\",code=\"500\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn error_rate_is_exact_and_spread() {
        let errors = (0..10_000).filter(|n| is_error(*n, 0.05)).count();
        assert_eq!(errors, 500);
        // Spread: every window of 100 requests holds exactly 5 errors.
        for start in (0..10_000).step_by(100) {
            assert_eq!(
                (start..start + 100).filter(|n| is_error(*n, 0.05)).count(),
                5
            );
        }
        assert!(!is_error(0, 0.0));
        assert!(is_error(7, 1.0));
    }
}
