//! The client of ship's own proxy's admin API (`shiploop-proxy`'s `admin` module), with its
//! bearer token: what the builtin router and the builtin metric source talk to.

use crate::http::{Auth, Http};
use crate::ProviderError;
use serde_json::Value;
use std::time::Duration;

pub use reqwest::Method;

#[derive(Debug, Clone)]
/// A client of the admin API, with its bearer token.
pub struct AdminClient {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    http: Http,
}

impl AdminClient {
    /// A client of the API at `base` (`http://host:port`) sending `token`; calls time out after `timeout`.
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<AdminClient, ProviderError> {
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            http: Http::new(timeout, Auth::Bearer(token.to_string()), None)?,
        })
    }

    /// One admin API call; the JSON of a 2xx answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, ProviderError> {
        self.http
            .call_json(method, &format!("{}{path}", self.base), body)
            .await
    }
}
