//! `ship proxy`: ship's data plane in front of any HTTP service, until SIGINT/SIGTERM.

use crate::cli::ProxyArgs;
use crate::output::Out;
use hyper::header::HeaderName;
use serde_json::json;
use shiploop_proxy::admin::{serve as serve_admin, Admin};
use shiploop_proxy::health::{spawn as spawn_health, HealthConfig};
use shiploop_proxy::server::{serve_on_threads, Proxy, ProxyConfig, StickyKey};
use shiploop_proxy::split::Version;
use shiploop_workspace::Error;
use std::sync::Arc;

pub fn run(out: &Out, a: &ProxyArgs) -> Result<u8, Error> {
    let token = std::env::var(&a.token_env).unwrap_or_default();
    if token.trim().len() < 16 {
        return Err(Error::Usage(format!(
            "set ${} to the admin API's bearer token (at least 16 characters)",
            a.token_env
        )));
    }
    if a.weight > 100 {
        return Err(Error::Usage("--weight is a percentage, 0-100".into()));
    }
    let header = |flag: &str, name: &str| {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Usage(format!("{flag} {name:?} is not a valid HTTP header name")))
    };
    let override_header = header("--override-header", &a.override_header)?;
    let sticky = match (&a.sticky_header, &a.sticky_cookie) {
        (Some(h), _) => StickyKey::Header(header("--sticky-header", h)?),
        (None, Some(c)) => StickyKey::Cookie(c.clone()),
        _ => StickyKey::None,
    };
    // The main runtime accepts connections and runs the admin API and health checks; the
    // requests themselves are served on per-core threads (see `serve_on_threads`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let io = |e: std::io::Error| Error::Usage(format!("cannot listen: {e}"));
    rt.block_on(async {
        let cfg = ProxyConfig {
            stable: a.stable.clone(),
            canary: a.canary.clone(),
            sticky,
            override_header,
            request_timeout: a.timeout.0,
            window_secs: 600,
        };
        let proxy = Proxy::new(cfg, a.weight);
        let instances = a
            .stable
            .iter()
            .map(|s| (*s, Version::Stable))
            .chain(a.canary.iter().map(|c| (*c, Version::Canary)))
            .collect();
        let hc = HealthConfig {
            path: a.health_path.clone(),
            interval: a.health_interval.0,
            ..HealthConfig::default()
        };
        let (health, _checks) = spawn_health(instances, hc);
        let pl = tokio::net::TcpListener::bind(a.listen).await.map_err(io)?;
        let al = tokio::net::TcpListener::bind(a.admin).await.map_err(io)?;
        let (pa, aa) = (pl.local_addr().map_err(io)?, al.local_addr().map_err(io)?);
        if out.json {
            out.print_json(
                &json!({ "proxy": pa.to_string(), "admin": aa.to_string(), "weight": a.weight }),
            );
        } else {
            println!(
                "proxy on http://{pa} (canary weight {} %), admin API on http://{aa}",
                a.weight
            );
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::spawn(serve_on_threads(proxy.clone(), pl, threads));
        tokio::spawn(serve_admin(
            Arc::new(Admin {
                proxy,
                health: Some(health),
                token,
            }),
            al,
        ));
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<u8, Error>(0)
    })
}
