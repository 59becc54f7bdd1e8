//! Free loopback ports and a minimal blocking HTTP/1.1 client, enough to poke the servers the
//! tests start (no TLS, no redirects, one request a connection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A loopback address no one listens on now, for the caller's server to bind next.
///
/// Not the kernel's pick (binding port 0): that comes from the ephemeral range, where every
/// outgoing connection of every test also takes its source port, and the kernel repeats
/// itself (2,000 picks in a row here repeated 136 ports): two servers of one test, or of two
/// tests running at once, were given one port, and one answered for the other. So: ports
/// 20000–32767, below the ephemeral range (no outgoing connection takes one), each claimed
/// by this test run with a marker file created exclusively in a shared folder, so no other
/// test process is given it; claims older than an hour are from runs that ended.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 32_768 - LOW;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join("shiploop-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    // Each process starts somewhere else in the range, and walks it with a stride prime to
    // its length.
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..SPAN {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + seed.wrapping_add(k.wrapping_mul(7_919)) % SPAN;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if !claim(&dir.join(port.to_string())) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().expect("a bound listener has an address");
        }
    }
    // Every port of the range claimed or taken: the kernel's pick, as a last resort.
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("a bound listener has an address")
}

/// Claims a port for this process: true when its marker was created here, or was older than
/// an hour (a claim of a run that ended) and is now this process's. A stale marker is renamed
/// away before it is made again: only one of two processes that both found it stale can
/// rename it, where both could have removed it.
fn claim(marker: &std::path::Path) -> bool {
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(marker)
            .is_ok()
    };
    if create() {
        return true;
    }
    let stale = std::fs::metadata(marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > Duration::from_secs(3600));
    let aside = marker.with_extension(format!("stale-{}", std::process::id()));
    stale && std::fs::rename(marker, &aside).is_ok() && {
        let _ = std::fs::remove_file(&aside);
        create()
    }
}

/// `GET url`: (status, body).
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    http("GET", url, None)
}

/// `method url` with a JSON `body`: (status, body). Reads for at most 10 s.
pub fn http(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_claimed_once_until_its_claim_is_an_hour_old() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("20001");
        assert!(claim(&marker));
        assert!(!claim(&marker), "claimed already");
        let old = std::time::SystemTime::now() - Duration::from_secs(3601);
        std::fs::File::options()
            .write(true)
            .open(&marker)
            .and_then(|f| f.set_modified(old))
            .expect("age the marker");
        assert!(claim(&marker), "a claim of a run that ended");
        assert!(!claim(&marker), "claimed again, now by this run");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "the stale marker was not left aside");
    }

    #[test]
    fn two_addresses_are_never_the_same() {
        let a: Vec<SocketAddr> = (0..50).map(|_| free_addr()).collect();
        let mut ports: Vec<u16> = a.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 50);
        assert!(
            ports.iter().all(|p| (20_000..32_768).contains(p)),
            "{ports:?}"
        );
    }
}
