//! Running user commands: `sh -c` in the workspace under a timeout, the whole process group
//! killed when it runs over; a non-zero exit is an error; output is kept (truncated) for the
//! record. The command router and metric source, nginx's test and reload commands, and
//! data-integrity and smoke checks all run through it.

use crate::{ErrorKind, ProviderError};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

mod pool;

const KEEP: usize = 2000;

/// Where and how long commands run.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The folder commands run in.
    pub dir: PathBuf,
    /// How long a command may take, output included.
    pub timeout: Duration,
}

pub(crate) fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.len() <= KEEP {
        return s.to_string();
    }
    let mut end = KEEP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// Why a command did not succeed. Callers decide by the kind, never by the text: a check's own
/// output may well say "timed out".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// It ran past the runner's timeout and was killed.
    #[error("`{cmd}` timed out after {after:?}")]
    TimedOut {
        /// The command as run.
        cmd: String,
        /// The timeout it ran past.
        after: Duration,
    },
    /// The shell could not be started (no such folder, no `sh`, or the controller's own
    /// resource trouble).
    #[error("`{cmd}` could not start: {reason}")]
    CouldNotStart {
        /// The command as run.
        cmd: String,
        /// Why not.
        reason: String,
        /// Whether it was the controller's own resource trouble (no descriptor for a pipe, no
        /// memory or process for the shell), not the command's ([`crate::local`]).
        local: bool,
    },
    /// It ran and exited non-zero (or was killed by a signal): its answer is "no".
    #[error("`{cmd}` failed ({status}): {output}")]
    Failed {
        /// The command as run.
        cmd: String,
        /// Its exit status, in words.
        status: String,
        /// Its output (stderr, then stdout), truncated.
        output: String,
    },
}

/// Kills a command's whole process group when dropped, unless disarmed: the shell and whatever
/// it started (a `sleep` in the foreground, a `&` in the background) go together, on a timeout
/// and when the caller stops waiting. Killing only `sh` would leave its children running,
/// orphaned, holding our pipes open.
struct GroupKiller {
    pgid: Option<u32>,
}

impl GroupKiller {
    fn kill_now(&mut self) {
        if let Some(pgid) = self.pgid.take().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // Safe: kill(2) takes plain integers. The group exists while any member does; an
            // error (ESRCH, the group is already gone) leaves nothing to do.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill_now();
    }
}

impl Runner {
    /// Runs `cmd`; Ok(stdout) on exit 0, otherwise why not (exit status, timeout, output).
    ///
    /// The timeout covers the output too: a command that exits but left a background process
    /// holding stdout/stderr open times out rather than holding up the caller. A command that
    /// exits 0 with its output complete may leave background processes running; that is its
    /// business.
    ///
    /// The command runs on a thread of its own, which reaps it and closes its descriptors as
    /// soon as it has exited, however busy the caller's thread; and only so many run at once
    /// for the open-file limit (see the `pool` module). Waiting for a turn is not an error and
    /// not part of the timeout.
    pub async fn run(&self, cmd: &str) -> Result<String, RunError> {
        let slot = pool::slot().await;
        let job = execute(self.dir.clone(), self.timeout, cmd.to_string());
        pool::run(slot, job).await.unwrap_or_else(|pool::Stopped| {
            Err(RunError::CouldNotStart {
                cmd: cmd.to_string(),
                reason: "the command thread stopped (the process is exiting)".into(),
                local: true,
            })
        })
    }
}

/// Runs `cmd` in `dir` under `timeout`: the body of [`Runner::run`], on the command thread.
/// Its stdout and stderr are read while the shell is awaited, so all three end together and
/// are closed as this returns.
async fn execute(dir: PathBuf, timeout: Duration, cmd: String) -> Result<String, RunError> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&cmd)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group (pgid = the shell's pid), so a timeout can kill all of it.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| RunError::CouldNotStart {
        cmd: cmd.clone(),
        reason: e.to_string(),
        local: crate::local::spawn_is_local(&e),
    })?;
    let mut group = GroupKiller { pgid: child.id() };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("both pipes were asked for");
    };
    let finished = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (o, e, status) = tokio::join!(
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err),
            child.wait()
        );
        o.and(e).and(status).map(|status| (status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, finished).await {
        Err(_) => {
            group.kill_now();
            // Reap the shell (SIGKILLed, so this is prompt) so no zombie is left behind.
            let _ = child.wait().await;
            return Err(RunError::TimedOut {
                cmd,
                after: timeout,
            });
        }
        Ok(Err(e)) => {
            group.kill_now();
            let _ = child.wait().await;
            return Err(RunError::Failed {
                cmd,
                status: format!("its output could not be read ({e})"),
                output: String::new(),
            });
        }
        Ok(Ok(done)) => done,
    };
    // It finished in time: whatever it left running on purpose is not ours to kill.
    group.pgid = None;
    let stdout = String::from_utf8_lossy(&out).to_string();
    if status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&err);
        let status = status
            .code()
            .map(|c| format!("exit status {c}"))
            .unwrap_or_else(|| "killed by a signal".into());
        Err(RunError::Failed {
            cmd,
            status,
            output: truncate(&format!("{stderr}{stdout}")),
        })
    }
}

impl RunError {
    /// Whether the command could not start for the controller's own resource trouble.
    pub fn is_local(&self) -> bool {
        matches!(self, RunError::CouldNotStart { local: true, .. })
    }
}

impl From<RunError> for ProviderError {
    fn from(e: RunError) -> ProviderError {
        let kind = match e {
            RunError::CouldNotStart { local: true, .. } => ErrorKind::Local,
            RunError::TimedOut { .. } => ErrorKind::Timeout,
            RunError::CouldNotStart { .. } | RunError::Failed { .. } => ErrorKind::CommandFailed,
        };
        ProviderError::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runner(dir: &std::path::Path) -> Runner {
        Runner {
            dir: dir.to_path_buf(),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn run_errors_say_what_happened_by_kind_not_by_text() {
        let dir = std::env::temp_dir();
        // A command that says "timed out" and exits non-zero ran and answered no.
        let e = runner(&dir)
            .run("echo 'lock wait timed out'; exit 1")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RunError::Failed { status, output, .. }
                if status == "exit status 1" && output.contains("timed out")),
            "{e:?}"
        );
        let slow = Runner {
            dir: dir.clone(),
            timeout: Duration::from_millis(200),
        };
        let e = slow.run("sleep 5").await.unwrap_err();
        assert!(matches!(e, RunError::TimedOut { .. }), "{e:?}");
        let nowhere = runner(&dir.join("ship-no-such-folder-for-this-test"));
        let e = nowhere.run("true").await.unwrap_err();
        assert!(matches!(e, RunError::CouldNotStart { .. }), "{e:?}");
    }

    /// A shell that cannot start because the controller has no file descriptor left (for
    /// its pipes) is the controller's trouble, not the command's: local. In a child process
    /// (this test binary again, running only this test), so no other test shares the shortage.
    #[test]
    fn a_command_that_cannot_start_for_want_of_descriptors_is_local() {
        let dir = std::env::temp_dir();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        if !crate::starved::in_child() {
            // Not starved, the command runs (so the child's failure is the shortage's).
            rt.block_on(async { runner(&dir).run("true").await.unwrap() });
            crate::starved::run_in_child(
                "runner::tests::a_command_that_cannot_start_for_want_of_descriptors_is_local",
            );
            return;
        }
        crate::starved::lower_limit();
        let held = crate::starved::use_every_descriptor();
        let e = rt.block_on(runner(&dir).run("true")).unwrap_err();
        assert!(e.is_local(), "{e:?}");
        let e = ProviderError::from(e);
        assert_eq!(e.kind, ErrorKind::Local, "{e}");
        drop(held);
    }

    /// Whether `pid` is still running (a zombie has exited: it only waits to be reaped).
    fn alive(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the ")" closing the command name.
            Ok(stat) => {
                !matches!(stat.rsplit(')').next().map(str::trim_start), Some(s) if s.starts_with('Z') || s.starts_with('X'))
            }
            Err(_) => false,
        }
    }

    /// Runs `cmd` (given the file it writes its pids to, the shell's first) with a 300 ms
    /// timeout and checks that it timed out at once and left nothing running — and no zombie
    /// shell, which is ours to reap.
    async fn times_out_and_leaves_nothing(cmd: impl Fn(&str) -> String, pid_count: usize) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        let slow = Runner {
            dir: dir.path().to_path_buf(),
            timeout: Duration::from_millis(300),
        };
        let cmd = cmd(&file.display().to_string());
        let start = std::time::Instant::now();
        let e = slow.run(&cmd).await.unwrap_err();
        let took = start.elapsed();
        assert!(matches!(e, RunError::TimedOut { .. }), "{cmd}: {e:?}");
        assert!(
            took < Duration::from_secs(1),
            "{cmd}: returned after {took:?}"
        );
        let pids = std::fs::read_to_string(&file).unwrap();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        assert_eq!(pids.len(), pid_count, "{cmd}: {pids:?}");
        // SIGKILL is delivered at once, but give the kernel a moment to tear the processes down.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while pids.iter().any(|p| alive(p)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<_> = pids.iter().filter(|p| alive(p)).collect();
        assert!(
            left.is_empty(),
            "{cmd}: still running after the timeout: {left:?}"
        );
        let shell = format!("/proc/{}", pids[0]);
        assert!(
            !std::path::Path::new(&shell).exists(),
            "{cmd}: the shell was not reaped"
        );
    }

    /// A command that outlives its timeout is killed with everything it started: a child in
    /// the background and one in the foreground (both holding the output pipes), so no orphan
    /// keeps running and the call returns at the deadline, not when the children would end.
    #[tokio::test]
    async fn a_timeout_kills_the_whole_command_not_just_the_shell() {
        times_out_and_leaves_nothing(
            |p| format!("echo $$ > {p}; sleep 30 & echo $! >> {p}; sh -c 'echo $$ >> {p}; exec sleep 30'; echo never"),
            3,
        )
        .await;
    }

    /// A caller that stops waiting (its own deadline, a stopped tick) takes the command with
    /// it: the whole process group is killed, though the command runs on the command thread.
    #[tokio::test]
    async fn a_caller_that_stops_waiting_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        let r = runner(dir.path());
        let cmd = format!(
            "echo $$ > {p}; sleep 30 & echo $! >> {p}; wait",
            p = file.display()
        );
        let given_up = tokio::time::timeout(Duration::from_millis(300), r.run(&cmd)).await;
        assert!(given_up.is_err(), "{given_up:?}");
        let pids = std::fs::read_to_string(&file).unwrap();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        assert_eq!(pids.len(), 2, "{pids:?}");
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while pids.iter().any(|p| alive(p)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<_> = pids.iter().filter(|p| alive(p)).collect();
        assert!(left.is_empty(), "still running: {left:?}");
    }

    /// A shell that exits at once but leaves a background child holding its output open: the
    /// output never ends, so the deadline applies to reading it too, and the child goes.
    #[tokio::test]
    async fn a_background_child_holding_the_output_open_is_killed_at_the_deadline() {
        times_out_and_leaves_nothing(|p| format!("echo $$ > {p}; sleep 30 & echo $! >> {p}"), 2)
            .await;
    }
}
