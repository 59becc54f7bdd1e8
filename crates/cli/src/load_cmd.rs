//! `ship load <url>`: steady traffic from many users, so a rollout has something to judge when
//! there is no real traffic yet (trying ship out, a staging environment). The judge decides from
//! request counts; without requests a stage can only pause.

use crate::output::Out;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use shiploop_artifacts::duration::Dur;
use shiploop_workspace::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts the load on the current runtime: `rate` GET requests a second to `uri`, each from one
/// of `users` users named in `header`, counted in `counts`, until the runtime shuts down. Each
/// worker keeps one request in flight, paced so together they send `rate` a second; a slow
/// server lowers the rate rather than piling up connections.
pub fn spawn(
    uri: &hyper::Uri,
    header: &hyper::header::HeaderName,
    rate: u32,
    users: u32,
    counts: Arc<Counts>,
) {
    let workers = rate.clamp(1, 32);
    let period = Duration::from_secs_f64(f64::from(workers) / f64::from(rate.max(1)));
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build_http();
    for w in 0..workers {
        let (client, counts, uri, header) =
            (client.clone(), counts.clone(), uri.clone(), header.clone());
        let users = u64::from(users.max(1));
        let step = u64::from(workers);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = u64::from(w);
            loop {
                tick.tick().await;
                n += step;
                let req = hyper::Request::get(uri.clone())
                    .header(header.clone(), format!("user-{}", n % users))
                    .body(Empty::new());
                let Ok(req) = req else { continue };
                let answer = tokio::time::timeout(Duration::from_secs(30), async {
                    let resp = client.request(req).await.ok()?;
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await.ok()?;
                    Some(status)
                })
                .await;
                match answer {
                    Ok(Some(s)) => {
                        let class = usize::from(s / 100).min(5);
                        counts.by_class[class].fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
}

/// What the traffic was answered with.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    pub url: String,
    pub seconds: f64,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Requests that got no answer (refused, reset, timed out).
    pub failed: u64,
}

/// Answers by status class (index 2 = 2xx …) and requests without an answer.
#[derive(Default)]
pub struct Counts {
    by_class: [AtomicU64; 6],
    failed: AtomicU64,
}

/// The arguments of `ship load`.
pub struct LoadArgs<'a> {
    pub url: &'a str,
    pub rate: u32,
    pub users: u32,
    pub user_header: &'a str,
    pub duration: Option<&'a str>,
}

pub fn run(out: &Out, a: &LoadArgs) -> Result<u8, Error> {
    let uri: hyper::Uri = a
        .url
        .parse()
        .map_err(|e| Error::Usage(format!("ship load: {:?} is not a URL: {e}", a.url)))?;
    if uri.scheme_str() != Some("http") {
        return Err(Error::Usage(format!(
            "ship load: {:?} must be an http:// URL (put ship's proxy or your service's plain-HTTP port here)",
            a.url
        )));
    }
    if a.rate == 0 || a.users == 0 {
        return Err(Error::Usage(
            "ship load: --rate and --users must be at least 1".into(),
        ));
    }
    let header = hyper::header::HeaderName::from_bytes(a.user_header.as_bytes())
        .map_err(|e| Error::Usage(format!("ship load: --user-header {:?}: {e}", a.user_header)))?;
    let limit = match a.duration {
        Some(d) => Some(
            d.parse::<Dur>()
                .map_err(|e| Error::Usage(format!("ship load: --duration: {e}")))?
                .as_duration(),
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("ship load: cannot start: {e}")))?;
    if !out.json {
        let until = a
            .duration
            .map(|d| format!("for {d}"))
            .unwrap_or_else(|| "until stopped (Ctrl-C)".into());
        eprintln!(
            "ship load: {} requests/s to {} from {} users ({}) {until}",
            a.rate, a.url, a.users, a.user_header
        );
    }
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    rt.block_on(async {
        spawn(&uri, &header, a.rate, a.users, counts.clone());
        stopped(limit).await
    })?;
    let c = &counts.by_class;
    let get = |i: usize| c[i].load(Ordering::Relaxed);
    let r = LoadReport {
        url: a.url.to_string(),
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        requests: (0..6).map(get).sum::<u64>() + counts.failed.load(Ordering::Relaxed),
        status_2xx: get(2),
        status_3xx: get(3),
        status_4xx: get(4),
        status_5xx: get(5),
        failed: counts.failed.load(Ordering::Relaxed),
    };
    if out.json {
        out.print_json(&r);
    } else {
        println!(
            "ship load: {} requests in {:.1} s: 2xx {}, 3xx {}, 4xx {}, 5xx {}, no answer {}",
            r.requests, r.seconds, r.status_2xx, r.status_3xx, r.status_4xx, r.status_5xx, r.failed
        );
    }
    Ok(0)
}

/// Waits for the duration, Ctrl-C or SIGTERM (a `kill %1` of the tour's background job).
async fn stopped(limit: Option<Duration>) -> Result<(), Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::Usage(format!("cannot handle SIGTERM: {e}")))?;
    let sleep = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = sleep => {}
    }
    Ok(())
}
