//! The HTTP server's accept loop: hyper's HTTP/1 with a header read timeout (axum::serve has
//! none, so a client that sends half a request head, or nothing, kept its connection forever),
//! a deadline for request bodies, a cap on open connections, and a graceful stop.

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// What one client may hold, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For a request's head; also how long a keep-alive connection may idle.
    pub header_read_timeout: Duration,
    /// For a request's body, from its head.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `stop` turns true, then waits for the open connections to
/// finish their requests (live streams end on `stop` too). Dropping the future cuts them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let request_timeout = limits.request_timeout;
    let app = app.layer(axum::middleware::map_request(
        move |req: Request| async move { crate::body::with_deadline(req, request_timeout) },
    ));
    // At the cap the loop stops accepting: new clients wait in the kernel's listen queue
    // (no descriptor of ours) until a connection closes, rather than being cut at once —
    // the timeouts above free the places slow clients hold.
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // server goes on, accepting again shortly.
                eprintln!("warning: accept on {:?}: {e}", listener.local_addr().ok());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The timer starts when the server waits for a request head, so it also closes a
        // keep-alive connection idle for as long; a response being written (a live stream)
        // is not waiting for one.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_stalled_body_is_answered_408_after_the_request_timeout() {
        let app = Router::new().route(
            "/",
            axum::routing::post(|req: Request| async {
                match crate::body::buffered(req).await {
                    Ok(_) => "read".into_response(),
                    Err(p) => p.into_response(),
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_tx, rx) = watch::channel(false);
        let limits = Limits {
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_millis(300),
            max_connections: 4,
        };
        tokio::spawn(serve(listener, app, limits, rx));
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
            .await
            .unwrap();
        let mut out = vec![];
        tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut out))
            .await
            .expect("no answer")
            .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    }
}
