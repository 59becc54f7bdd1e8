//! The builtin router and metric source against a real proxy and admin API on loopback.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_providers::admin::AdminClient;
use shiploop_providers::metrics::builtin::BuiltinSource;
use shiploop_providers::routers::builtin::BuiltinRouter;
use shiploop_providers::{MetricContext, MetricSource, RouteContext, TrafficRouter};
use shiploop_proxy::admin::{serve as serve_admin, Admin};
use shiploop_proxy::server::{Proxy, ProxyConfig, StickyKey};
use shiploop_rollout::measure::Measurement;
use std::sync::Arc;
use std::time::Duration;

fn ctx() -> RouteContext {
    RouteContext {
        service: "web".into(),
        release: "r".into(),
        stage: "canary".into(),
    }
}

/// A proxy at `weight` whose instances (the discard port) never answer: these tests drive it
/// through its admin API only.
fn proxy_to_nowhere(weight: u8) -> Arc<Proxy> {
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
    Proxy::new(cfg, weight)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_drives_the_proxy_through_the_admin_api() {
    let proxy = proxy_to_nowhere(0);
    // This test's own process stands in for a canary instance ship started.
    let resources = Arc::new(shiploop_proxy::resources::Resources::default());
    resources.watch(
        "127.0.0.1:1".parse().unwrap(),
        shiploop_proxy::split::Version::Canary,
        std::process::id(),
    );
    resources.sample(std::time::Instant::now());
    let admin = Arc::new(Admin {
        proxy: proxy.clone(),
        health: None,
        resources: Some(resources),
        token: "s3cret".into(),
        state_file: None,
        fingerprint: String::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_admin(admin, listener));

    let router = BuiltinRouter {
        admin: AdminClient::new(&base, "s3cret", Duration::from_secs(2)).unwrap(),
    };
    router.set_weight(&ctx(), 25).await.unwrap();
    assert_eq!(proxy.weight(), 25);
    assert_eq!(router.effective_weight(&ctx()).await.unwrap(), Some(25));
    router.roll_back(&ctx()).await.unwrap();
    assert_eq!(proxy.weight(), 0);

    let wrong = BuiltinRouter {
        admin: AdminClient::new(&base, "guess", Duration::from_secs(2)).unwrap(),
    };
    let e = wrong.set_weight(&ctx(), 100).await.unwrap_err();
    assert!(e.message.contains("401"), "{e}");
    assert_eq!(proxy.weight(), 0, "an unauthorised call changes nothing");

    // No traffic yet: no data, never a pass.
    let source = BuiltinSource {
        admin: AdminClient::new(&base, "s3cret", Duration::from_secs(2)).unwrap(),
    };
    let mctx = MetricContext::window("web", "r", "canary", 0, 60);
    let keys = vec![
        "canary/error_rate".to_string(),
        "canary/latency_p99".to_string(),
        "canary/memory_rss_bytes".to_string(),
        "stable/memory_rss_bytes".to_string(),
    ];
    let obs = source.measure(&keys, &mctx).await;
    assert_eq!(obs["canary/error_rate"], Measurement::NoData);
    // Resource usage of a watched process is data; a version with no process ship started has none.
    match &obs["canary/memory_rss_bytes"] {
        Measurement::Value { value, samples, .. } => assert!(*value > 1e6 && *samples == 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(obs["stable/memory_rss_bytes"], Measurement::NoData);
    // A dead admin API is an error for every key.
    let gone = BuiltinSource {
        admin: AdminClient::new("http://127.0.0.1:9", "s3cret", Duration::from_secs(2)).unwrap(),
    };
    assert!(gone
        .measure(&keys, &mctx)
        .await
        .values()
        .all(|m| matches!(m, Measurement::Error { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_that_cannot_be_saved_is_never_raised_but_always_lowered() {
    let proxy = proxy_to_nowhere(25);
    let dir = tempfile::tempdir().unwrap();
    let admin = Arc::new(Admin {
        proxy: proxy.clone(),
        health: None,
        resources: None,
        token: "s3cret-s3cret-s3cret".into(),
        // A folder that does not exist: every save fails, as on a full or read-only disk.
        state_file: Some(dir.path().join("gone/state.json")),
        fingerprint: String::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_admin(admin, listener));
    let router = BuiltinRouter {
        admin: AdminClient::new(&base, "s3cret-s3cret-s3cret", Duration::from_secs(2)).unwrap(),
    };
    let e = router.set_weight(&ctx(), 50).await.unwrap_err();
    assert!(e.message.contains("not raised"), "{e}");
    assert_eq!(proxy.weight(), 25);
    router.roll_back(&ctx()).await.unwrap();
    assert_eq!(proxy.weight(), 0, "a rollback goes through");
}
