//! The command router: user commands move the traffic — the escape hatch that drives any
//! deployment today (like Argo's `job` and `web` providers). Commands run with `sh -c`, with
//! `{weight}`, `{release}`, `{stage}` and `{service}` substituted (shell-quoted).

mod config;
pub use config::CommandRouterCfg;

use crate::placeholders::fill;
use crate::runner::{truncate, Runner};
use crate::{ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;

/// Routes traffic with user commands. Only `set_weight` is required: rolling back defaults to
/// setting weight 0 and promoting to setting weight 100.
#[derive(Debug, Clone)]
pub struct CommandRouter {
    /// Where and how long the commands run.
    pub runner: Runner,
    /// Sets the weight.
    pub set_weight: String,
    /// Prints the weight in effect.
    pub get_weight: Option<String>,
    /// Promotes (else set_weight at 100).
    pub promote: Option<String>,
    /// Rolls back (else set_weight at 0).
    pub rollback: Option<String>,
}

impl CommandRouter {
    fn err(&self, e: impl Into<ProviderError>) -> ProviderError {
        e.into().by("command router")
    }

    async fn run(
        &self,
        template: &str,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        let cmd = fill(
            template,
            &[
                ("weight", weight.to_string()),
                ("release", ctx.release.clone()),
                ("stage", ctx.stage.clone()),
                ("service", ctx.service.clone()),
            ],
        );
        self.runner
            .run(&cmd)
            .await
            .map(|out| RouterOutput::new(format!("$ {cmd}\n{}", truncate(&out))))
            .map_err(|e| self.err(e))
    }
}

#[async_trait]
impl TrafficRouter for CommandRouter {
    fn name(&self) -> &str {
        "command"
    }

    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.run(&self.set_weight, ctx, weight).await
    }

    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        let Some(get) = &self.get_weight else {
            return Ok(None);
        };
        let out = self.run(get, ctx, 0).await?;
        let text = out.detail.lines().skip(1).collect::<Vec<_>>().join("\n");
        let t = text.trim();
        t.parse::<u8>()
            .ok()
            .filter(|w| *w <= 100)
            .map(Some)
            .ok_or_else(|| {
                self.err(ProviderError::bad_answer(format!(
                    "get_weight printed {t:?}, not a weight 0–100"
                )))
            })
    }

    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        match &self.promote {
            Some(p) => self.run(p, ctx, 100).await,
            None => self.run(&self.set_weight, ctx, 100).await,
        }
    }

    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        match &self.rollback {
            Some(r) => self.run(r, ctx, 0).await,
            None => self.run(&self.set_weight, ctx, 0).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx() -> RouteContext {
        RouteContext {
            service: "web".into(),
            release: "2026-11-27-a".into(),
            stage: "canary".into(),
        }
    }

    fn runner(dir: &std::path::Path) -> Runner {
        Runner {
            dir: dir.to_path_buf(),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn the_command_router_runs_and_records() {
        let dir = std::env::temp_dir().join(format!("ship-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = CommandRouter {
            runner: runner(&dir),
            set_weight: "echo {weight} > weight && echo set {weight} for {release} in {stage}"
                .into(),
            get_weight: Some("cat weight".into()),
            promote: None,
            rollback: None,
        };
        let out = r.set_weight(&ctx(), 25).await.unwrap();
        assert!(
            out.detail.contains("set 25 for 2026-11-27-a in canary"),
            "{}",
            out.detail
        );
        assert_eq!(r.effective_weight(&ctx()).await.unwrap(), Some(25));
        r.roll_back(&ctx()).await.unwrap();
        assert_eq!(r.effective_weight(&ctx()).await.unwrap(), Some(0));
        r.promote(&ctx()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("weight")).unwrap().trim(),
            "100"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn failures_and_timeouts_are_errors_not_panics() {
        let dir = std::env::temp_dir();
        let failing = CommandRouter {
            runner: runner(&dir),
            set_weight: "echo nope >&2; exit 3".into(),
            get_weight: None,
            promote: None,
            rollback: None,
        };
        let e = failing.set_weight(&ctx(), 5).await.unwrap_err();
        assert!(
            e.message.contains("exit status 3") && e.message.contains("nope"),
            "{e}"
        );
        let slow = CommandRouter {
            runner: Runner {
                dir: dir.clone(),
                timeout: Duration::from_millis(200),
            },
            set_weight: "sleep 5".into(),
            get_weight: None,
            promote: None,
            rollback: None,
        };
        let e = slow.set_weight(&ctx(), 5).await.unwrap_err();
        assert!(e.message.contains("timed out"), "{e}");
    }
}
