//! `[metrics.prometheus]` and `[alerts]`: the servers teams already run.

use crate::Problem;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;

/// How ship authenticates to a server; secrets come from environment variables, never the file.
pub trait AuthCfg {
    fn bearer_token_env(&self) -> &str;
    fn basic_user(&self) -> &str;
    fn basic_password_env(&self) -> &str;
    fn ca_file(&self) -> &str;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusCfg {
    pub url: String,
    pub timeout: Dur,
    pub bearer_token_env: String,
    pub basic_user: String,
    pub basic_password_env: String,
    pub ca_file: String,
    /// The label selector of one version's series; `{{selector}}` in queries.
    pub selector: String,
    pub stable_version: String,
    pub canary_version: String,
    pub stable_instances: String,
    pub canary_instances: String,
    /// Queries by metric name, over the presets (`requests`, `errors`, `slow`, `slow_target`,
    /// `error_rate`, `latency_p99`, `failed_instances`).
    pub queries: BTreeMap<String, PromQueryCfg>,
    /// The upper bounds of the services' `http_request_duration_seconds` buckets, in seconds:
    /// the slow-request counts interpolate between them as `histogram_quantile` does.
    pub buckets: Vec<f64>,
}

impl Default for PrometheusCfg {
    fn default() -> Self {
        PrometheusCfg {
            url: "http://127.0.0.1:9090".into(),
            timeout: Dur::from_secs(10),
            bearer_token_env: String::new(),
            basic_user: String::new(),
            basic_password_env: String::new(),
            ca_file: String::new(),
            selector: r#"job="{{service}}",version="{{version}}""#.into(),
            stable_version: "stable".into(),
            canary_version: "canary".into(),
            stable_instances: ".*".into(),
            canary_instances: ".*".into(),
            queries: BTreeMap::new(),
            buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromQueryCfg {
    pub query: String,
    /// How many samples stand behind the value (e.g. requests in the window).
    #[serde(default)]
    pub samples: String,
    /// A range query over this much time before now, instead of an instant query.
    #[serde(default)]
    pub range: Option<Dur>,
    #[serde(default = "default_step")]
    pub step: Dur,
    /// How a range becomes one value: last, max, min, avg.
    #[serde(default = "default_reduce")]
    pub reduce: String,
}

fn default_step() -> Dur {
    Dur::from_secs(15)
}

fn default_reduce() -> String {
    "max".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsCfg {
    /// "none" or "alertmanager".
    pub kind: String,
    pub url: String,
    pub timeout: Dur,
    pub bearer_token_env: String,
    pub basic_user: String,
    pub basic_password_env: String,
    pub ca_file: String,
    /// Alertmanager matchers that make an alert critical.
    pub critical: Vec<String>,
    /// …and, together with `critical`, a critical security alert.
    pub security: Vec<String>,
}

impl Default for AlertsCfg {
    fn default() -> Self {
        AlertsCfg {
            kind: "none".into(),
            url: "http://127.0.0.1:9093".into(),
            timeout: Dur::from_secs(10),
            bearer_token_env: String::new(),
            basic_user: String::new(),
            basic_password_env: String::new(),
            ca_file: String::new(),
            critical: vec![r#"severity="critical""#.into()],
            security: vec![r#"category="security""#.into()],
        }
    }
}

/// `[router.nginx]`: ship owns one include file and reloads nginx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NginxRouterCfg {
    /// The include file ship writes (relative to the workspace or absolute); include it in
    /// nginx's `http` block.
    pub include_file: String,
    pub stable: Vec<String>,
    pub canary: Vec<String>,
    /// What `split_clients` hashes: `$request_id` (random per request), or a per-user key.
    pub split_key: String,
    /// Loopback `host:port` of the status server the include declares.
    pub status_listen: String,
    pub test_command: String,
    pub reload_command: String,
    /// Optional: a URL through nginx; at 0 % and 100 % every answer must carry
    /// `probe_header` = `stable_value` / `canary_value`.
    pub probe_url: String,
    pub probe_header: String,
    pub stable_value: String,
    pub canary_value: String,
    pub timeout: Dur,
}

impl Default for NginxRouterCfg {
    fn default() -> Self {
        NginxRouterCfg {
            include_file: String::new(),
            stable: Vec::new(),
            canary: Vec::new(),
            split_key: "$request_id".into(),
            status_listen: "127.0.0.1:9190".into(),
            test_command: "nginx -t".into(),
            reload_command: "nginx -s reload".into(),
            probe_url: String::new(),
            probe_header: "x-ship-version".into(),
            stable_value: String::new(),
            canary_value: String::new(),
            timeout: Dur::from_secs(30),
        }
    }
}

impl NginxRouterCfg {
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.include_file.trim().is_empty() {
            return Some(("include_file", "router.nginx.include_file: name the file ship owns (include it in nginx's http block)".into()));
        }
        if self.stable.is_empty() || self.canary.is_empty() {
            return Some(("stable", "router.nginx.stable and router.nginx.canary: the servers (host:port) of each version".into()));
        }
        let bad = |s: &String| s.trim().is_empty() || s.contains([';', '{', '}', '\n', '"']);
        if let Some(s) = self.stable.iter().chain(&self.canary).find(|s| bad(s)) {
            return Some((
                "stable",
                format!("router.nginx: {s:?} is not a server address"),
            ));
        }
        if !self.split_key.starts_with('$') || self.split_key.contains([';', '{', '}', '"', '\n']) {
            return Some(("split_key", format!("router.nginx.split_key {:?}: an nginx variable such as $request_id or $http_x_user_id", self.split_key)));
        }
        if self.status_listen.parse::<std::net::SocketAddr>().is_err() {
            return Some((
                "status_listen",
                format!(
                    "router.nginx.status_listen {:?}: host:port",
                    self.status_listen
                ),
            ));
        }
        if !self.probe_url.is_empty()
            && (!self.probe_url.starts_with("http://")
                || self.stable_value.is_empty()
                || self.canary_value.is_empty())
        {
            return Some(("probe_url", "router.nginx.probe_url: an http:// URL, with stable_value and canary_value to expect in probe_header".into()));
        }
        None
    }
}

/// `[router.haproxy]`: weights over HAProxy's runtime API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaproxyRouterCfg {
    /// The admin socket (`stats socket … level admin`).
    pub socket: String,
    pub backend: String,
    pub stable_server: String,
    pub canary_server: String,
    /// HAProxy's `server-state-file`; "" leaves weights to the running process only.
    pub state_file: String,
    pub timeout: Dur,
}

impl Default for HaproxyRouterCfg {
    fn default() -> Self {
        HaproxyRouterCfg {
            socket: String::new(),
            backend: String::new(),
            stable_server: "stable".into(),
            canary_server: "canary".into(),
            state_file: String::new(),
            timeout: Dur::from_secs(5),
        }
    }
}

impl HaproxyRouterCfg {
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.socket.trim().is_empty() || self.backend.trim().is_empty() {
            return Some(("socket", "router.haproxy.socket and router.haproxy.backend: the admin socket and the backend holding the two servers".into()));
        }
        for (key, v) in [
            ("backend", &self.backend),
            ("stable_server", &self.stable_server),
            ("canary_server", &self.canary_server),
        ] {
            if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '/' || c == ';') {
                return Some((
                    key,
                    format!("router.haproxy.{key} {v:?}: a backend or server name"),
                ));
            }
        }
        if self.stable_server == self.canary_server {
            return Some((
                "canary_server",
                "router.haproxy: the stable and canary servers must differ".into(),
            ));
        }
        None
    }
}

/// One webhook receiver (`[[webhooks]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCfg {
    pub url: String,
    /// "cloudevents" (CloudEvents 1.0, structured JSON) or "slack" (`{"text": …}`).
    #[serde(default = "default_format")]
    pub format: String,
    /// The environment variable holding the HMAC-SHA256 key for `X-Ship-Signature`.
    #[serde(default)]
    pub secret_env: String,
    /// Event types to send (e.g. `rollout.rolled-back`); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: Dur,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn default_format() -> String {
    "cloudevents".into()
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
        if !matches!(self.format.as_str(), "cloudevents" | "slack") {
            return Some((
                "format",
                format!(
                    "webhooks[{i}].format {:?}: \"cloudevents\" or \"slack\"",
                    self.format
                ),
            ));
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

macro_rules! auth_cfg {
    ($t:ty) => {
        impl AuthCfg for $t {
            fn bearer_token_env(&self) -> &str {
                &self.bearer_token_env
            }
            fn basic_user(&self) -> &str {
                &self.basic_user
            }
            fn basic_password_env(&self) -> &str {
                &self.basic_password_env
            }
            fn ca_file(&self) -> &str {
                &self.ca_file
            }
        }
    };
}
auth_cfg!(PrometheusCfg);
auth_cfg!(AlertsCfg);

fn url_problem(table: &str, url: &str) -> Option<String> {
    (!(url.starts_with("http://") || url.starts_with("https://")))
        .then(|| format!("{table}.url {url:?}: an http:// or https:// URL"))
}

fn auth_problem(table: &str, a: &dyn AuthCfg) -> Option<String> {
    if !a.bearer_token_env().is_empty() && !a.basic_user().is_empty() {
        return Some(format!(
            "{table}: bearer_token_env and basic_user: give one kind of authentication"
        ));
    }
    if a.basic_user().is_empty() != a.basic_password_env().is_empty() {
        return Some(format!(
            "{table}: basic_user and basic_password_env go together"
        ));
    }
    None
}

/// A matcher as Alertmanager's `filter` parameter takes it: `name="v"`, `!=`, `=~`, `!~`.
fn matcher_ok(m: &str) -> bool {
    let Some(i) = m.find(['=', '!']) else {
        return false;
    };
    let (name, rest) = m.split_at(i);
    let value = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op));
    !name.trim().is_empty()
        && name
            .trim()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && value.is_some_and(|v| v.len() >= 2 && v.starts_with('"') && v.ends_with('"'))
}

impl PrometheusCfg {
    /// The first problem, with where it is.
    pub(crate) fn problem(&self) -> Option<Problem> {
        let at = |key: &str, message: String| {
            Some(Problem::new(&["metrics", "prometheus", key], message))
        };
        if let Some(m) = url_problem("metrics.prometheus", &self.url) {
            return at("url", m);
        }
        if let Some(m) = auth_problem("metrics.prometheus", self) {
            return at("basic_user", m);
        }
        let b = &self.buckets;
        if b.is_empty()
            || b.iter().any(|x| !x.is_finite() || *x <= 0.0)
            || b.windows(2).any(|w| w[0] >= w[1])
        {
            return at(
                "buckets",
                format!("metrics.prometheus.buckets {b:?}: the histogram's bucket bounds in seconds, increasing (the +Inf bucket is implied)"),
            );
        }
        for (name, q) in &self.queries {
            let at = |key: &str, message: String| {
                Some(Problem::new(
                    &["metrics", "prometheus", "queries", name, key],
                    message,
                ))
            };
            if q.query.trim().is_empty() {
                return at(
                    "query",
                    format!("metrics.prometheus.queries.{name}.query is empty"),
                );
            }
            if matches!(name.as_str(), "error_rate" | "latency_p99") && q.samples.trim().is_empty()
            {
                return at("samples", format!("metrics.prometheus.queries.{name}.samples: the {name} gauge needs a sample count (e.g. requests in the window) to tell data from noise"));
            }
            if !matches!(q.reduce.as_str(), "last" | "max" | "min" | "avg") {
                return at(
                    "reduce",
                    format!(
                        "metrics.prometheus.queries.{name}.reduce {:?}: last, max, min or avg",
                        q.reduce
                    ),
                );
            }
            if q.step.0.is_zero() {
                return at(
                    "step",
                    format!("metrics.prometheus.queries.{name}.step: greater than 0"),
                );
            }
        }
        None
    }
}

impl AlertsCfg {
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if !matches!(self.kind.as_str(), "none" | "alertmanager") {
            return Some((
                "kind",
                format!("alerts.kind {:?}: \"none\" or \"alertmanager\"", self.kind),
            ));
        }
        if let Some(m) = url_problem("alerts", &self.url) {
            return Some(("url", m));
        }
        if let Some(m) = auth_problem("alerts", self) {
            return Some(("basic_user", m));
        }
        for (key, list) in [("critical", &self.critical), ("security", &self.security)] {
            if let Some(bad) = list.iter().find(|m| !matcher_ok(m)) {
                return Some((
                    key,
                    format!("alerts.{key}: {bad:?} is not a matcher like severity=\"critical\""),
                ));
            }
        }
        if self.critical.is_empty() {
            return Some((
                "critical",
                "alerts.critical: at least one matcher, or every alert would count as critical"
                    .into(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::matcher_ok;

    #[test]
    fn matchers_follow_alertmanager_syntax() {
        for ok in [
            r#"severity="critical""#,
            r#"category=~"sec.*""#,
            r#"team!="x""#,
            r#"a!~"b""#,
        ] {
            assert!(matcher_ok(ok), "{ok}");
        }
        for bad in [
            "severity",
            r#"="x""#,
            "severity=critical",
            r#"sev erity="x""#,
        ] {
            assert!(!matcher_ok(bad), "{bad}");
        }
    }
}
