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
//! At 0 % and 100 % an optional probe through the real path checks every answer comes from
//! the expected version.

use crate::command::Runner;
use crate::{ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Probe {
    pub url: String,
    pub header: String,
    pub stable_value: String,
    pub canary_value: String,
}

pub struct NginxRouter {
    pub include_file: PathBuf,
    pub service: String,
    pub stable: Vec<String>,
    pub canary: Vec<String>,
    pub split_key: String,
    /// `host:port` of the status server the include declares.
    pub status_listen: String,
    pub test_command: String,
    pub reload_command: String,
    pub runner: Runner,
    pub probe: Option<Probe>,
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
            stable = servers(&self.stable),
            canary = servers(if self.canary.is_empty() { &self.stable } else { &self.canary }),
            key = self.split_key,
            status = self.status_listen,
            host = self.status_host(),
        )
    }

    fn err(&self, message: String) -> ProviderError {
        ProviderError {
            provider: "nginx router".into(),
            message,
        }
    }

    /// Several services' includes may share one status port; each answers on its own name.
    pub fn status_host(&self) -> String {
        format!("ship-weight.{}", ident(&self.service).replace('_', "-"))
    }

    async fn loaded_weight(&self) -> Result<u8, String> {
        let url = format!("http://{}/ship-weight", self.status_listen);
        let status =
            crate::http_probe::get_body_from(&url, &self.status_host(), Duration::from_secs(2))
                .await?;
        status
            .1
            .trim()
            .parse()
            .map_err(|_| format!("{url} answered {:?}, not a weight", status.1))
    }

    async fn probe_all(&self, p: &Probe, expect: &str) -> Result<(), String> {
        for _ in 0..20 {
            let got =
                crate::http_probe::get_header(&p.url, &p.header, Duration::from_secs(5)).await?;
            if got.as_deref() != Some(expect) {
                return Err(format!(
                    "{} answered with {}: {:?}, expected {expect:?}",
                    p.url, p.header, got
                ));
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
                return Err(self.err(format!("cannot read {}: {e}", self.include_file.display())))
            }
        };
        if previous.as_deref() != Some(text.as_bytes()) {
            write_atomic(&self.include_file, &text).map_err(|e| self.err(e))?;
            if let Err(e) = self.runner.run(&self.test_command).await {
                // nginx must never be left with (or reload into) a file it rejected.
                let restored = match &previous {
                    Some(p) => write_atomic(&self.include_file, p),
                    None => std::fs::remove_file(&self.include_file).map_err(|e| e.to_string()),
                };
                let note = restored
                    .err()
                    .map(|r| format!(" (and putting the previous file back failed: {r})"))
                    .unwrap_or_default();
                return Err(self.err(format!(
                    "nginx rejected the new {}; the previous file is in place{note}: {e}",
                    self.include_file.display()
                )));
            }
        }
        self.runner
            .run(&self.reload_command)
            .await
            .map_err(|e| self.err(format!("reload: {e}")))?;
        let started = Instant::now();
        loop {
            match self.loaded_weight().await {
                Ok(w) if w == weight => break,
                other if started.elapsed() > Duration::from_secs(10) => {
                    return Err(self.err(format!(
                        "after the reload nginx still serves {other:?}, not {weight} %"
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if let Some(p) = &self.probe {
            let expect = match weight {
                0 => Some(&p.stable_value),
                100 => Some(&p.canary_value),
                _ => None,
            };
            if let Some(v) = expect {
                self.probe_all(p, v).await.map_err(|e| self.err(e))?;
            }
        }
        Ok(RouterOutput {
            detail: format!(
                "nginx serves {weight} % to the new version ({})",
                self.include_file.display()
            ),
        })
    }
}

/// Writes through a temporary file in the same folder and a rename, so nginx never reads half
/// a file.
fn write_atomic(path: &std::path::Path, text: impl AsRef<[u8]>) -> Result<(), String> {
    let tmp = path.with_extension("ship-tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
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

    #[test]
    fn the_include_splits_by_the_key_and_names_its_weight() {
        let r = NginxRouter {
            include_file: "/tmp/x.conf".into(),
            service: "checkout-web".into(),
            stable: vec!["127.0.0.1:8001".into()],
            canary: vec!["127.0.0.1:8002".into()],
            split_key: "$http_x_user_id".into(),
            status_listen: "127.0.0.1:9190".into(),
            test_command: "nginx -t".into(),
            reload_command: "nginx -s reload".into(),
            runner: Runner {
                dir: ".".into(),
                timeout: Duration::from_secs(5),
            },
            probe: None,
        };
        let ctx = RouteContext {
            service: "checkout-web".into(),
            release: "r".into(),
            stage: "canary".into(),
        };
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
