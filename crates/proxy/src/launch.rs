//! Instances ship starts itself (`[[proxy.instances]]` with a `command`): started through the
//! shell in a process group of their own, stopped when ship stops, and ready once their
//! address accepts connections.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running instance; dropping it kills the process (the group is stopped by [`Launched::stop`]).
pub struct Launched {
    /// The shell process ship started (or the program it `exec`s).
    pub child: Child,
    /// The process id, which is also the id of the instance's process group.
    pub pid: u32,
    /// The address the instance serves on.
    pub addr: SocketAddr,
}

/// A command the shell would run as one program: `exec` can replace the shell with it, so
/// the instance is the process ship watches and signals. Anything else (assignments, `&&`,
/// pipes, `;`) runs under the shell, measured and stopped as a process group.
fn is_simple(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or("");
    !first.contains('=')
        && !command.contains([
            ';', '&', '|', '<', '>', '(', ')', '$', '`', '\\', '\n', '{', '}', '*', '?',
        ])
}

/// Why an instance did not start serving; `command` as `[[proxy.instances]]` gives it.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Something already serves the address.
    #[error("{addr} already accepts connections before `{command}` started: another process serves it (one left from an earlier run?)")]
    AddressTaken {
        /// The command.
        command: String,
        /// Its address.
        addr: SocketAddr,
    },
    /// The shell could not be started, or its state not read.
    #[error("`{command}` could not start: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The process was gone before it had an id.
    #[error("`{command}` exited at once")]
    ExitedAtOnce {
        /// The command.
        command: String,
    },
    /// Waiting on the process failed.
    #[error("{0}")]
    Wait(#[source] std::io::Error),
    /// It exited before the address accepted connections.
    #[error("`{command}` exited ({status}) before {addr} accepted connections")]
    ExitedEarly {
        /// The command.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its address.
        addr: SocketAddr,
    },
    /// It exited just as the address began to accept connections.
    #[error("`{command}` exited ({status}) while starting")]
    ExitedStarting {
        /// The command.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// It ran, but the address accepted nothing in time.
    #[error("`{command}` started but {addr} accepted no connection within {ready_within:?}")]
    NotReady {
        /// The command.
        command: String,
        /// Its address.
        addr: SocketAddr,
        /// How long it had.
        ready_within: Duration,
    },
}

/// Runs `command` through `sh -c` in a new process group and waits until `addr` accepts a
/// connection from it. Refuses an address something else already serves (an instance left
/// over from an earlier run would otherwise be taken for this one).
pub async fn launch(
    command: &str,
    addr: SocketAddr,
    ready_within: Duration,
) -> Result<Launched, LaunchError> {
    let owned = || command.to_string();
    if tokio::net::TcpStream::connect(addr).await.is_ok() {
        return Err(LaunchError::AddressTaken {
            command: owned(),
            addr,
        });
    }
    let script = if is_simple(command) {
        format!("exec {command}")
    } else {
        command.to_string()
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl in the child before exec only sets a flag on the child itself. With it, the
    // instance is told to stop (SIGTERM) if ship dies without stopping it (kill -9, a crash).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        command: owned(),
        source,
    })?;
    let pid = child
        .id()
        .ok_or_else(|| LaunchError::ExitedAtOnce { command: owned() })?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(LaunchError::Wait)? {
            return Err(LaunchError::ExitedEarly {
                command: owned(),
                status,
                addr,
            });
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            // It may have died just after someone else took the address.
            if let Some(status) = child.try_wait().map_err(LaunchError::Wait)? {
                return Err(LaunchError::ExitedStarting {
                    command: owned(),
                    status,
                });
            }
            return Ok(Launched { child, pid, addr });
        }
        if started.elapsed() > ready_within {
            return Err(LaunchError::NotReady {
                command: owned(),
                addr,
                ready_within,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Launched {
    /// Asks the instance's process group to stop (SIGTERM), waits up to `grace` for every
    /// process in it to exit, then kills what is left.
    pub async fn stop(mut self, grace: Duration) {
        let group = -(self.pid as libc::pid_t);
        // SAFETY: kill(2) on the process group we created; its leader is our unreaped child
        // until the wait below, so the id cannot have been reused meanwhile.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let started = Instant::now();
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        // The shell may be gone while the service it started is still shutting down.
        while crate::resources::group_usage(self.pid).is_some() && started.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if crate::resources::group_usage(self.pid).is_some() {
            // SAFETY: as above.
            unsafe {
                libc::kill(group, libc::SIGKILL);
            }
        }
        let _ = self.child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_simple;

    #[test]
    fn only_plain_commands_are_execed() {
        assert!(is_simple(
            "ship-sample --version v1 --listen 127.0.0.1:8001"
        ));
        assert!(!is_simple("FOO=1 srv"));
        assert!(!is_simple("cd d && srv"));
        assert!(!is_simple("a; b"));
        assert!(!is_simple("srv $PORT"));
    }
}
