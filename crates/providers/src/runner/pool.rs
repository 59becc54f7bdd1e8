//! Where commands run: on a thread of their own (a small tokio runtime), at most so many at
//! once for the process's descriptor limit.
//!
//! Why a thread of its own: a running command holds three descriptors (its stdout and stderr
//! pipes and tokio's pidfd for it) and, once it has exited, is a zombie until reaped. All four
//! go only when the future running it is polled again after the child exited: tokio reaps in
//! that poll, the pidfd is closed with the `Child` and the pipes with `ChildStdout` and
//! `ChildStderr`. On `ship serve`'s controller thread — one thread for every rollout's tick,
//! blocked on the state database's round trips — that poll came seconds late, and every tick
//! polled meanwhile started a command of its own: ≈ 333 exited `sh` children held 671 pipes and
//! 335 pidfds, the whole 1,024-descriptor limit. Here nothing else runs: a command is reaped
//! and its descriptors closed as soon as it has exited and its output was read, and the caller
//! is handed the result when its own thread gets to it, holding no descriptor meanwhile.
//!
//! Why a bound: without one, a thousand rollouts ticking together start a thousand commands,
//! three thousand descriptors. A command waits for a slot (not an error, and not part of its
//! timeout: the tick just takes longer), and the slots are sized from the open-file limit so
//! commands never hold more than a quarter of it; the rest is the state database's, the API's
//! and the proxy's.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors a running command holds: its stdout and stderr pipes and tokio's pidfd. (Its
/// stdin is /dev/null, closed once the shell started.)
const PER_COMMAND: u64 = 3;

/// The share of the open-file limit commands may hold: one part in this many.
const SHARE: u64 = 4;

/// The most commands at once however high the limit: enough for any fleet of checks, and a
/// process table a machine survives.
const MOST: u64 = 4096;

/// The process's command slots and command thread.
struct Pool {
    slots: Arc<Semaphore>,
    /// The command thread's runtime, once started. `None` while it could not be (the
    /// controller out of descriptors or threads): commands then run on the caller's runtime,
    /// and the next one tries to start it again.
    thread: Mutex<Option<Handle>>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The pool, sized from the open-file limit when the first command runs (after `main` had its
/// chance to change the limit).
fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool {
        slots: Arc::new(Semaphore::new(slots_for(open_file_limit()))),
        thread: Mutex::new(None),
    })
}

/// How many commands may run at once under an open-file limit of `limit`.
pub(super) fn slots_for(limit: u64) -> usize {
    let n = (limit / SHARE / PER_COMMAND).clamp(1, MOST);
    usize::try_from(n).unwrap_or(1)
}

/// The process's soft open-file limit (RLIMIT_NOFILE).
#[cfg(unix)]
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safe: getrlimit(2) writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        // Unknown: the common default.
        1024
    }
}

#[cfg(not(unix))]
fn open_file_limit() -> u64 {
    1024
}

/// Waits for a slot; the command holds it until it has exited and its descriptors are closed.
pub(super) async fn slot() -> Option<OwnedSemaphorePermit> {
    // The semaphore is never closed; were it, the command would simply run unbounded.
    pool().slots.clone().acquire_owned().await.ok()
}

/// The command thread's runtime, started on first use; `None` if it cannot be started now.
fn thread() -> Option<Handle> {
    let mut thread = pool()
        .thread
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if thread.is_none() {
        *thread = start();
    }
    thread.clone()
}

/// Starts the command thread; its runtime is built on the thread itself, so a failure to
/// build it (no descriptor for its epoll) never drops a runtime on the caller's.
fn start() -> Option<Handle> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("ship-commands".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => {
                    let _ = tx.send(Some(rt.handle().clone()));
                    rt.block_on(std::future::pending::<()>());
                }
                Err(_) => {
                    let _ = tx.send(None);
                }
            }
        })
        .ok()?;
    rx.recv().ok().flatten()
}

/// Aborts the command's task when the caller stops waiting, so the command's own clean-up
/// (its process group killed) runs as it did on the caller's runtime.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `job` (which holds `slot`) on the command thread and returns its output; on the
/// caller's runtime if the command thread cannot be started (`None` from `stopped` if the
/// command thread stopped without an answer, which it never does short of a panic).
pub(super) async fn run<T, F>(slot: Option<OwnedSemaphorePermit>, job: F) -> Result<T, Stopped>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let job = async move {
        let out = job.await;
        // The descriptors are closed (the job's future is done with them); the slot next.
        drop(slot);
        out
    };
    let Some(handle) = thread() else {
        return Ok(job.await);
    };
    let mut task = AbortOnDrop(handle.spawn(job));
    match (&mut task.0).await {
        Ok(out) => Ok(out),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Stopped),
    }
}

/// The command thread dropped a command without running it to the end (only when the process
/// is exiting).
#[derive(Debug)]
pub(super) struct Stopped;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Runner;
    use std::time::{Duration, Instant};

    #[test]
    fn slots_are_a_quarter_of_the_limit_at_three_descriptors_each() {
        assert_eq!(slots_for(1024), 85);
        assert_eq!(slots_for(256), 21);
        assert_eq!(slots_for(4), 1);
        assert_eq!(slots_for(0), 1);
        assert_eq!(slots_for(u64::MAX), 4096);
    }

    /// The process's open descriptors (the listing's own is counted every time alike).
    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn runner(dir: &std::path::Path) -> Runner {
        Runner {
            dir: dir.to_path_buf(),
            timeout: Duration::from_secs(30),
        }
    }

    /// 400 commands started at once under a 256-descriptor limit (three descriptors each, 1,200
    /// unbounded) all run — a few at a time, waiting for a slot being no failure — and leave
    /// the process with the descriptors it had before. In a child process of its own: the
    /// limit, the slots sized from it and the descriptor count are that process's.
    #[test]
    fn many_commands_at_once_under_a_low_limit_all_run_and_leave_no_descriptor_open() {
        if !crate::starved::in_child() {
            crate::starved::run_in_child(
                "runner::pool::tests::many_commands_at_once_under_a_low_limit_all_run_and_leave_no_descriptor_open",
            );
            return;
        }
        crate::starved::lower_limit();
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let r = runner(dir.path());
        // The first command sizes the slots from the lowered limit and starts the command thread.
        assert_eq!(rt.block_on(r.run("echo ready")).unwrap().trim(), "ready");
        let before = open_descriptors();
        let commands: Vec<String> = (0..400)
            .map(|i| format!("echo {i}; echo to-stderr >&2"))
            .collect();
        let all = rt.block_on(futures_util::future::join_all(
            commands.iter().map(|c| r.run(c)),
        ));
        for (i, out) in all.into_iter().enumerate() {
            assert_eq!(out.unwrap().trim(), i.to_string());
        }
        assert_eq!(open_descriptors(), before);
    }

    /// A command's pipes and pidfd are closed and its shell reaped as soon as it has exited,
    /// while its caller's thread is busy elsewhere and does not poll it (as the controller's
    /// thread, on other rollouts' ticks and the state database): before, they stayed until the
    /// caller polled again. In a child process of its own, so no other test's descriptors count.
    #[test]
    fn a_command_is_reaped_and_its_descriptors_closed_while_its_caller_is_busy() {
        if !crate::starved::in_child() {
            crate::starved::run_in_child(
                "runner::pool::tests::a_command_is_reaped_and_its_descriptors_closed_while_its_caller_is_busy",
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let rt = runtime();
        let r = runner(dir.path());
        rt.block_on(r.run("true")).unwrap();
        let before = open_descriptors();
        rt.block_on(async {
            let mut run = std::pin::pin!(r.run("echo $$ > pid; echo done"));
            // One poll starts the command; then the caller's thread is busy, polling nothing.
            let first = std::future::poll_fn(|cx| std::task::Poll::Ready(run.as_mut().poll(cx)));
            assert!(first.await.is_pending());
            let deadline = Instant::now() + Duration::from_secs(10);
            let shell = loop {
                let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
                let pid = pid.trim().to_string();
                let reaped =
                    !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists();
                if reaped && open_descriptors() == before {
                    break pid;
                }
                assert!(
                    Instant::now() < deadline,
                    "shell {pid:?} reaped: {reaped}; descriptors {} (were {before})",
                    open_descriptors()
                );
                std::thread::sleep(Duration::from_millis(10));
            };
            assert!(!shell.is_empty());
            assert_eq!(run.await.unwrap().trim(), "done");
        });
        assert_eq!(open_descriptors(), before);
    }
}
