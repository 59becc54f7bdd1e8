//! The Alertmanager alert source: `GET /api/v2/alerts` for active alerts that are neither
//! silenced nor inhibited, filtered by matchers. It answers `alerts/<name>` keys — the engine
//! asks for `alerts/critical_security` — with the number of matching alerts, and names them.

mod config;
pub use config::{AlertsCfg, AlertsKind};

use crate::http::Http;
use crate::{MetricContext, MetricSource};
use async_trait::async_trait;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
/// Counts Alertmanager's active alerts for the `alerts/…` keys.
pub struct AlertmanagerSource {
    /// The HTTP client, with the table's timeout and authentication.
    pub http: Http,
    /// The server's base URL.
    pub base: String,
    /// Matchers per key suffix: `critical_security` → [`severity="critical"`, `category="security"`].
    /// Alertmanager's filter syntax: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.
    pub matchers: BTreeMap<String, Vec<String>>,
}

/// "alertname (label=value, …)" for the decision record.
fn describe(alert: &Value) -> String {
    let labels = alert["labels"].as_object();
    let name = labels
        .and_then(|l| l.get("alertname"))
        .and_then(Value::as_str)
        .unwrap_or("unnamed alert");
    let rest: Vec<String> = labels
        .map(|l| {
            l.iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if rest.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({})", rest.join(", "))
    }
}

impl AlertmanagerSource {
    async fn count(&self, matchers: &[String]) -> Measurement {
        let mut params = vec![
            ("active", "true".to_string()),
            ("silenced", "false".to_string()),
            ("inhibited", "false".to_string()),
        ];
        params.extend(matchers.iter().map(|m| ("filter", m.clone())));
        let url = format!("{}/api/v2/alerts", self.base.trim_end_matches('/'));
        let body = match self.http.get_json(&url, &params).await {
            Ok(b) => b,
            Err(e) => return e.measurement(),
        };
        let Some(alerts) = body.as_array() else {
            return Measurement::error(format!(
                "{url}: expected a list of alerts, got {}",
                truncate(&body)
            ));
        };
        // Belt and braces: the query asked for active alerts only, but a proxy in between may
        // drop parameters; count only what is active by its own status.
        let active: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["status"]["state"].as_str().is_none_or(|s| s == "active"))
            .collect();
        let n = active.len() as f64;
        if active.is_empty() {
            return Measurement::value(0.0, 1);
        }
        let names: Vec<String> = active.iter().map(|a| describe(a)).collect();
        Measurement::with_detail(n, 1, names.join("; "))
    }
}

fn truncate(v: &Value) -> String {
    v.to_string().chars().take(120).collect()
}

#[async_trait]
impl MetricSource for AlertmanagerSource {
    fn name(&self) -> &str {
        "alertmanager"
    }
    async fn measure(&self, keys: &[String], _ctx: &MetricContext) -> Observation {
        let mut out = Observation::new();
        for key in keys {
            let m = match key
                .strip_prefix("alerts/")
                .and_then(|k| self.matchers.get(k))
            {
                Some(matchers) => self.count(matchers).await,
                None => {
                    Measurement::error(format!("{key}: no Alertmanager matchers configured for it"))
                }
            };
            out.insert(key.clone(), m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alerts_are_named_with_their_labels() {
        let a = json!({"labels": {"alertname": "CVE-2026-1234", "severity": "critical", "category": "security"}});
        assert_eq!(
            describe(&a),
            "CVE-2026-1234 (category=security, severity=critical)"
        );
        assert_eq!(describe(&json!({"labels": {}})), "unnamed alert");
    }
}
