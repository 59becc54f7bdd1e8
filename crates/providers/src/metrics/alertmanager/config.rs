//! `[alerts]`: where critical alerts come from (`alerts/…` keys), beside the metric source.

use super::AlertmanagerSource;
use crate::cfg::{auth_cfg, check_auth, check_url, BuildContext, Problem, Problems};
use crate::ProviderError;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;

/// `alerts.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertsKind {
    /// The metric source answers `alerts/…` keys itself, or nothing does.
    None,
    /// Alertmanager's API (`[alerts]` url, matchers).
    Alertmanager,
}

auth_cfg! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    /// `[alerts]`.
    pub struct AlertsCfg {
        /// Where alerts come from.
        pub kind: AlertsKind = AlertsKind::None,
        /// The server (http or https).
        pub url: String = "http://127.0.0.1:9093".into(),
        /// How long one call may take.
        pub timeout: Dur = Dur::from_secs(10),
        ..auth,
        /// Alertmanager matchers that make an alert critical.
        pub critical: Vec<String> = vec![r#"severity="critical""#.into()],
        /// …and, together with `critical`, a critical security alert.
        pub security: Vec<String> = vec![r#"category="security""#.into()],
    }
}

/// A matcher as Alertmanager's `filter` parameter takes it: `name="v"`, `!=`, `=~`, `!~`.
pub(crate) fn matcher_ok(m: &str) -> bool {
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

impl AlertsCfg {
    /// Every problem with `[alerts]` (checked whatever the kind: `ship init` writes it).
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Problems::new(&["alerts"]);
        check_url(&mut p, &self.url);
        check_auth(&mut p, self);
        for (key, list) in [("critical", &self.critical), ("security", &self.security)] {
            if let Some(bad) = list.iter().find(|m| !matcher_ok(m)) {
                p.at(
                    &[key],
                    format!("alerts.{key}: {bad:?} is not a matcher like severity=\"critical\""),
                );
            }
        }
        if self.critical.is_empty() {
            p.at(
                &["critical"],
                "alerts.critical: at least one matcher, or every alert would count as critical",
            );
        }
        p.found
    }

    /// The alert source `[alerts]` names, if any.
    pub fn build(&self, cx: &BuildContext) -> Result<Option<AlertmanagerSource>, ProviderError> {
        if self.kind != AlertsKind::Alertmanager {
            return Ok(None);
        }
        let both: Vec<String> = self
            .critical
            .iter()
            .chain(&self.security)
            .cloned()
            .collect();
        Ok(Some(AlertmanagerSource {
            http: cx.http("alerts", self, self.timeout)?,
            base: self.url.clone(),
            matchers: BTreeMap::from([
                ("critical".to_string(), self.critical.clone()),
                ("critical_security".to_string(), both),
            ]),
        }))
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
