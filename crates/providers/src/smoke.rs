//! Smoke tests for post-deployment validation: an HTTP request whose answer must have a
//! status, body text or JSON value, within a latency bound — or a command that must exit 0.

use crate::runner::Runner;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
/// What a smoke test does.
pub enum SmokeKind {
    /// An HTTP request and what its answer must be.
    Http {
        /// The method (`GET`, …).
        method: String,
        /// The URL.
        url: String,
        /// Request headers.
        headers: BTreeMap<String, String>,
        /// The request body.
        body: String,
        /// The status the answer must have.
        status: u16,
        /// Text the answer's body must contain ("": anything).
        body_contains: String,
        /// (RFC 6901 pointer, expected value)
        json: Option<(String, Value)>,
        /// The longest the answer may take.
        max_latency: Option<Duration>,
    },
    /// A command that must exit 0.
    Command(String),
}

#[derive(Debug, Clone)]
/// One `[[smoke]]` test.
pub struct SmokeTest {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: SmokeKind,
    /// How long it may take.
    pub timeout: Duration,
    /// Whether it exercises what users see.
    pub user_facing: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// How a smoke test went.
pub struct SmokeResult {
    /// Its name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Whether it exercises what users see.
    pub user_facing: bool,
    /// How long it took.
    pub millis: u64,
    /// What happened, for the record.
    pub detail: String,
    /// It could not run for the controller's own resource trouble (no file descriptor, no
    /// memory, no process): it says nothing about the release. Absent (false) in records made
    /// before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
}

/// Why a smoke test did not pass, and whether it was the controller's own trouble.
struct Failed {
    detail: String,
    local: bool,
}

impl Failed {
    /// A failure of a call, local when `e`'s chain says so ([`crate::local`]).
    fn new(detail: String, e: &(dyn std::error::Error + 'static)) -> Failed {
        Failed {
            detail,
            local: crate::local::chain_is_local(e),
        }
    }
}

impl From<String> for Failed {
    fn from(detail: String) -> Failed {
        Failed {
            detail,
            local: false,
        }
    }
}

impl SmokeTest {
    /// Runs the test (a command in `runner_dir`).
    pub async fn run(&self, runner_dir: &std::path::Path) -> SmokeResult {
        let start = Instant::now();
        let outcome = match &self.kind {
            SmokeKind::Command(cmd) => {
                let runner = Runner {
                    dir: runner_dir.to_path_buf(),
                    timeout: self.timeout,
                };
                runner
                    .run(cmd)
                    .await
                    .map(|_| format!("`{cmd}` exited 0"))
                    .map_err(|e| Failed {
                        local: e.is_local(),
                        detail: e.to_string(),
                    })
            }
            SmokeKind::Http { .. } => self.http().await,
        };
        let millis = start.elapsed().as_millis() as u64;
        let (ok, detail, local) = match outcome {
            Ok(d) => (true, d, false),
            Err(f) => (false, f.detail, f.local),
        };
        SmokeResult {
            name: self.name.clone(),
            ok,
            user_facing: self.user_facing,
            millis,
            detail,
            local,
        }
    }

    async fn http(&self) -> Result<String, Failed> {
        let SmokeKind::Http {
            method,
            url,
            headers,
            body,
            status,
            body_contains,
            json,
            max_latency,
        } = &self.kind
        else {
            return Err(Failed::from("not an HTTP smoke test".to_string()));
        };
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| Failed::new(e.to_string(), &e))?;
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("{method:?} is not an HTTP method"))?;
        let mut req = client.request(m, url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if !body.is_empty() {
            req = req.body(body.clone());
        }
        let start = Instant::now();
        let resp = req
            .send()
            .await
            .map_err(|e| Failed::new(format!("{method} {url}: no answer ({e})"), &e))?;
        let got = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Failed::new(format!("{method} {url}: body unreadable ({e})"), &e))?;
        let took = start.elapsed();
        if got != *status {
            return Err(format!(
                "{method} {url} answered {got}, expected {status}: {}",
                text.trim().chars().take(120).collect::<String>()
            )
            .into());
        }
        if !body_contains.is_empty() && !text.contains(body_contains.as_str()) {
            return Err(
                format!("{method} {url}: the body does not contain {body_contains:?}").into(),
            );
        }
        if let Some((pointer, want)) = json {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{method} {url}: the body is not JSON ({e})"))?;
            match v.pointer(pointer) {
                Some(have) if have == want => {}
                Some(have) => {
                    return Err(
                        format!("{method} {url}: {pointer} is {have}, expected {want}").into(),
                    )
                }
                None => return Err(format!("{method} {url}: no value at {pointer}").into()),
            }
        }
        if let Some(max) = max_latency {
            if took > *max {
                return Err(format!(
                    "{method} {url} took {} ms, more than {} ms",
                    took.as_millis(),
                    max.as_millis()
                )
                .into());
            }
        }
        Ok(format!("{method} {url} → {got} in {} ms", took.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-route server answering every request with `status` and `body`.
    async fn serve(status: u16, body: &'static str, delay: Duration) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/x")
    }

    fn http(url: &str) -> SmokeKind {
        SmokeKind::Http {
            method: "GET".into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: String::new(),
            status: 200,
            body_contains: String::new(),
            json: None,
            max_latency: None,
        }
    }

    fn test(kind: SmokeKind) -> SmokeTest {
        SmokeTest {
            name: "t".into(),
            kind,
            timeout: Duration::from_secs(5),
            user_facing: true,
        }
    }

    #[tokio::test]
    async fn http_expectations_pass_and_fail_with_the_reason() {
        let dir = std::env::temp_dir();
        let url = serve(200, r#"{"version":"v2","ok":true}"#, Duration::ZERO).await;
        assert!(test(http(&url)).run(&dir).await.ok);
        let mut k = http(&url);
        if let SmokeKind::Http {
            json,
            body_contains,
            ..
        } = &mut k
        {
            *json = Some(("/version".into(), Value::from("v2")));
            *body_contains = "ok".into();
        }
        assert!(test(k.clone()).run(&dir).await.ok);
        if let SmokeKind::Http { json, .. } = &mut k {
            *json = Some(("/version".into(), Value::from("v1")));
        }
        let r = test(k).run(&dir).await;
        assert!(
            !r.ok && r.detail.contains("/version is \"v2\", expected \"v1\""),
            "{}",
            r.detail
        );

        let broken = serve(500, "boom", Duration::ZERO).await;
        let r = test(http(&broken)).run(&dir).await;
        assert!(
            !r.ok && r.detail.contains("answered 500, expected 200"),
            "{}",
            r.detail
        );

        let slow = serve(200, "{}", Duration::from_millis(300)).await;
        let mut k = http(&slow);
        if let SmokeKind::Http { max_latency, .. } = &mut k {
            *max_latency = Some(Duration::from_millis(100));
        }
        let r = test(k).run(&dir).await;
        assert!(
            !r.ok && r.detail.contains("more than 100 ms"),
            "{}",
            r.detail
        );
    }

    #[tokio::test]
    async fn commands_pass_on_exit_zero_and_dead_servers_fail() {
        let dir = std::env::temp_dir();
        assert!(test(SmokeKind::Command("true".into())).run(&dir).await.ok);
        assert!(!test(SmokeKind::Command("exit 3".into())).run(&dir).await.ok);
        let r = test(http("http://127.0.0.1:9/")).run(&dir).await;
        assert!(!r.ok && r.detail.contains("no answer"), "{}", r.detail);
        // A dead server is the release's trouble, not the controller's: counted.
        assert!(!r.local);
        // Written as before when not local, so recorded results read and compare the same.
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("local"), "{text}");
    }

    /// A shell that cannot start for want of file descriptors is the controller's trouble:
    /// the smoke test says so instead of counting as failed. In a child process (this test
    /// binary again, running only this test), so no other test shares the shortage.
    #[test]
    fn a_smoke_test_that_cannot_start_for_want_of_descriptors_is_local() {
        let dir = std::env::temp_dir();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let smoke = test(SmokeKind::Command("true".into()));
        if !crate::starved::in_child() {
            crate::starved::run_in_child(
                "smoke::tests::a_smoke_test_that_cannot_start_for_want_of_descriptors_is_local",
            );
            return;
        }
        crate::starved::lower_limit();
        let held = crate::starved::use_every_descriptor();
        let r = rt.block_on(smoke.run(&dir));
        assert!(!r.ok && r.local, "{r:?}");
        drop(held);
    }
}
