//! The builtin router: ship's own proxy (`ship proxy`), its weight set over the admin API.
//! One proxy is `[proxy]`; `[router.builtin] fleet` lists several, driven as a fleet.

mod config;
pub use config::BuiltinRouterCfg;

use crate::admin::{AdminClient, Method};
use crate::{ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;

/// Sets the weight of ship's proxy.
pub struct BuiltinRouter {
    /// The proxy's admin API.
    pub admin: AdminClient,
}

impl BuiltinRouter {
    async fn put(&self, weight: u8) -> Result<RouterOutput, ProviderError> {
        let err = |e: ProviderError| e.by("builtin router");
        let v = self
            .admin
            .call(
                Method::PUT,
                "/weight",
                Some(format!("{{\"weight\": {weight}}}")),
            )
            .await
            .map_err(err)?;
        match v.get("weight").and_then(|w| w.as_u64()) {
            Some(w) if w == u64::from(weight) => Ok(RouterOutput::new(format!("proxy weight {w}"))),
            other => Err(err(ProviderError::bad_answer(format!(
                "asked for weight {weight}, the proxy reports {other:?}"
            )))),
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
            .call(Method::GET, "/state", None)
            .await
            .map_err(|e| e.by("builtin router"))?;
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
