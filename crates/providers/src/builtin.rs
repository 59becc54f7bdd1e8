//! The builtin router and metric source: ship's own proxy, through its admin API
//! (`shiploop-proxy`'s `admin` module) with a bearer token.

use crate::command::parse_measurements;
use crate::{
    MetricContext, MetricSource, ProviderError, RouteContext, RouterOutput, TrafficRouter,
};
use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::time::Duration;

#[derive(Clone)]
pub struct AdminClient {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub token: String,
    pub timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    pub fn new(base: &str, token: &str, timeout: Duration) -> AdminClient {
        AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn call(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<serde_json::Value, String> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{}{path}: {e}", self.base))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let text = String::from_utf8_lossy(&bytes).to_string();
            if !status.is_success() {
                return Err(format!(
                    "{}{path} answered {status}: {}",
                    self.base,
                    text.trim()
                ));
            }
            serde_json::from_str(&text).map_err(|e| format!("{}{path}: not JSON ({e})", self.base))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{}{path}: no answer within {:?}",
                self.base, self.timeout
            )),
        }
    }
}

pub struct BuiltinRouter {
    pub admin: AdminClient,
}

impl BuiltinRouter {
    async fn put(&self, weight: u8) -> Result<RouterOutput, ProviderError> {
        let v = self
            .admin
            .call(
                hyper::Method::PUT,
                "/weight",
                Some(format!("{{\"weight\": {weight}}}")),
            )
            .await
            .map_err(|message| ProviderError {
                provider: "builtin router".into(),
                message,
            })?;
        match v.get("weight").and_then(|w| w.as_u64()) {
            Some(w) if w == u64::from(weight) => Ok(RouterOutput {
                detail: format!("proxy weight {w}"),
            }),
            other => Err(ProviderError {
                provider: "builtin router".into(),
                message: format!("asked for weight {weight}, the proxy reports {other:?}"),
            }),
        }
    }
}

#[async_trait]
impl TrafficRouter for BuiltinRouter {
    fn name(&self) -> &str {
        "builtin"
    }
    async fn set_weight(
        &self,
        _ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.put(weight).await
    }
    async fn effective_weight(&self, _ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        let v = self
            .admin
            .call(hyper::Method::GET, "/state", None)
            .await
            .map_err(|message| ProviderError {
                provider: "builtin router".into(),
                message,
            })?;
        Ok(v.get("weight")
            .and_then(|w| w.as_u64())
            .map(|w| w.min(100) as u8))
    }
    async fn promote(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.put(100).await
    }
    async fn roll_back(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.put(0).await
    }
}

pub struct BuiltinSource {
    pub admin: AdminClient,
}

#[async_trait]
impl MetricSource for BuiltinSource {
    fn name(&self) -> &str {
        "builtin"
    }
    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let mut path = format!("/measure?window={}", ctx.window_secs.max(1));
        if let Some(s) = ctx.slow_secs {
            path.push_str(&format!("&slow={s}"));
        }
        if let Some(s) = ctx.target_secs {
            path.push_str(&format!("&target={s}"));
        }
        match self.admin.call(hyper::Method::GET, &path, None).await {
            Ok(v) => parse_measurements(keys, &v.to_string()),
            Err(e) => keys
                .iter()
                .map(|k| (k.clone(), Measurement::Error { message: e.clone() }))
                .collect(),
        }
    }
}
