//! The JSON metric source: services that expose their own counters as JSON over HTTP
//! (`/stats`, `/debug/vars`, an actuator endpoint). Each version's document is fetched once per
//! measurement; a key `canary/errors` is the number at the path configured for `errors` in the
//! canary's document. A missing path or `null` is no data; anything but a number (or a string
//! holding one) is an error for that key; a version whose document cannot be fetched is an
//! error for each of its keys.

mod config;
pub use config::JsonCfg;

use crate::http::Http;
use crate::metrics::all_error;
use crate::{MetricContext, MetricSource};
use async_trait::async_trait;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
/// Reads each version's counters from its JSON document.
pub struct JsonSource {
    /// The HTTP client, with the table's timeout and authentication.
    pub http: Http,
    /// The document of each version (`stable`, `canary`).
    pub urls: BTreeMap<String, String>,
    /// JSON pointers by metric name.
    pub metrics: BTreeMap<String, String>,
    /// JSON pointers of sample counts by metric name.
    pub samples: BTreeMap<String, String>,
}

/// The number at `pointer`: Ok(None) when absent or null.
fn number_at(doc: &Value, pointer: &str) -> Result<Option<f64>, String> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{s:?} is not a number")),
        Some(other) => Err(format!(
            "{} is not a number",
            other.to_string().chars().take(80).collect::<String>()
        )),
    }
}

impl JsonSource {
    /// One key of a fetched document.
    fn read(&self, doc: &Value, key: &str, metric: &str) -> Measurement {
        let Some(pointer) = self.metrics.get(metric) else {
            return Measurement::error(format!(
                "{key}: no metrics.json.metrics.{metric} in ship.toml"
            ));
        };
        let value = match number_at(doc, pointer) {
            Ok(Some(v)) => v,
            Ok(None) => return Measurement::NoData,
            Err(e) => return Measurement::error(format!("{key} at {pointer}: {e}")),
        };
        let samples = match self.samples.get(metric).map(|p| (p, number_at(doc, p))) {
            None => 1,
            Some((_, Ok(Some(n)))) if n.is_finite() && n > 0.0 => n.round() as u64,
            Some((_, Ok(_))) => 0,
            Some((p, Err(e))) => return Measurement::error(format!("{key}: samples at {p}: {e}")),
        };
        Measurement::value(value, samples)
    }
}

#[async_trait]
impl MetricSource for JsonSource {
    fn name(&self) -> &str {
        "json"
    }

    async fn measure(&self, keys: &[String], _ctx: &MetricContext) -> Observation {
        let mut out = Observation::new();
        // Keys by version, so each document is fetched once.
        let mut by_version: BTreeMap<&str, Vec<(&String, &str)>> = BTreeMap::new();
        for key in keys {
            match key.split_once('/') {
                Some((version, metric)) if self.urls.contains_key(version) => {
                    by_version.entry(version).or_default().push((key, metric))
                }
                _ => {
                    out.insert(
                        key.clone(),
                        Measurement::error(format!(
                            "{key}: the JSON source measures stable/… and canary/… keys"
                        )),
                    );
                }
            }
        }
        for (version, wanted) in by_version {
            let url = &self.urls[version];
            match self.http.call_json(reqwest::Method::GET, url, None).await {
                Ok(doc) => {
                    for (key, metric) in wanted {
                        out.insert(key.clone(), self.read(&doc, key, metric));
                    }
                }
                Err(e) => {
                    let keys: Vec<String> = wanted.iter().map(|(k, _)| (*k).clone()).collect();
                    out.extend(all_error(&keys, &e));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::config::pointer;
    use super::*;
    use crate::cfg::{AdminSettings, BuildContext, Problems};
    use crate::http::tests::serve;
    use crate::metrics::SourceCfg;

    fn ctx() -> MetricContext {
        MetricContext::window("web", "r", "canary", 5, 60)
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    /// The source `toml` configures, with `{base}` in it replaced by a test server's URL.
    fn source(toml: &str, base: &str) -> Box<dyn MetricSource> {
        let cfg: JsonCfg = toml::from_str(&toml.replace("{base}", base)).unwrap();
        let mut p = Problems::new(&["metrics", "json"]);
        cfg.check(&mut p);
        assert!(p.found.is_empty(), "{:?}", p.found);
        let admin = AdminSettings {
            addr: String::new(),
            url: String::new(),
            token_env: String::new(),
            fleet: Vec::new(),
        };
        let env = |name: &str| (name == "STATS_TOKEN").then(|| "t0ken".to_string());
        let cx = BuildContext {
            root: std::path::Path::new("."),
            service: "web",
            env: &env,
            admin: &admin,
            asker: None,
        };
        cfg.build(&cx).unwrap()
    }

    #[tokio::test]
    async fn reads_each_versions_counters_by_pointer_or_dotted_path() {
        let doc = r#"{"http": {"requests": 1200, "errors": "3", "rate": null,
                      "latency": {"p99": 0.21, "count": 180}}, "up": [1, 0]}"#;
        // One document per version: two connections.
        let base = serve("200 OK", doc.into(), 2).await;
        let src = source(
            r#"url = "{base}/stats?v={{version}}"
               [metrics]
               requests = "/http/requests"
               errors = "http.errors"
               error_rate = "http.rate"
               latency_p99 = "http.latency.p99"
               failed_instances = "up.1"
               [samples]
               latency_p99 = "/http/latency/count""#,
            &base,
        );
        let obs = src
            .measure(
                &keys(&[
                    "canary/requests",
                    "canary/errors",
                    "canary/error_rate",
                    "canary/latency_p99",
                    "stable/failed_instances",
                    "canary/cpu",
                    "alerts/critical_security",
                ]),
                &ctx(),
            )
            .await;
        assert_eq!(obs["canary/requests"], Measurement::value(1200.0, 1));
        assert_eq!(obs["canary/errors"], Measurement::value(3.0, 1));
        assert_eq!(obs["canary/error_rate"], Measurement::NoData);
        assert_eq!(obs["canary/latency_p99"], Measurement::value(0.21, 180));
        assert_eq!(obs["stable/failed_instances"], Measurement::value(0.0, 1));
        assert!(
            matches!(&obs["canary/cpu"], Measurement::Error { message, .. } if message.contains("metrics.json.metrics.cpu")),
            "{:?}",
            obs["canary/cpu"]
        );
        assert!(matches!(
            obs["alerts/critical_security"],
            Measurement::Error { .. }
        ));
    }

    #[tokio::test]
    async fn a_version_that_does_not_answer_is_an_error_for_its_keys_only() {
        let base = serve("200 OK", r#"{"requests": 7, "errors": {"x": 1}}"#.into(), 1).await;
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_url = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        let src = source(
            r#"stable_url = "{base}/stats"
               canary_url = "{dead}/stats"
               [metrics]
               requests = "requests"
               errors = "errors""#
                .replace("{dead}", &dead_url)
                .as_str(),
            &base,
        );
        let obs = src
            .measure(
                &keys(&["stable/requests", "stable/errors", "canary/requests"]),
                &ctx(),
            )
            .await;
        assert_eq!(obs["stable/requests"], Measurement::value(7.0, 1));
        assert!(
            matches!(&obs["stable/errors"], Measurement::Error { message, .. } if message.contains("not a number")),
            "{:?}",
            obs["stable/errors"]
        );
        assert!(
            matches!(&obs["canary/requests"], Measurement::Error { message, .. } if message.contains("cannot connect")),
            "{:?}",
            obs["canary/requests"]
        );
    }

    #[tokio::test]
    async fn an_error_status_is_an_error_not_data() {
        let base = serve("503 Service Unavailable", r#"{"requests": 1}"#.into(), 2).await;
        let src = source(
            r#"url = "{base}/{{version}}"
               bearer_token_env = "STATS_TOKEN"
               metrics = { requests = "/requests" }"#,
            &base,
        );
        let obs = src.measure(&keys(&["canary/requests"]), &ctx()).await;
        assert!(
            matches!(&obs["canary/requests"], Measurement::Error { message, .. } if message.contains("503")),
            "{:?}",
            obs["canary/requests"]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let cfg: JsonCfg = toml::from_str(
            r#"url = "ftp://x"
               basic_user = "u"
               [metrics]
               requests = "a..b"
               [samples]
               errors = "/e""#,
        )
        .unwrap();
        let mut p = Problems::new(&["metrics", "json"]);
        cfg.check(&mut p);
        let at: Vec<String> = p.found.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(
            at,
            [
                "metrics.json.url",
                "metrics.json.basic_user",
                "metrics.json.metrics.requests",
                "metrics.json.samples.errors",
            ],
            "{:?}",
            p.found
        );
    }

    #[test]
    fn metrics_kind_json_picks_this_table() {
        let cfg: crate::metrics::MetricsCfg = toml::from_str(
            "kind = \"json\"\n[json]\nurl = \"http://127.0.0.1:1/{{version}}\"\n[json.metrics]\nrequests = \"/r\"\n",
        )
        .unwrap();
        assert_eq!(cfg.kind, crate::metrics::MetricsKind::Json);
        assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
        assert_eq!(cfg.configured().counts(), crate::metrics::Counts::Counter);
        assert!(!cfg.configured().answers_alerts());
    }

    #[test]
    fn dotted_paths_become_pointers() {
        assert_eq!(pointer("a.b.0").as_deref(), Some("/a/b/0"));
        assert_eq!(pointer("/a/b").as_deref(), Some("/a/b"));
        assert_eq!(pointer("a/b.c").as_deref(), Some("/a~1b/c"));
        assert_eq!(pointer(""), None);
        assert_eq!(pointer("a..b"), None);
    }
}
