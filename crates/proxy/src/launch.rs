//! Instances ship starts itself (`[[proxy.instances]]` with a `command`): started through the
//! shell, stopped when ship stops, and ready once their address accepts connections.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running instance; dropping it kills the process.
pub struct Launched {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

/// Runs `command` with `sh -c 'exec …'` (so the pid is the instance's own, not a shell's, and
/// its memory and CPU are the instance's) and waits until `addr` accepts a connection.
pub async fn launch(
    command: &str,
    addr: SocketAddr,
    ready_within: Duration,
) -> Result<Launched, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("`{command}` could not start: {e}"))?;
    let pid = child
        .id()
        .ok_or_else(|| format!("`{command}` exited at once"))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!(
                "`{command}` exited ({status}) before {addr} accepted connections"
            ));
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(Launched { child, pid, addr });
        }
        if started.elapsed() > ready_within {
            return Err(format!(
                "`{command}` started but {addr} accepted no connection within {ready_within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Launched {
    /// Asks the instance to stop (SIGTERM) and waits up to `grace` before killing it.
    pub async fn stop(mut self, grace: Duration) {
        // SAFETY: kill(2) with a pid we started and still own (the Child has not been reaped).
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
