//! `[metrics.json]`: where each version's JSON is, and where each metric is in it.

use super::JsonSource;
use crate::cfg::{auth_cfg, check_auth, AdminSettings, BuildContext, Problems};
use crate::metrics::{Counts, SourceCfg};
use crate::{MetricSource, ProviderError};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;

auth_cfg! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    /// `[metrics.json]`.
    pub struct JsonCfg {
        /// The URL of one version's JSON, with `{{version}}` (and `{{service}}`) filled.
        pub url: String = String::new(),
        /// The URL of each version's JSON, when they differ by more than `{{version}}`.
        pub stable_url: String = String::new(),
        /// The new version's URL.
        pub canary_url: String = String::new(),
        /// `{{version}}` of each version.
        pub stable_version: String = "stable".into(),
        /// `{{version}}` for the new version.
        pub canary_version: String = "canary".into(),
        /// A document not fetched in this time is an error for its version's keys.
        pub timeout: Dur = Dur::from_secs(10),
        ..auth,
        /// Where each metric is in the JSON: a JSON pointer (`/http/requests`) or a dotted path
        /// (`http.requests`; a number indexes an array).
        pub metrics: BTreeMap<String, String> = BTreeMap::new(),
        /// Where the sample count of a metric is (e.g. `error_rate` → the requests it covers);
        /// without one a value is one sample.
        pub samples: BTreeMap<String, String> = BTreeMap::new(),
        /// Where the request counts start: services count from their own start.
        pub counts: Counts = Counts::Counter,
    }
}

/// `/a/b` as it is, `a.b` as `/a/b`; None for an empty path or an empty segment.
pub(crate) fn pointer(path: &str) -> Option<String> {
    let path = path.trim();
    if path.starts_with('/') {
        return Some(path.to_string());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if path.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    // A dotted path's segments are plain names: escape what a pointer treats specially.
    let escaped: Vec<String> = segments
        .iter()
        .map(|s| s.replace('~', "~0").replace('/', "~1"))
        .collect();
    Some(format!("/{}", escaped.join("/")))
}

impl JsonCfg {
    /// The URL of each version, `{{version}}` and `{{service}}` filled.
    fn urls(&self, service: &str) -> BTreeMap<String, String> {
        let one = |own: &str, version: &str| {
            let template = if own.trim().is_empty() {
                &self.url
            } else {
                own
            };
            template
                .replace("{{version}}", version)
                .replace("{{service}}", service)
        };
        BTreeMap::from([
            (
                "stable".to_string(),
                one(&self.stable_url, &self.stable_version),
            ),
            (
                "canary".to_string(),
                one(&self.canary_url, &self.canary_version),
            ),
        ])
    }
}

impl SourceCfg for JsonCfg {
    fn check(&self, p: &mut Problems) {
        let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        let mut bad: Vec<(&str, &str)> = Vec::new();
        for (key, own) in [
            ("stable_url", &self.stable_url),
            ("canary_url", &self.canary_url),
        ] {
            let (at, url) = if own.trim().is_empty() {
                ("url", self.url.as_str())
            } else {
                (key, own.as_str())
            };
            if !http(url) && !bad.contains(&(at, url)) {
                bad.push((at, url));
            }
        }
        for (at, url) in bad {
            p.at(&[at], format!("metrics.json.{at} {url:?}: an http:// or https:// URL (url with {{{{version}}}}, or stable_url and canary_url)"));
        }
        check_auth(p, self);
        if self.metrics.is_empty() {
            p.at(&["metrics"], "metrics.json.metrics: where each metric is in the JSON, e.g. requests = \"/http/requests\"");
        }
        for (table, map) in [("metrics", &self.metrics), ("samples", &self.samples)] {
            for (name, path) in map {
                if pointer(path).is_none() {
                    p.at(&[table, name.as_str()], format!("metrics.json.{table}.{name} = {path:?}: a JSON pointer (/a/b) or a dotted path (a.b)"));
                }
            }
        }
        for name in self
            .samples
            .keys()
            .filter(|n| !self.metrics.contains_key(*n))
        {
            p.at(&["samples", name.as_str()], format!("metrics.json.samples.{name}: no metrics.json.metrics.{name} to count the samples of"));
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn MetricSource>, ProviderError> {
        let paths = |map: &BTreeMap<String, String>| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), pointer(v)?)))
                .collect()
        };
        Ok(Box::new(JsonSource {
            http: cx.http("metrics.json", self, self.timeout)?,
            urls: self.urls(cx.service),
            metrics: paths(&self.metrics),
            samples: paths(&self.samples),
        }))
    }

    fn describe(&self, _admin: &AdminSettings) -> String {
        if self.url.is_empty() {
            format!(
                "metrics.json.stable_url = {:?}, metrics.json.canary_url = {:?}",
                self.stable_url, self.canary_url
            )
        } else {
            format!("metrics.json.url = {:?}", self.url)
        }
    }

    fn counts(&self) -> Counts {
        self.counts
    }
}
