//! The nginx router: ship owns one include file for the service and rewrites it on every
//! weight change — validated with `nginx -t` before nginx reloads it, put back as it was when
//! the validation fails — then checks that nginx serves the new weight.
//!
//! The split is `split_clients` over a configurable key (`$request_id` by default: every
//! request drawn at random; `$http_x_user_id` or `$cookie_…` keeps users on one version, and
//! since split_clients hashes the key into fixed percentage ranges, a user in the canary at 5 %
//! is still there at 25 %). Weighted `upstream` servers were the alternative; they cannot be
//! sticky by a key of ours and cannot express 0 % without removing a server.
//!
//! The include also declares a tiny status server on loopback answering the weight it was
//! written with: after a reload ship polls it until nginx's new workers answer the new weight.
//! For a moment after a reload the old workers still accept connections too (about 100 ms
//! was measured), so answers alternate between the old weight and the new one: a weight
//! counts as loaded only after [`CONFIRMATIONS`] answers in a row name it, each on a new
//! connection (a kept-alive one would keep asking the same worker).
//! At 0 % and 100 % an optional probe through the real path checks every answer comes from
//! the expected version.

mod config;
pub use config::{NginxMember, NginxRouterCfg};

use crate::runner::Runner;
use crate::{ErrorKind, ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Answers in a row that must name the new weight before it counts as loaded.
pub const CONFIRMATIONS: usize = 5;
/// How long nginx has to settle on the new weight after a reload.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two answers that name the new weight: five of them span at least 200 ms, twice the
/// time old workers were seen answering after a reload.
const CONFIRM_GAP: Duration = Duration::from_millis(50);
/// Between polls while nginx still answers something else.
const RETRY_GAP: Duration = Duration::from_millis(100);

/// The router: `[router.nginx]` as written, with what it is resolved against.
pub struct NginxRouter {
    /// The table; its `include_file` is [`NginxRouter::include_file`] resolved.
    pub cfg: NginxRouterCfg,
    /// The include file, resolved against the workspace.
    pub include_file: PathBuf,
    /// The service: names the upstreams and the status host.
    pub service: String,
    /// Runs `test_command` and `reload_command`, in the workspace, within `timeout`.
    pub runner: Runner,
}

/// `checkout-web` → `checkout_web`: nginx names allow letters, digits and `_`.
fn ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl NginxRouter {
    /// The variable a `proxy_pass http://$…;` uses.
    pub fn variable(&self) -> String {
        format!("$ship_{}_upstream", ident(&self.service))
    }

    /// The include file for `weight`.
    pub fn render(&self, weight: u8, ctx: &RouteContext) -> String {
        let s = ident(&self.service);
        let servers = |list: &[String]| {
            list.iter()
                .map(|a| format!("    server {a};\n"))
                .collect::<String>()
        };
        // Stable takes the first range: a request without the key hashes to 0 and must land
        // on stable, and the canary's range [100-w, 100) only grows, so its users stay.
        let split = match weight {
            0 => format!("    * ship_{s}_stable;\n"),
            100 => format!("    * ship_{s}_canary;\n"),
            w => format!(
                "    {}% ship_{s}_stable;\n    * ship_{s}_canary;\n",
                100 - w
            ),
        };
        format!(
            "# Managed by ship for {service} (release {release}, stage {stage}): rewritten on every\n\
             # weight change; edits are overwritten. Route with: proxy_pass http://{var};\n\
             upstream ship_{s}_stable {{\n{stable}    keepalive 32;\n}}\n\
             upstream ship_{s}_canary {{\n{canary}    keepalive 32;\n}}\n\
             split_clients \"{key}\" {var} {{\n{split}}}\n\
             # ship reads the weight nginx has loaded here.\n\
             server {{\n    listen {status};\n    server_name {host};\n    access_log off;\n    location = /ship-weight {{ return 200 \"{weight}\\n\"; }}\n}}\n",
            service = self.service,
            release = ctx.release,
            stage = ctx.stage,
            var = self.variable(),
            stable = servers(&self.cfg.stable),
            canary = servers(if self.cfg.canary.is_empty() { &self.cfg.stable } else { &self.cfg.canary }),
            key = self.cfg.split_key,
            status = self.cfg.status_listen,
            host = self.status_host(),
        )
    }

    fn err(&self, e: ProviderError) -> ProviderError {
        e.by("nginx router")
    }

    /// Several services' includes may share one status port; each answers on its own name.
    pub fn status_host(&self) -> String {
        format!("ship-weight.{}", ident(&self.service).replace('_', "-"))
    }

    /// The weight one of nginx's workers answers. Every call opens a new connection
    /// (probes keep no connection alive), so successive calls can reach different workers.
    async fn loaded_weight(&self) -> Result<u8, ProviderError> {
        let url = format!("http://{}/ship-weight", self.cfg.status_listen);
        let answer =
            crate::http::get_body_from(&url, &self.status_host(), Duration::from_secs(2)).await?;
        answer.body.trim().parse().map_err(|_| {
            ProviderError::bad_answer(format!("{url} answered {:?}, not a weight", answer.body))
        })
    }

    /// Every answer through `probe_url` carries `probe_header: expect`.
    async fn probe_all(&self, expect: &str) -> Result<(), ProviderError> {
        let (url, header) = (&self.cfg.probe_url, &self.cfg.probe_header);
        for _ in 0..20 {
            let got = crate::http::get_header(url, header, Duration::from_secs(5)).await?;
            if got.as_deref() != Some(expect) {
                return Err(ProviderError::bad_answer(format!(
                    "{url} answered with {header}: {got:?}, expected {expect:?}"
                )));
            }
        }
        Ok(())
    }

    async fn apply(&self, ctx: &RouteContext, weight: u8) -> Result<RouterOutput, ProviderError> {
        let text = self.render(weight, ctx);
        let previous = match std::fs::read(&self.include_file) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(self.err(ProviderError::io(
                    ErrorKind::Io,
                    &e,
                    format!("cannot read {}: {e}", self.include_file.display()),
                )))
            }
        };
        if previous.as_deref() != Some(text.as_bytes()) {
            write_atomic(&self.include_file, &text).map_err(|e| self.err(e))?;
            if let Err(e) = self.runner.run(&self.cfg.test_command).await {
                // nginx must never be left with (or reload into) a file it rejected.
                let restored = match &previous {
                    Some(p) => write_atomic(&self.include_file, p),
                    None => std::fs::remove_file(&self.include_file)
                        .map_err(|e| ProviderError::io(ErrorKind::Io, &e, e.to_string())),
                };
                let note = restored
                    .err()
                    .map(|r| format!(" (and putting the previous file back failed: {r})"))
                    .unwrap_or_default();
                // A test command that could not even start for the controller's own trouble
                // said nothing about the file.
                let kind = if e.is_local() {
                    ErrorKind::Local
                } else {
                    ErrorKind::CommandFailed
                };
                return Err(self.err(ProviderError::new(
                    kind,
                    format!(
                        "nginx rejected the new {}; the previous file is in place{note}: {e}",
                        self.include_file.display()
                    ),
                )));
            }
        }
        self.runner
            .run(&self.cfg.reload_command)
            .await
            .map_err(|e| self.err(ProviderError::from(e).context("reload")))?;
        self.settle(weight, SETTLE_TIMEOUT)
            .await
            .map_err(|e| self.err(e))?;
        if !self.cfg.probe_url.is_empty() {
            let expect = match weight {
                0 => Some(&self.cfg.stable_value),
                100 => Some(&self.cfg.canary_value),
                _ => None,
            };
            if let Some(v) = expect {
                self.probe_all(v).await.map_err(|e| self.err(e))?;
            }
        }
        Ok(RouterOutput::new(format!(
            "nginx serves {weight} % to the new version ({})",
            self.include_file.display()
        )))
    }
}

impl NginxRouter {
    /// Waits until [`CONFIRMATIONS`] answers in a row name `weight`; an answer that names
    /// anything else, or none, starts the count again. The error lists the last answers.
    async fn settle(&self, weight: u8, timeout: Duration) -> Result<(), ProviderError> {
        let started = Instant::now();
        let mut in_a_row = 0;
        let mut seen: std::collections::VecDeque<String> = Default::default();
        loop {
            let answer = self.loaded_weight().await;
            if answer.as_ref().ok() == Some(&weight) {
                in_a_row += 1;
            } else {
                in_a_row = 0;
            }
            if seen.len() == 12 {
                seen.pop_front();
            }
            seen.push_back(match &answer {
                Ok(w) => w.to_string(),
                Err(e) => format!("no weight ({e})"),
            });
            if in_a_row >= CONFIRMATIONS {
                return Ok(());
            }
            if started.elapsed() > timeout {
                // Still unable to ask for the controller's own trouble (no socket): nothing
                // is known about nginx.
                let kind = match &answer {
                    Err(e) if e.is_local() => ErrorKind::Local,
                    _ => ErrorKind::BadAnswer,
                };
                return Err(ProviderError::new(kind, format!(
                    "after the reload nginx did not answer {weight} % {CONFIRMATIONS} times in a row \
                     within {timeout:?} (its workers disagree, or the reload did not take); \
                     its last answers, oldest first: {}",
                    Vec::from(seen).join(", ")
                )));
            }
            let gap = if in_a_row > 0 { CONFIRM_GAP } else { RETRY_GAP };
            tokio::time::sleep(gap).await;
        }
    }
}

/// Writes through a temporary file in the same folder and a rename, so nginx never reads half
/// a file.
fn write_atomic(path: &std::path::Path, text: impl AsRef<[u8]>) -> Result<(), ProviderError> {
    let io = |p: &std::path::Path, e: std::io::Error| {
        ProviderError::io(ErrorKind::Io, &e, format!("{}: {e}", p.display()))
    };
    let tmp = path.with_extension("ship-tmp");
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

#[async_trait]
impl TrafficRouter for NginxRouter {
    fn name(&self) -> &str {
        "nginx"
    }
    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.apply(ctx, weight).await
    }
    async fn effective_weight(&self, _ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        self.loaded_weight()
            .await
            .map(Some)
            .map_err(|e| self.err(e))
    }
    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.apply(ctx, 100).await
    }
    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.apply(ctx, 0).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn router(include_file: PathBuf, status_listen: String) -> NginxRouter {
        NginxRouter {
            cfg: NginxRouterCfg {
                stable: vec!["127.0.0.1:8001".into()],
                canary: vec!["127.0.0.1:8002".into()],
                split_key: "$http_x_user_id".into(),
                status_listen,
                test_command: "true".into(),
                reload_command: "true".into(),
                ..Default::default()
            },
            include_file,
            service: "checkout-web".into(),
            runner: Runner {
                dir: ".".into(),
                timeout: Duration::from_secs(5),
            },
        }
    }

    fn ctx() -> RouteContext {
        RouteContext {
            service: "checkout-web".into(),
            release: "r".into(),
            stage: "canary".into(),
        }
    }

    /// What a fake status server saw: the requests on each connection, in order.
    type Seen = Arc<Mutex<Vec<usize>>>;

    /// A status server standing in for nginx's workers: the n-th request (over all
    /// connections) is answered `answer(n)`. It keeps connections open as nginx does, so a
    /// client that reused one would show as a connection with several requests.
    async fn fake_status(answer: fn(usize) -> u8) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen: Seen = Arc::default();
        let n = Arc::new(AtomicUsize::new(0));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let conn = {
                    let mut seen = record.lock().unwrap();
                    seen.push(0);
                    seen.len() - 1
                };
                let (n, record) = (n.clone(), record.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        buf.clear();
                        record.lock().unwrap()[conn] += 1;
                        let body = format!("{}\n", answer(n.fetch_add(1, Ordering::SeqCst)));
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn a_weight_counts_only_once_the_workers_agree_on_it() {
        // Right after a reload old and new workers take turns (0, 5, 0, 5, 0, 5, 0), then only
        // new ones answer: 7 answers before the run of 5 that confirms.
        let (addr, seen) = fake_status(|n| if n < 7 && n % 2 == 0 { 0 } else { 5 }).await;
        let dir = tempfile::tempdir().unwrap();
        let r = router(dir.path().join("ship.conf"), addr);
        let out = r.set_weight(&ctx(), 5).await.unwrap();
        assert!(out.detail.contains("5 %"), "{}", out.detail);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen.iter().sum::<usize>(),
            7 + CONFIRMATIONS,
            "confirmed after {CONFIRMATIONS} answers in a row, not at the first: {seen:?}"
        );
        assert!(
            seen.iter().all(|&requests| requests == 1),
            "one request per connection, so different workers can answer: {seen:?}"
        );
    }

    #[tokio::test]
    async fn workers_that_never_agree_fail_the_step_saying_what_they_answered() {
        let (addr, _) = fake_status(|n| if n % 2 == 0 { 0 } else { 5 }).await;
        let r = router("/nonexistent/ship.conf".into(), addr);
        let e = r.settle(5, Duration::from_millis(400)).await.unwrap_err();
        assert!(
            e.message.contains("did not answer 5 % 5 times in a row"),
            "{e}"
        );
        assert!(e.message.contains("0, 5, 0, 5"), "{e}");
    }

    #[test]
    fn the_include_splits_by_the_key_and_names_its_weight() {
        let r = router("/tmp/x.conf".into(), "127.0.0.1:9190".into());
        let ctx = ctx();
        let t = r.render(5, &ctx);
        assert!(t.contains("split_clients \"$http_x_user_id\" $ship_checkout_web_upstream {\n    95% ship_checkout_web_stable;\n    * ship_checkout_web_canary;\n}"), "{t}");
        assert!(t.contains("server_name ship-weight.checkout-web;"), "{t}");
        assert!(t.contains("return 200 \"5\\n\""), "{t}");
        assert!(r
            .render(0, &ctx)
            .contains("    * ship_checkout_web_stable;\n}"));
        assert!(!r.render(100, &ctx).contains("% ship_"));
    }
}
