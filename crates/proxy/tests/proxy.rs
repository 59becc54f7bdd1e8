//! The proxy between real HTTP servers on free loopback ports.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::serve_upstream;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shiploop_proxy::server::{serve, serve_on_threads, Balance, Proxy, ProxyConfig, StickyKey};
use shiploop_proxy::split::Version;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An upstream answering with its name; every `error_every`-th request is a 500.
async fn upstream(name: &'static str, error_every: u64) -> SocketAddr {
    let count = Arc::new(AtomicU64::new(0));
    serve_upstream(move |_req: Request<Incoming>| {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        let status = if error_every > 0 && n % error_every == 0 {
            500
        } else {
            200
        };
        async move {
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .header("x-ship-version", name)
                    .body(Full::new(Bytes::from(name)))
                    .unwrap(),
            )
        }
    })
    .await
}

async fn proxy(stable: SocketAddr, canary: SocketAddr, weight: u8) -> (Arc<Proxy>, SocketAddr) {
    let cfg = ProxyConfig {
        stable: vec![stable],
        canary: vec![canary],
        sticky: StickyKey::Header(hyper::header::HeaderName::from_static("x-user-id")),
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout: Duration::from_secs(5),
        window_secs: 120,
        balance: shiploop_proxy::server::Balance::RoundRobin,
    };
    let p = Proxy::new(cfg, weight);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // As `ship proxy` runs it: connections dealt out to two serving threads.
    tokio::spawn(serve_on_threads(p.clone(), listener, 2));
    (p, addr)
}

type TestClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// (status, the version that answered, the version the proxy says it routed to)
async fn get(c: &TestClient, addr: SocketAddr, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut b = Request::get(format!("http://{addr}/hello"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = c.request(b.body(Empty::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let routed = resp
        .headers()
        .get("x-ship-routed-to")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).to_string(), routed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_traffic_splits_by_weight_and_sticks() {
    let (p, addr) = proxy(upstream("v1", 0).await, upstream("v2", 0).await, 25).await;
    let c = client();
    let mut canary = 0;
    let mut first = std::collections::HashMap::new();
    for i in 0..2000 {
        let id = format!("user-{i}");
        let (status, who, routed) = get(&c, addr, &[("x-user-id", &id)]).await;
        assert_eq!(status, 200);
        assert_eq!(routed, if who == "v2" { "canary" } else { "stable" });
        if who == "v2" {
            canary += 1;
        }
        first.insert(id, who);
    }
    assert!((400..=600).contains(&canary), "{canary} of 2000 at 25 %");
    // Raising the weight keeps every canary user on the canary.
    p.set_weight(50);
    for (id, who) in first.iter().filter(|(_, w)| *w == "v2").take(200) {
        assert_eq!(&get(&c, addr, &[("x-user-id", id)]).await.1, who);
    }
    // The override header wins over the split.
    p.set_weight(0);
    assert_eq!(get(&c, addr, &[("x-ship-version", "canary")]).await.1, "v2");
    assert_eq!(get(&c, addr, &[]).await.1, "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_weight_changes_under_load_fail_no_request() {
    let (p, addr) = proxy(upstream("v1", 0).await, upstream("v2", 0).await, 5).await;
    let load = tokio::spawn(async move {
        let c = client();
        let mut failed = 0;
        for _ in 0..3000 {
            if get(&c, addr, &[]).await.0 != 200 {
                failed += 1;
            }
        }
        failed
    });
    for i in 0..100u32 {
        p.set_weight([5u8, 25, 50, 100, 0][(i % 5) as usize]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(load.await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_error_rate_is_measured() {
    // Every 20th canary answer is a 500: 5 %.
    let (p, addr) = proxy(upstream("v1", 0).await, upstream("v2", 20).await, 50).await;
    let c = client();
    for _ in 0..2000 {
        get(&c, addr, &[]).await;
    }
    let now = p.now_secs();
    let m = p.metrics.lock().unwrap();
    let canary = m.version(Version::Canary, now, 120);
    let stable = m.version(Version::Stable, now, 120);
    assert_eq!(canary.requests + stable.requests, 2000);
    let rate = canary.error_rate.unwrap();
    assert!((rate - 0.05).abs() <= 0.01, "{rate}");
    assert_eq!(stable.error_rate, Some(0.0));
    // The same requests, counted since the start, as the judge and Prometheus read them.
    let t = m.totals(Version::Canary);
    assert_eq!(t.requests, canary.requests);
    assert_eq!(t.errors, canary.errors_5xx);
    let text = shiploop_proxy::exposition::render(&m, None);
    assert!(
        text.contains(&format!(
            "ship_proxy_requests_total{{version=\"canary\",code=\"500\"}} {}",
            t.errors
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_is_a_measured_connection_error() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (p, addr) = proxy(upstream("v1", 0).await, dead, 100).await;
    let (status, _, _) = get(&client(), addr, &[]).await;
    assert_eq!(status, 502);
    let now = p.now_secs();
    let s = p.metrics.lock().unwrap().version(Version::Canary, now, 60);
    assert_eq!(s.connection_errors, 1);
    let m = p.metrics.lock().unwrap();
    let t = m.totals(Version::Canary);
    assert_eq!((t.requests, t.errors, t.by_code[&502]), (1, 1, 1));
}

/// A health endpoint that can be shut down (its listener closed) on demand.
async fn healthy_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        // Connections live in this set: aborting the server drops them all, like a killed process.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            conns.spawn(async move {
                let svc = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_reported_within_two_intervals() {
    use shiploop_proxy::health::{spawn, HealthConfig};
    let (a, _ta) = healthy_server().await;
    let (b, tb) = healthy_server().await;
    let interval = Duration::from_millis(200);
    let cfg = HealthConfig {
        interval,
        timeout: Duration::from_millis(150),
        ..HealthConfig::default()
    };
    let (health, checks) = spawn(vec![(a, Version::Canary), (b, Version::Canary)], cfg);
    tokio::time::sleep(interval * 2).await;
    assert_eq!(health.failed_ratio(Version::Canary), Some((0.0, 2)));
    assert_eq!(
        health.failed_ratio(Version::Stable),
        None,
        "nothing checked: no data"
    );
    tb.abort();
    let killed = std::time::Instant::now();
    loop {
        if health.failed_ratio(Version::Canary) == Some((0.5, 2)) {
            break;
        }
        assert!(
            killed.elapsed() <= interval * 2 + Duration::from_millis(150),
            "not reported within two intervals"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    checks.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_are_served() {
    // Served on the caller's runtime this time (`serve`), as `ship demo` runs it.
    let cfg = ProxyConfig {
        stable: vec![upstream("v1", 0).await],
        canary: vec![upstream("v2", 0).await],
        sticky: StickyKey::None,
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout: Duration::from_secs(5),
        window_secs: 60,
        balance: shiploop_proxy::server::Balance::RoundRobin,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(Proxy::new(cfg, 0), listener));
    let h2: TestClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let resp = h2
        .request(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"v1");
}

/// An upstream that counts its connections, echoes `Host|X-Forwarded-For`, and closes the
/// connection after every `close_every`-th answer (0: never).
async fn counting_upstream(close_every: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let seen = conns.clone();
    let answers = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::Relaxed);
            let answers = answers.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let n = answers.fetch_add(1, Ordering::Relaxed) + 1;
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    let echo = format!("{}|{}", header("host"), header("x-forwarded-for"));
                    async move {
                        let mut b = Response::builder();
                        if close_every > 0 && n % close_every == 0 {
                            b = b.header("connection", "close");
                        }
                        Ok::<_, std::convert::Infallible>(
                            b.body(Full::new(Bytes::from(echo))).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_and_a_closing_upstream_fails_nothing() {
    let (kept, kept_conns) = counting_upstream(0).await;
    let (closing, closing_conns) = counting_upstream(3).await;
    let (p, addr) = proxy(kept, closing, 0).await;
    // Eight clients at once, 100 requests each, to the upstream that keeps connections.
    let run = |addr: SocketAddr| async move {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            tasks.push(tokio::spawn(async move {
                let c = client();
                let mut bad = 0;
                for _ in 0..100 {
                    let (status, echo, _) = get(&c, addr, &[]).await;
                    if status != 200 || echo != format!("{addr}|127.0.0.1") {
                        bad += 1;
                    }
                }
                bad
            }));
        }
        let mut bad = 0;
        for t in tasks {
            bad += t.await.unwrap();
        }
        bad
    };
    assert_eq!(
        run(addr).await,
        0,
        "every answer is 200 and names the client's Host and address"
    );
    let n = kept_conns.load(Ordering::Relaxed);
    assert!(
        n <= 16,
        "{n} upstream connections for 800 requests: they are not reused"
    );
    // The other upstream closes every third connection after answering: nothing fails, and
    // the proxy opens new connections as it must.
    p.set_weight(100);
    assert_eq!(run(addr).await, 0);
    let n = closing_conns.load(Ordering::Relaxed);
    assert!(n >= 800 / 3, "{n} connections: closed ones were reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_is_appended_to_x_forwarded_for() {
    let (up, _) = counting_upstream(0).await;
    let (_p, addr) = proxy(up, up, 0).await;
    let c = client();
    let (_, echo, _) = get(&c, addr, &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(echo, format!("{addr}|203.0.113.7, 127.0.0.1"));
    // Hop-by-hop headers, and those the client names in Connection, stay on this hop.
    let (_, echo, _) = get(&c, addr, &[("connection", "x-forwarded-for")]).await;
    assert_eq!(echo, format!("{addr}|127.0.0.1"));
}

/// An upstream answering `name` after `delay`.
async fn delayed(name: &'static str, delay: Duration) -> SocketAddr {
    serve_upstream(move |_req: Request<Incoming>| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(name))))
    })
    .await
}

/// A proxy with only stable instances, `stable`, shared by `balance`; served on two threads.
async fn stable_only(stable: Vec<SocketAddr>, balance: Balance) -> (Arc<Proxy>, SocketAddr) {
    let cfg = ProxyConfig {
        stable,
        canary: vec![],
        sticky: StickyKey::None,
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout: Duration::from_secs(5),
        window_secs: 60,
        balance,
    };
    let p = Proxy::new(cfg, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on_threads(p.clone(), listener, 2));
    (p, addr)
}

/// Share of 240 requests (12 clients at once) that the slow one of two stable instances gets.
async fn slow_share(balance: Balance) -> f64 {
    let slow = delayed("slow", Duration::from_millis(100)).await;
    let fast = delayed("fast", Duration::from_millis(1)).await;
    let (_, addr) = stable_only(vec![slow, fast], balance).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut slow = 0;
            for _ in 0..20 {
                if get(&c, addr, &[]).await.1 == "slow" {
                    slow += 1;
                }
            }
            slow
        }));
    }
    let mut n = 0;
    for t in tasks {
        n += t.await.unwrap();
    }
    n as f64 / 240.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_requests_sends_less_to_a_slow_instance_than_round_robin() {
    let rr = slow_share(Balance::RoundRobin).await;
    let lr = slow_share(Balance::LeastRequests).await;
    assert!((0.4..=0.6).contains(&rr), "round-robin: {rr}");
    assert!(
        lr < 0.25,
        "least-requests still sent {lr} to the slow instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_is_routed_around_without_a_failed_request() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let alive = upstream("v1", 0).await;
    for balance in [Balance::RoundRobin, Balance::LeastRequests] {
        let (p, addr) = stable_only(vec![dead, alive], balance).await;
        let c = client();
        for _ in 0..200 {
            assert_eq!(get(&c, addr, &[]).await.0, 200, "{balance:?}");
        }
        // Health checks that mark it unhealthy keep it out for good.
        p.set_healthy(dead, false);
        assert_eq!(get(&c, addr, &[]).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launching_onto_an_address_already_served_is_refused() {
    let taken = upstream("orphan", 0).await;
    let e = shiploop_proxy::launch::launch("sleep 30", taken, Duration::from_secs(2))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("already accepts connections"), "{e}");
    // A shell command that is not one program runs as a process group and is stopped as one.
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let l = shiploop_proxy::launch::launch(
        &format!(
            "X=1 python3 -m http.server --bind 127.0.0.1 {} >/dev/null 2>&1",
            free.port()
        ),
        free,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let pgid = l.pid;
    l.stop(Duration::from_secs(5)).await;
    // Asked of the process group itself (no live member left; a zombie awaiting its reaper
    // has stopped): whether the port answers could be another test's server, given the same
    // free port meanwhile.
    let gone = shiploop_proxy::resources::group_usage(pgid).is_none();
    assert!(gone, "the whole group (shell and server) stopped");
}
