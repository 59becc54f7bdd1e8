//! `[metrics.prometheus]`: the server, its authentication, how one version's series are
//! selected, and queries by metric name over the presets.

use super::{presets, PrometheusSource, Query, Reduce};
use crate::cfg::{auth_cfg, check_auth, check_url, AdminSettings, BuildContext, Problems};
use crate::metrics::SourceCfg;
use crate::{MetricSource, ProviderError};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;

auth_cfg! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    /// `[metrics.prometheus]`.
    pub struct PrometheusCfg {
        /// The Prometheus server (http or https).
        pub url: String = "http://127.0.0.1:9090".into(),
        /// A query without an answer in this time is an error.
        pub timeout: Dur = Dur::from_secs(10),
        ..auth,
        /// The label selector of one version's series; `{{selector}}` in queries.
        pub selector: String = r#"job="{{service}}",version="{{version}}""#.into(),
        /// `{{version}}` for the stable version.
        pub stable_version: String = "stable".into(),
        /// `{{version}}` for the new version.
        pub canary_version: String = "canary".into(),
        /// `{{instance}}` (a regex over `instance`) for the stable version.
        pub stable_instances: String = ".*".into(),
        /// `{{instance}}` for the new version.
        pub canary_instances: String = ".*".into(),
        /// Queries by metric name, over the presets (`requests`, `errors`, `slow`, `slow_target`,
        /// `error_rate`, `latency_p99`, `failed_instances`).
        pub queries: BTreeMap<String, PromQueryCfg> = BTreeMap::new(),
        /// The upper bounds of the services' `http_request_duration_seconds` buckets, in seconds:
        /// the slow-request counts interpolate between them as `histogram_quantile` does.
        pub buckets: Vec<f64> = super::DEFAULT_BUCKETS.to_vec(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[metrics.prometheus.queries.NAME]`: one metric's query.
pub struct PromQueryCfg {
    /// The PromQL template.
    pub query: String,
    /// How many samples stand behind the value (e.g. requests in the window).
    #[serde(default)]
    pub samples: String,
    /// A range query over this much time before now, instead of an instant query.
    #[serde(default)]
    pub range: Option<Dur>,
    #[serde(default = "default_step")]
    /// The range query's resolution.
    pub step: Dur,
    /// How a range becomes one value.
    #[serde(default = "default_reduce")]
    pub reduce: Reduce,
}

fn default_step() -> Dur {
    Dur::from_secs(15)
}

fn default_reduce() -> Reduce {
    Reduce::Max
}

impl SourceCfg for PrometheusCfg {
    fn check(&self, p: &mut Problems) {
        check_url(p, &self.url);
        check_auth(p, self);
        let b = &self.buckets;
        if b.is_empty()
            || b.iter().any(|x| !x.is_finite() || *x <= 0.0)
            || b.windows(2).any(|w| w[0] >= w[1])
        {
            p.at(
                &["buckets"],
                format!("metrics.prometheus.buckets {b:?}: the histogram's bucket bounds in seconds, increasing (the +Inf bucket is implied)"),
            );
        }
        for (name, q) in &self.queries {
            let at = ["queries", name.as_str()];
            if q.query.trim().is_empty() {
                p.at(
                    &[&at[..], &["query"]].concat(),
                    format!("metrics.prometheus.queries.{name}.query is empty"),
                );
            }
            if matches!(name.as_str(), "error_rate" | "latency_p99") && q.samples.trim().is_empty()
            {
                p.at(&[&at[..], &["samples"]].concat(), format!("metrics.prometheus.queries.{name}.samples: the {name} gauge needs a sample count (e.g. requests in the window) to tell data from noise"));
            }
            if q.step.0.is_zero() {
                p.at(
                    &[&at[..], &["step"]].concat(),
                    format!("metrics.prometheus.queries.{name}.step: greater than 0"),
                );
            }
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn MetricSource>, ProviderError> {
        Ok(Box::new(self.source(cx)?))
    }

    fn describe(&self, _admin: &AdminSettings) -> String {
        format!("metrics.prometheus.url = {:?}", self.url)
    }

    fn outcomes(&self) -> bool {
        true
    }
}

impl PrometheusCfg {
    /// The source this table configures.
    pub fn source(&self, cx: &BuildContext) -> Result<PrometheusSource, ProviderError> {
        let mut queries = presets();
        for (name, q) in &self.queries {
            let samples = q.samples.trim();
            queries.insert(
                name.clone(),
                Query {
                    query: q.query.clone(),
                    samples: (!samples.is_empty()).then(|| samples.to_string()),
                    range: q.range.map(|r| (r.0, q.step.0, q.reduce)),
                },
            );
        }
        let pair = |stable: &str, canary: &str| {
            BTreeMap::from([
                ("stable".to_string(), stable.to_string()),
                ("canary".to_string(), canary.to_string()),
            ])
        };
        Ok(PrometheusSource {
            http: cx.http("metrics.prometheus", self, self.timeout)?,
            base: self.url.clone(),
            selector: self.selector.clone(),
            versions: pair(&self.stable_version, &self.canary_version),
            instances: pair(&self.stable_instances, &self.canary_instances),
            queries,
            buckets: self.buckets.clone(),
        })
    }
}
