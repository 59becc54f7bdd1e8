//! The integrations' tables: routers, metric sources and `[alerts]` are the providers'
//! own (`shiploop-providers`, one folder each, with their validation); `[[webhooks]]` is here.

use crate::Problem;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

pub use shiploop_providers::cfg::AuthCfg;
pub use shiploop_providers::metrics::alertmanager::{AlertsCfg, AlertsKind};
pub use shiploop_providers::metrics::command::CommandMetricsCfg;
pub use shiploop_providers::metrics::prometheus::{PromQueryCfg, PrometheusCfg, Reduce};
pub use shiploop_providers::metrics::{Counts, MetricsCfg, MetricsKind};
pub use shiploop_providers::routers::command::CommandRouterCfg;
pub use shiploop_providers::routers::haproxy::HaproxyRouterCfg;
pub use shiploop_providers::routers::nginx::NginxRouterCfg;
pub use shiploop_providers::routers::{RouterCfg, RouterKind};

/// The problems of the provider tables (`[router]`, `[metrics]`, `[alerts]`), each with the
/// key it is about.
pub(crate) fn provider_problems(c: &crate::Config) -> Vec<Problem> {
    let mut all = c.router.problems();
    all.extend(c.metrics.problems());
    all.extend(c.alerts.problems());
    all.into_iter()
        .map(|p| {
            let path: Vec<&str> = p.path.iter().map(String::as_str).collect();
            Problem::new(&path, p.message)
        })
        .collect()
}

/// One webhook receiver (`[[webhooks]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCfg {
    /// Where events are POSTed.
    pub url: String,
    /// "cloudevents" (CloudEvents 1.0, structured JSON) or "slack" (`{"text": …}`).
    #[serde(default, deserialize_with = "webhook_format")]
    pub format: WebhookFormat,
    /// The environment variable holding the HMAC-SHA256 key for `X-Ship-Signature`.
    #[serde(default)]
    pub secret_env: String,
    /// Event types to send (e.g. `rollout.rolled-back`); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "default_hook_timeout")]
    /// How long one delivery may take.
    pub timeout: Dur,
    #[serde(default = "default_attempts")]
    /// Attempts per event before it is recorded as failed.
    pub max_attempts: u32,
}

/// How a webhook's body is written (`webhooks.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// CloudEvents 1.0, structured JSON.
    #[default]
    CloudEvents,
    /// A Slack message, `{"text": …}`.
    Slack,
}

impl WebhookFormat {
    /// The spellings, as ship.toml writes them.
    pub const SPELLINGS: &'static [&'static str] = &["cloudevents", "slack"];
    const ALL: [(&'static str, WebhookFormat); 2] = [
        ("cloudevents", WebhookFormat::CloudEvents),
        ("slack", WebhookFormat::Slack),
    ];
}

fn webhook_format<'de, D: serde::Deserializer<'de>>(d: D) -> Result<WebhookFormat, D::Error> {
    crate::choice::one_of(d, &WebhookFormat::ALL, |v| {
        format!("webhooks.format {v:?}: \"cloudevents\" or \"slack\"")
    })
}
fn default_hook_timeout() -> Dur {
    Dur::from_secs(5)
}
fn default_attempts() -> u32 {
    5
}

/// The event types a webhook can ask for (`dev.shiploop.` + these).
pub const EVENT_TYPES: &[&str] = &[
    "release.approval-needed",
    "rollout.started",
    "rollout.stage-entered",
    "rollout.check-failed",
    "rollout.rollback-triggered",
    "rollout.rolled-back",
    "rollout.paused",
    "rollout.resumed",
    "rollout.completed",
    "rollout.failed",
    "validation.passed",
    "validation.failed",
    "oncall.notified",
];

impl WebhookCfg {
    pub(crate) fn problem(&self, i: usize) -> Option<(&'static str, String)> {
        if let Some(m) = url_problem(&format!("webhooks[{i}]"), &self.url) {
            return Some(("url", m));
        }
        if let Some(e) = self
            .events
            .iter()
            .find(|e| !EVENT_TYPES.contains(&e.as_str()))
        {
            return Some((
                "events",
                format!(
                    "webhooks[{i}].events: {e:?} is not an event type ({})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if self.max_attempts == 0 || self.timeout.0.is_zero() {
            return Some((
                "max_attempts",
                format!("webhooks[{i}]: max_attempts and timeout must be greater than 0"),
            ));
        }
        None
    }
}

fn url_problem(table: &str, url: &str) -> Option<String> {
    (!(url.starts_with("http://") || url.starts_with("https://")))
        .then(|| format!("{table}.url {url:?}: an http:// or https:// URL"))
}
