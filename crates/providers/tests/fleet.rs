//! A fleet of ship's proxies, built from ship.toml's `[router.builtin] fleet` as the controller
//! builds it, against real proxies and admin APIs on loopback: the weight reaches every proxy,
//! a proxy that refuses is named, a rollback reaches every proxy, and the metric source adds
//! the proxies' counts up.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_providers::cfg::{AdminSettings, BuildContext};
use shiploop_providers::metrics::{MetricsCfg, MetricsKind};
use shiploop_providers::routers::RouterCfg;
use shiploop_providers::{ErrorKind, MetricContext, MetricSource, RouteContext, TrafficRouter};
use shiploop_proxy::admin::{serve as serve_admin, Admin};
use shiploop_proxy::metrics::Outcome;
use shiploop_proxy::server::{Proxy, ProxyConfig, StickyKey};
use shiploop_proxy::split::Version;
use shiploop_rollout::measure::Measurement;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "fleet-token-fleet-token";

fn ctx() -> RouteContext {
    RouteContext {
        service: "web".into(),
        release: "r".into(),
        stage: "canary".into(),
    }
}

/// A proxy at weight 0 whose instances never answer, with its admin API taking `token`;
/// the proxy and its admin API's `host:port`.
async fn proxy(token: &str) -> (Arc<Proxy>, String) {
    let dead: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let cfg = ProxyConfig {
        stable: vec![dead],
        canary: vec![dead],
        sticky: StickyKey::None,
        override_header: hyper::header::HeaderName::from_static("x-ship-version"),
        request_timeout: Duration::from_secs(1),
        window_secs: 60,
        balance: shiploop_proxy::server::Balance::RoundRobin,
    };
    let proxy = Proxy::new(cfg, 0);
    let admin = Arc::new(Admin {
        proxy: proxy.clone(),
        health: None,
        resources: None,
        token: token.into(),
        state_file: None,
        fingerprint: String::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve_admin(admin, listener));
    (proxy, addr)
}

/// Where the admin APIs are, as the controller says it: `proxy.admin` and the fleet.
fn admin(fleet: &[&String]) -> AdminSettings {
    AdminSettings {
        addr: "127.0.0.1:9091".into(),
        url: "http://127.0.0.1:9091".into(),
        token_env: "SHIP_ADMIN_TOKEN".into(),
        fleet: fleet.iter().map(|a| a.to_string()).collect(),
    }
}

fn token(name: &str) -> Option<String> {
    (name == "SHIP_ADMIN_TOKEN").then(|| TOKEN.to_string())
}

/// The router ship.toml's `[router]` builds, with `fleet` as `router.builtin.fleet`.
fn router(fleet: &[&String]) -> Box<dyn TrafficRouter> {
    let list: Vec<String> = fleet.iter().map(|a| format!("{a:?}")).collect();
    let cfg: RouterCfg = toml::from_str(&format!(
        "kind = \"builtin\"\n[builtin]\nfleet = [{}]\n",
        list.join(", ")
    ))
    .unwrap();
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    let settings = admin(fleet);
    let cx = BuildContext {
        root: std::path::Path::new("."),
        service: "web",
        env: &token,
        admin: &settings,
        asker: None,
    };
    cfg.build(&cx).unwrap()
}

/// The builtin metric source for the same fleet.
fn source(fleet: &[&String]) -> Box<dyn MetricSource> {
    let cfg = MetricsCfg {
        kind: MetricsKind::Builtin,
        ..Default::default()
    };
    let settings = admin(fleet);
    let cx = BuildContext {
        root: std::path::Path::new("."),
        service: "web",
        env: &token,
        admin: &settings,
        asker: None,
    };
    cfg.configured().build(&cx).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_reaches_every_proxy_and_a_refusal_names_who_confirmed() {
    let (a, a_addr) = proxy(TOKEN).await;
    let (b, b_addr) = proxy(TOKEN).await;
    let fleet = router(&[&a_addr, &b_addr]);
    let out = fleet.set_weight(&ctx(), 25).await.unwrap();
    assert_eq!((a.weight(), b.weight()), (25, 25));
    assert_eq!(out.members.len(), 2);
    assert!(out.members.iter().all(|m| m.confirmed), "{out:?}");
    assert!(
        out.detail
            .contains(&format!("confirmed: proxy {a_addr} (proxy weight 25)")),
        "{}",
        out.detail
    );
    assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(25));

    // The second proxy takes another token: it refuses, the first confirms, and the error
    // says which.
    let (c, c_addr) = proxy("another-token-another-token").await;
    let split = router(&[&a_addr, &c_addr]);
    let e = split.set_weight(&ctx(), 50).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadAnswer, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("builtin router fleet: weight 50: 1 of 2 members confirmed"),
        "{text}"
    );
    assert!(
        text.contains(&format!("confirmed: proxy {a_addr} (proxy weight 50)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("NOT confirmed: proxy {c_addr} (")),
        "{text}"
    );
    assert!(text.contains("401"), "{text}");
    assert_eq!((a.weight(), c.weight()), (50, 0));
    let e = split.effective_weight(&ctx()).await.unwrap_err();
    assert!(e.to_string().contains(&format!("proxy {c_addr}")), "{e}");

    // A rollback is tried on every proxy, the refusing one first: the other is rolled back.
    let back = router(&[&c_addr, &a_addr]);
    let e = back.roll_back(&ctx()).await.unwrap_err();
    assert_eq!(a.weight(), 0, "the proxy that answers was rolled back");
    assert!(
        e.to_string()
            .contains("roll back: 1 of 2 members confirmed"),
        "{e}"
    );

    // A proxy that is down: named too, and never the controller's own trouble.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let e = router(&[&a_addr, &dead_addr])
        .promote(&ctx())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("NOT confirmed: proxy {dead_addr}")),
        "{e}"
    );
    assert_eq!(a.weight(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_one_is_the_proxy_as_before() {
    let (a, a_addr) = proxy(TOKEN).await;
    let one = router(&[&a_addr]);
    let out = one.set_weight(&ctx(), 5).await.unwrap();
    assert_eq!(out.detail, "proxy weight 5");
    assert!(out.members.is_empty());
    assert_eq!(a.weight(), 5);
}

/// Records `n` requests of `version` on `proxy`, `errors` of them answered 500, each taking
/// `millis`.
fn traffic(proxy: &Proxy, version: Version, n: u64, errors: u64, millis: u64) {
    let now = proxy.now_secs();
    let mut m = proxy.metrics.lock().unwrap();
    for i in 0..n {
        let status = if i < errors { 500 } else { 200 };
        m.record(
            now,
            version,
            "i",
            Outcome::Status(status),
            status,
            millis * 1000,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_s_counts_are_the_sum_of_its_proxies() {
    let (a, a_addr) = proxy(TOKEN).await;
    let (b, b_addr) = proxy(TOKEN).await;
    traffic(&a, Version::Canary, 100, 2, 20);
    traffic(&b, Version::Canary, 300, 6, 900);
    traffic(&a, Version::Stable, 1000, 10, 20);
    traffic(&b, Version::Stable, 3000, 0, 20);
    let fleet = source(&[&a_addr, &b_addr]);
    let keys: Vec<String> = [
        "canary/requests",
        "canary/errors",
        "canary/slow",
        "stable/requests",
        "stable/errors",
        "canary/error_rate",
        "stable/error_rate",
        "canary/latency_p99",
    ]
    .map(String::from)
    .to_vec();
    let mut mctx = MetricContext::window("web", "r", "canary", 25, 60);
    mctx.slow_secs = Some(0.5);
    let obs = fleet.measure(&keys, &mctx).await;
    assert_eq!(obs["canary/requests"], Measurement::value(400.0, 400));
    assert_eq!(obs["canary/errors"], Measurement::value(8.0, 400));
    // Every request on b took 900 ms, none on a: the 300 slower than 0.5 s.
    assert_eq!(obs["canary/slow"], Measurement::value(300.0, 400));
    assert_eq!(obs["stable/requests"], Measurement::value(4000.0, 4000));
    assert_eq!(obs["stable/errors"], Measurement::value(10.0, 4000));
    assert_eq!(obs["canary/error_rate"], Measurement::value(0.02, 400));
    assert_eq!(obs["stable/error_rate"], Measurement::value(0.0025, 4000));
    // The largest proxy's p99 (b's 900 ms, within the histogram's precision).
    match &obs["canary/latency_p99"] {
        Measurement::Value { value, samples, .. } => {
            assert!((value - 0.9).abs() < 0.01, "{value}");
            assert_eq!(*samples, 400);
        }
        other => panic!("{other:?}"),
    }

    // One proxy that cannot answer makes every key an error naming it, none silently dropped.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let part = source(&[&a_addr, &dead_addr]);
    let obs = part.measure(&keys, &mctx).await;
    for k in &keys {
        match &obs[k] {
            Measurement::Error { message, local } => {
                assert!(!local);
                assert!(
                    message.contains(&format!("proxy {dead_addr}")),
                    "{k}: {message}"
                );
            }
            other => panic!("{k}: {other:?}"),
        }
    }
}
