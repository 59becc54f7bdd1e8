//! An HTTP probe: GET a URL and say whether it answered with a 2xx status in time. Used for
//! data-integrity checks that a service exposes as an endpoint.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Ok(status) for any answer (the caller decides what passes); Err for no answer at all.
pub async fn get(url: &str, timeout: Duration) -> Result<u16, String> {
    fetch(url, timeout).await.map(|(status, _, _)| status)
}

/// (status, body) of a GET.
pub async fn get_body(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    fetch(url, timeout)
        .await
        .map(|(status, _, body)| (status, body))
}

/// (status, body) of a GET with `Host: host` (name-based virtual hosts on one port).
pub async fn get_body_from(
    url: &str,
    host: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    fetch_with(url, Some(host), timeout)
        .await
        .map(|(status, _, body)| (status, body))
}

/// The value of response header `name` (None when absent).
pub async fn get_header(
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let (_, headers, _) = fetch(url, timeout).await?;
    Ok(headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string))
}

async fn fetch(url: &str, timeout: Duration) -> Result<(u16, hyper::HeaderMap, String), String> {
    fetch_with(url, None, timeout).await
}

async fn fetch_with(
    url: &str,
    host: Option<&str>,
    timeout: Duration,
) -> Result<(u16, hyper::HeaderMap, String), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url}: https probes are not supported yet; use a command such as `curl -fsS {url}`"
            ))
        }
        _ => return Err(format!("{url:?}: only http:// URLs can be probed")),
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(uri).header("user-agent", "shiploop-probe");
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let fut = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok::<_, String>((status, headers, body))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("GET {url}: no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve_once(status: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let body = "ok";
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}/integrity")
    }

    #[tokio::test]
    async fn answers_statuses_and_failures() {
        let url = serve_once("200 OK").await;
        assert_eq!(get(&url, Duration::from_secs(5)).await, Ok(200));
        let url = serve_once("503 Service Unavailable").await;
        assert_eq!(get(&url, Duration::from_secs(5)).await, Ok(503));
        // Nothing listens: an error, not a status.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = dead.local_addr().unwrap();
        drop(dead);
        assert!(get(&format!("http://{addr}/"), Duration::from_secs(5))
            .await
            .is_err());
        assert!(get("https://127.0.0.1/", Duration::from_secs(1))
            .await
            .unwrap_err()
            .contains("curl"));
    }
}
