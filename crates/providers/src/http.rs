//! The one HTTP client of the providers (Prometheus, Alertmanager, the JSON source, ship's
//! proxy's admin API, probes, webhooks): reqwest with rustls, an optional extra CA, bearer or
//! basic authentication, one timeout for the whole call. Errors carry a kind (unreachable,
//! timeout, bad answer) and a message naming the URL.

use crate::{ErrorKind, ProviderError};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
/// How a call authenticates.
pub enum Auth {
    /// No authentication.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// Basic authentication.
    Basic {
        /// The user.
        user: String,
        /// Its password (from the environment, never the file).
        password: String,
    },
}

#[derive(Debug, Clone)]
/// A client with its timeout, authentication and trusted CAs.
pub struct Http {
    client: reqwest::Client,
    auth: Auth,
}

/// What a call answered: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Http {
    /// `ca_pem`: a PEM bundle trusted in addition to the built-in roots (a private CA).
    pub fn new(
        timeout: Duration,
        auth: Auth,
        ca_pem: Option<&[u8]>,
    ) -> Result<Http, ProviderError> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("shiploop/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ProviderError::config(format!("CA file: not a PEM certificate bundle ({e})"))
            })?;
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Http {
            client: b
                .build()
                .map_err(|e| ProviderError::config(e.to_string()))?,
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
    pub async fn get_json(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ProviderError> {
        let a = self
            .send(url, self.authorise(self.client.get(url).query(params)))
            .await?;
        json_of(url, &a, false)
    }

    /// A request with a JSON body (or none); the JSON of a 2xx answer, else an error naming
    /// the URL and the status.
    pub async fn call_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<Value, ProviderError> {
        let mut r = self.authorise(self.client.request(method, url));
        if let Some(body) = body {
            r = r.header("content-type", "application/json").body(body);
        }
        let a = self.send(url, r).await?;
        json_of(url, &a, true)
    }

    /// POSTs `body` with extra headers; Ok(status) for any answer.
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(String, String)],
    ) -> Result<u16, ProviderError> {
        let mut r = self.authorise(self.client.post(url)).body(body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        Ok(self.send(url, r).await?.status)
    }

    async fn send(&self, url: &str, r: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
        let resp = r.send().await.map_err(|e| describe(url, &e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| describe(url, &e))?;
        Ok(Answer { status, body })
    }
}

/// The JSON of an answer. `strict`: a non-2xx status is an error even with a JSON body.
fn json_of(url: &str, a: &Answer, strict: bool) -> Result<Value, ProviderError> {
    let ok = (200..300).contains(&a.status);
    let refused = || {
        ProviderError::bad_answer(format!(
            "{url} answered {}: {}",
            status_text(a.status),
            a.body.trim().chars().take(200).collect::<String>()
        ))
    };
    if strict && !ok {
        return Err(refused());
    }
    match serde_json::from_str::<Value>(&a.body) {
        Ok(v) => Ok(v),
        Err(_) if !ok => Err(refused()),
        Err(e) => Err(ProviderError::bad_answer(format!("{url}: not JSON ({e})"))),
    }
}

/// "401 Unauthorized", as the status line says it.
fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| status.to_string())
}

/// reqwest's errors name the kind but hide the cause; the cause is what an operator needs.
fn describe(url: &str, e: &reqwest::Error) -> ProviderError {
    let (kind, mut msg) = if crate::local::chain_is_local(e) {
        // The controller's own trouble (no descriptor for a socket): not the server's.
        (
            ErrorKind::Local,
            format!("{url}: this controller is out of resources"),
        )
    } else if e.is_timeout() {
        (ErrorKind::Timeout, format!("{url}: no answer in time"))
    } else if e.is_connect() {
        (ErrorKind::Unreachable, format!("{url}: cannot connect"))
    } else if e.is_builder() {
        (ErrorKind::Config, format!("{url}: {e}"))
    } else {
        (ErrorKind::BadAnswer, format!("{url}: {e}"))
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    ProviderError::new(kind, msg)
}

/// The client for probes: no authentication, no redirects followed (a redirect is an
/// answer), and a new connection for every request (a kept-alive one would keep asking the
/// same server process, which nginx's settling check must not).
fn probe_client() -> Result<&'static reqwest::Client, ProviderError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .user_agent("shiploop-probe")
        .build()
        .map_err(|e| ProviderError::config(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| c))
}

/// A probe's GET: status, headers and body, or why there was no answer. Probes are http://
/// only: they check services on the local network, and an https:// one is better said as a
/// command (curl), which names its CA and client certificate itself.
async fn probe(
    url: &str,
    host: Option<&str>,
    timeout: Duration,
) -> Result<(u16, reqwest::header::HeaderMap, String), ProviderError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ProviderError::config(format!("{url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "http" => {}
        "https" => {
            return Err(ProviderError::new(
                ErrorKind::Unsupported,
                format!("{url}: https probes are not supported yet; use a command such as `curl -fsS {url}`"),
            ))
        }
        _ => {
            return Err(ProviderError::config(format!(
                "{url:?}: only http:// URLs can be probed"
            )))
        }
    }
    let mut req = probe_client()?.get(parsed).timeout(timeout);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let fail = |e: reqwest::Error| {
        if e.is_timeout() {
            ProviderError::new(
                ErrorKind::Timeout,
                format!("GET {url}: no answer within {timeout:?}"),
            )
        } else {
            let kind = if crate::local::chain_is_local(&e) {
                ErrorKind::Local
            } else if e.is_connect() {
                ErrorKind::Unreachable
            } else {
                ErrorKind::BadAnswer
            };
            describe(url, &e).context("GET").with_kind(kind)
        }
    };
    let resp = req.send().await.map_err(fail)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Ok((status, headers, body))
}

impl ProviderError {
    fn with_kind(mut self, kind: ErrorKind) -> ProviderError {
        self.kind = kind;
        self
    }
}

/// Ok(status) for any answer (the caller decides what passes); Err for no answer at all.
pub async fn get(url: &str, timeout: Duration) -> Result<u16, ProviderError> {
    probe(url, None, timeout).await.map(|(status, _, _)| status)
}

/// (status, body) of a GET with `Host: host` (name-based virtual hosts on one port).
pub async fn get_body_from(
    url: &str,
    host: &str,
    timeout: Duration,
) -> Result<Answer, ProviderError> {
    probe(url, Some(host), timeout)
        .await
        .map(|(status, _, body)| Answer { status, body })
}

/// The value of response header `name` (None when absent).
pub async fn get_header(
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<Option<String>, ProviderError> {
    let (_, headers, _) = probe(url, None, timeout).await?;
    Ok(headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers `count` connections with `status` and `body`, each
    /// after reading the request; its base URL.
    pub(crate) async fn serve(status: &'static str, body: String, count: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..count {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn answers_statuses_and_failures() {
        let url = serve("200 OK", "ok".into(), 1).await;
        assert_eq!(
            get(&format!("{url}/integrity"), Duration::from_secs(5)).await,
            Ok(200)
        );
        let url = serve("503 Service Unavailable", "ok".into(), 1).await;
        assert_eq!(
            get(&format!("{url}/integrity"), Duration::from_secs(5)).await,
            Ok(503)
        );
        // A redirect is an answer, not followed.
        let url = serve("302 Found", String::new(), 1).await;
        assert_eq!(get(&url, Duration::from_secs(5)).await, Ok(302));
        // Nothing listens: an error, not a status.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = dead.local_addr().unwrap();
        drop(dead);
        let e = get(&format!("http://{addr}/"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(get("https://127.0.0.1/", Duration::from_secs(1))
            .await
            .unwrap_err()
            .message
            .contains("curl"));
    }

    /// A connection refused is the server's trouble; one the controller cannot even open a
    /// socket for (no file descriptor left) is the controller's own. The descriptors run out in
    /// a child process (this test binary again, running only this test), so no other test
    /// shares the shortage.
    #[cfg(unix)]
    #[test]
    fn out_of_descriptors_is_local_and_refused_is_unreachable() {
        if crate::starved::in_child() {
            return run_out_of_descriptors();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = dead.local_addr().unwrap();
            drop(dead);
            let http = Http::new(Duration::from_secs(5), Auth::None, None).unwrap();
            let e = http
                .call_json(reqwest::Method::GET, &format!("http://{addr}/"), None)
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
            assert!(!e.is_local());
        });
        crate::starved::run_in_child(
            "http::tests::out_of_descriptors_is_local_and_refused_is_unreachable",
        );
    }

    /// In the child: a listener is up, then every file descriptor is used (under a low
    /// limit, so it is quick), and a call to the listener cannot open its socket.
    #[cfg(unix)]
    fn run_out_of_descriptors() {
        crate::starved::lower_limit();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let http = Http::new(Duration::from_secs(5), Auth::None, None).unwrap();
            let held = crate::starved::use_every_descriptor();
            let e = http
                .call_json(reqwest::Method::GET, &url, None)
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Local, "{e}");
            assert!(e.is_local());
            assert!(e.measurement().is_local());
            drop(held);
        });
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(conn);
        });
        let e = get(&format!("http://{addr}/"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        held.abort();
    }

    #[tokio::test]
    async fn strict_json_calls_refuse_an_error_status() {
        let http = Http::new(Duration::from_secs(5), Auth::None, None).unwrap();
        let url = serve("401 Unauthorized", r#"{"error":"no"}"#.into(), 2).await;
        let e = http
            .call_json(reqwest::Method::GET, &url, None)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadAnswer);
        assert!(e.message.contains("401"), "{e}");
        // get_json keeps an error status's JSON body: Prometheus explains itself in it.
        assert_eq!(
            http.get_json(&url, &[]).await.unwrap(),
            serde_json::json!({"error": "no"})
        );
    }
}
