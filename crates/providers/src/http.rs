//! The HTTP client the integrations share (Prometheus, Alertmanager, webhooks): rustls for
//! TLS, an optional extra CA, bearer or basic authentication, one timeout for the whole call.

use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { user: String, password: String },
}

#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    auth: Auth,
}

impl Http {
    /// `ca_pem`: a PEM bundle trusted in addition to the built-in roots (a private CA).
    pub fn new(timeout: Duration, auth: Auth, ca_pem: Option<&[u8]>) -> Result<Http, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("shiploop/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("CA file: not a PEM certificate bundle ({e})"))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Http {
            client: b.build().map_err(|e| e.to_string())?,
            auth,
        })
    }

    fn authorise(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::Basic { user, password } => r.basic_auth(user, Some(password)),
        }
    }

    /// GET with query parameters; the JSON body of any answer (Prometheus puts its errors in
    /// JSON with a 4xx status), or an error naming the URL.
    pub async fn get_json(&self, url: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let resp = self
            .authorise(self.client.get(url).query(params))
            .send()
            .await
            .map_err(|e| describe(url, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| describe(url, &e))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => Ok(v),
            Err(_) if !status.is_success() => Err(format!(
                "{url} answered {status}: {}",
                text.trim().chars().take(200).collect::<String>()
            )),
            Err(e) => Err(format!("{url}: not JSON ({e})")),
        }
    }

    /// POSTs `body` with extra headers; Ok(status) for any answer.
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(String, String)],
    ) -> Result<u16, String> {
        let mut r = self.authorise(self.client.post(url)).body(body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        let resp = r.send().await.map_err(|e| describe(url, &e))?;
        Ok(resp.status().as_u16())
    }
}

/// reqwest's errors name the kind but hide the cause; the cause is what an operator needs.
fn describe(url: &str, e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        format!("{url}: no answer in time")
    } else if e.is_connect() {
        format!("{url}: cannot connect")
    } else {
        format!("{url}: {e}")
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}
