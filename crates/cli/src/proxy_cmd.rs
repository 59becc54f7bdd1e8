//! `ship proxy`: ship's data plane in front of any HTTP service, until SIGINT/SIGTERM.
//!
//! Two ways to say what it serves: `--stable`/`--canary` flags (no workspace needed), or
//! `[proxy]` in ship.toml, where instances may carry a command that ship starts and watches.

use crate::cli::ProxyArgs;
use crate::output::Out;
use hyper::header::HeaderName;
use serde_json::json;
use shiploop_config::{InstanceVersion, ProxyCfg, StagingRouter};
use shiploop_proxy::admin::{serve as serve_admin, Admin};
use shiploop_proxy::health::{spawn as spawn_health, HealthConfig};
use shiploop_proxy::launch::{launch, Launched};
use shiploop_proxy::resources::{spawn as spawn_resources, Resources};
use shiploop_proxy::server::{serve_on_threads, Balance, Limits, Proxy, ProxyConfig, StickyKey};
use shiploop_proxy::split::Version;
use shiploop_workspace::{Error, Workspace};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to serve, from flags or ship.toml.
struct Settings {
    cfg: ProxyCfg,
    /// Where the weight is kept across restarts (config mode only).
    state_file: Option<PathBuf>,
}

/// `ship proxy --staging`: the staging proxy `[staging]` describes, with `[proxy]`'s other
/// settings (health checks, balance, timeouts).
fn staging_settings(dir: &Path) -> Result<ProxyCfg, Error> {
    let ws = Workspace::open(dir)?;
    let s = &ws.config.staging;
    if s.router != StagingRouter::Builtin {
        return Err(Error::Usage(format!(
            "ship proxy --staging serves [staging] with router = \"builtin\"; ship.toml has staging.router = {:?}",
            s.router.as_str()
        )));
    }
    if s.stable.is_empty() {
        return Err(Error::Usage(
            "ship.toml: staging.stable lists no instances; add the staging instances (host:port) to staging.stable and staging.canary".into(),
        ));
    }
    let listen = url_address(&s.url).ok_or_else(|| {
        Error::Usage(format!(
            "staging.url {:?}: the staging proxy listens on its host and port, which must be an IP address and port (e.g. http://127.0.0.1:8180/)",
            s.url
        ))
    })?;
    let admin = s.admin.trim().parse().map_err(|_| {
        Error::Usage(format!(
            "staging.admin {:?}: an IP address and port (e.g. 127.0.0.1:9191)",
            s.admin
        ))
    })?;
    let mut cfg = ws.config.proxy.clone();
    cfg.listen = listen;
    cfg.admin = admin;
    cfg.token_env = s.token_env.clone();
    cfg.instances = instances(&s.stable, &s.canary);
    Ok(cfg)
}

/// The instances at `stable` and `canary` addresses, which the proxy does not start itself.
fn instances(
    stable: &[std::net::SocketAddr],
    canary: &[std::net::SocketAddr],
) -> Vec<shiploop_config::InstanceCfg> {
    let at = |version: InstanceVersion, list: &[std::net::SocketAddr]| {
        list.iter()
            .map(|a| shiploop_config::InstanceCfg {
                version,
                address: *a,
                command: String::new(),
            })
            .collect::<Vec<_>>()
    };
    let mut all = at(InstanceVersion::Stable, stable);
    all.extend(at(InstanceVersion::Canary, canary));
    all
}

/// A flag given on the command line wins over the configured `field`.
fn given<T: Clone>(field: &mut T, flag: &Option<T>) {
    if let Some(v) = flag {
        *field = v.clone();
    }
}

/// The socket address of an `http://IP:PORT/…` URL.
fn url_address(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.trim().strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.parse().ok()
}

fn settings(a: &ProxyArgs, dir: &Path) -> Result<Settings, Error> {
    let (mut cfg, state_file) = if a.staging {
        (staging_settings(dir)?, None)
    } else if a.stable.is_empty() {
        let ws = Workspace::open(dir).map_err(|e| match e {
            Error::NotAWorkspace { .. } => Error::Usage(format!(
                "give --stable (and --canary), or run in a workspace with [proxy] in ship.toml ({e})"
            )),
            other => other,
        })?;
        if ws.config.proxy.instances.is_empty() {
            return Err(Error::Usage(
                "ship.toml: [proxy] lists no [[proxy.instances]]; add them, or give --stable/--canary"
                    .into(),
            ));
        }
        let state = ws.root.join(".ship/proxy-state.json");
        (ws.config.proxy.clone(), Some(state))
    } else {
        let cfg = ProxyCfg {
            instances: instances(&a.stable, &a.canary),
            ..ProxyCfg::default()
        };
        (cfg, None)
    };
    given(&mut cfg.listen, &a.listen);
    given(&mut cfg.admin, &a.admin);
    if let Some(h) = &a.sticky_header {
        cfg.sticky_header = h.clone();
        cfg.sticky_cookie.clear();
    }
    if let Some(c) = &a.sticky_cookie {
        cfg.sticky_cookie = c.clone();
        cfg.sticky_header.clear();
    }
    given(&mut cfg.override_header, &a.override_header);
    if let Some(b) = &a.balance {
        cfg.balance = b
            .parse()
            .map_err(|e: shiploop_config::BadBalance| Error::Usage(e.to_string()))?;
    }
    given(&mut cfg.health_path, &a.health_path);
    given(&mut cfg.health_interval, &a.health_interval);
    given(&mut cfg.request_timeout, &a.timeout);
    given(&mut cfg.token_env, &a.token_env);
    Ok(Settings { cfg, state_file })
}

/// The proxy's name for the version an instance serves.
fn version_of(v: InstanceVersion) -> Version {
    match v {
        InstanceVersion::Stable => Version::Stable,
        InstanceVersion::Canary => Version::Canary,
    }
}

fn header(what: &str, name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::Usage(format!("{what} {name:?} is not a valid HTTP header name")))
}

fn proxy_config(c: &ProxyCfg) -> Result<ProxyConfig, Error> {
    let sticky = match (c.sticky_header.as_str(), c.sticky_cookie.as_str()) {
        ("", "") => StickyKey::None,
        (h, "") => StickyKey::Header(header("sticky header", h)?),
        (_, cookie) => StickyKey::Cookie(cookie.to_string()),
    };
    let balance = match c.balance {
        shiploop_config::Balance::RoundRobin => Balance::RoundRobin,
        shiploop_config::Balance::LeastRequests => Balance::LeastRequests,
    };
    Ok(ProxyConfig {
        stable: c.addresses(InstanceVersion::Stable),
        canary: c.addresses(InstanceVersion::Canary),
        sticky,
        override_header: header("override header", &c.override_header)?,
        request_timeout: c.request_timeout.0,
        window_secs: c.keep.0.as_secs().max(1),
        balance,
    })
}

/// What the saved weight belongs to: the canary instances (address and command).
fn fingerprint(cfg: &ProxyCfg) -> String {
    cfg.instances
        .iter()
        .filter(|i| i.version == InstanceVersion::Canary)
        .map(|i| format!("{} {}", i.address, i.command.trim()))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn run(out: &Out, a: &ProxyArgs, dir: &Path) -> Result<u8, Error> {
    if a.weight.is_some_and(|w| w > 100) {
        return Err(Error::Usage("--weight is a percentage, 0-100".into()));
    }
    let Settings { cfg, state_file } = settings(a, dir)?;
    if let Some(problem) = cfg.problem_with_flags() {
        return Err(Error::Usage(problem));
    }
    let fingerprint = fingerprint(&cfg);
    let token = std::env::var(&cfg.token_env)
        .unwrap_or_default()
        .trim()
        .to_string();
    if token.trim().len() < 16 {
        return Err(Error::Usage(format!(
            "set ${} to the admin API's bearer token (at least 16 characters)",
            cfg.token_env
        )));
    }
    let pcfg = proxy_config(&cfg)?;
    // An explicit --weight wins; otherwise the weight the last run saved for these canary
    // instances, so a restart mid-rollout keeps the rollout's split.
    let weight = match (a.weight, &state_file) {
        (Some(w), _) => w,
        (None, Some(f)) => shiploop_proxy::admin::saved_weight(f, &fingerprint).unwrap_or(0),
        (None, None) => 0,
    };
    // The main runtime accepts connections and runs the admin API, health checks and instance
    // watching; the requests themselves are served on per-core threads (`serve_on_threads`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let io = |e: std::io::Error| Error::Usage(format!("cannot listen: {e}"));
    rt.block_on(async {
        let resources = Arc::new(Resources::default());
        let mut launched: Vec<Launched> = Vec::new();
        for inst in cfg.instances.iter().filter(|i| !i.command.trim().is_empty()) {
            let l = launch(&inst.command, inst.address, Duration::from_secs(30))
                .await
                .map_err(|e| Error::Usage(format!("proxy.instances {}: {e}", inst.address)))?;
            let version = version_of(inst.version);
            resources.watch_group(inst.address, version, l.pid);
            launched.push(l);
        }
        let proxy = Proxy::new(pcfg, weight);
        proxy.set_limits(Limits {
            max_connections: cfg.max_connections as usize,
            ..Limits::default()
        });
        let instances = cfg
            .instances
            .iter()
            .map(|i| (i.address, version_of(i.version)))
            .collect();
        let hc = HealthConfig {
            path: cfg.health_path.clone(),
            interval: cfg.health_interval.0,
            timeout: cfg.health_timeout.0,
            unhealthy_threshold: cfg.unhealthy_threshold,
            healthy_threshold: cfg.healthy_threshold,
        };
        let (health, _checks) = spawn_health(instances, hc);
        let routing = proxy.clone();
        health.observe(Arc::new(move |addr, ok| routing.set_healthy(addr, ok)));
        let _sampler = (!launched.is_empty())
            .then(|| spawn_resources(resources.clone(), cfg.resource_interval.0));
        let pl = tokio::net::TcpListener::bind(cfg.listen).await.map_err(io)?;
        let al = tokio::net::TcpListener::bind(cfg.admin).await.map_err(io)?;
        let (pa, aa) = (pl.local_addr().map_err(io)?, al.local_addr().map_err(io)?);
        if out.json {
            out.print_json(&json!({
                "proxy": pa.to_string(),
                "admin": aa.to_string(),
                "weight": weight,
                "launched": launched.iter().map(|l| json!({"address": l.addr.to_string(), "pid": l.pid})).collect::<Vec<_>>(),
            }));
        } else {
            for l in &launched {
                println!("started instance {} (pid {})", l.addr, l.pid);
            }
            let what = if a.staging { "staging proxy" } else { "proxy" };
            println!("{what} on http://{pa} (canary weight {weight} %), admin API on http://{aa}");
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut serving = tokio::spawn(serve_on_threads(proxy.clone(), pl, threads));
        let mut admin = tokio::spawn(serve_admin(
            Arc::new(Admin {
                proxy,
                health: Some(health),
                resources: (!launched.is_empty()).then_some(resources),
                token,
                state_file,
                fingerprint,
            }),
            al,
        ));
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        // The servers only return when they cannot go on; then the process must not look alive.
        let failed = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
            r = &mut serving => Some(format!("the proxy stopped serving: {r:?}")),
            r = &mut admin => Some(format!("the admin API stopped serving: {r:?}")),
        };
        for l in launched {
            l.stop(Duration::from_secs(5)).await;
        }
        match failed {
            None => Ok::<u8, Error>(0),
            Some(why) => Err(Error::Usage(why)),
        }
    })
}
