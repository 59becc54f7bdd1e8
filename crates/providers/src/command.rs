//! User commands as providers — the escape hatch that drives any deployment today (like Argo's
//! `job` and `web` providers). Commands run with `sh -c`, with `{weight}`, `{release}`,
//! `{stage}` and `{service}` substituted, under a timeout; a non-zero exit is an error; output
//! is kept (truncated) for the record.

use crate::placeholders::fill;
use crate::{
    MetricContext, MetricSource, ProviderError, RouteContext, RouterOutput, TrafficRouter,
};
use async_trait::async_trait;
use serde_json::Value;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const KEEP: usize = 2000;

/// Where and how long commands run.
#[derive(Debug, Clone)]
pub struct Runner {
    pub dir: PathBuf,
    pub timeout: Duration,
}

fn truncate(s: &str) -> String {
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
    TimedOut { cmd: String, after: Duration },
    /// The shell could not be started (no such folder, no `sh`).
    #[error("`{cmd}` could not start: {reason}")]
    CouldNotStart { cmd: String, reason: String },
    /// It ran and exited non-zero (or was killed by a signal): its answer is "no".
    #[error("`{cmd}` failed ({status}): {output}")]
    Failed {
        cmd: String,
        status: String,
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
    pub async fn run(&self, cmd: &str) -> Result<String, RunError> {
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(cmd)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group (pgid = the shell's pid), so a timeout can kill all of it.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| RunError::CouldNotStart {
            cmd: cmd.to_string(),
            reason: e.to_string(),
        })?;
        let mut group = GroupKiller { pgid: child.id() };
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
        else {
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
        let (status, out, err) = match tokio::time::timeout(self.timeout, finished).await {
            Err(_) => {
                group.kill_now();
                // Reap the shell (SIGKILLed, so this is prompt) so no zombie is left behind.
                let _ = child.wait().await;
                return Err(RunError::TimedOut {
                    cmd: cmd.to_string(),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) => {
                group.kill_now();
                let _ = child.wait().await;
                return Err(RunError::Failed {
                    cmd: cmd.to_string(),
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
                cmd: cmd.to_string(),
                status,
                output: truncate(&format!("{stderr}{stdout}")),
            })
        }
    }
}

/// Routes traffic with user commands. Only `set_weight` is required: rolling back defaults to
/// setting weight 0 and promoting to setting weight 100.
#[derive(Debug, Clone)]
pub struct CommandRouter {
    pub runner: Runner,
    pub set_weight: String,
    pub get_weight: Option<String>,
    pub promote: Option<String>,
    pub rollback: Option<String>,
}

impl CommandRouter {
    fn err(&self, message: String) -> ProviderError {
        ProviderError {
            provider: "command router".into(),
            message,
        }
    }

    async fn run(
        &self,
        template: &str,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        let cmd = fill(
            template,
            &[
                ("weight", weight.to_string()),
                ("release", ctx.release.clone()),
                ("stage", ctx.stage.clone()),
                ("service", ctx.service.clone()),
            ],
        );
        self.runner
            .run(&cmd)
            .await
            .map(|out| RouterOutput {
                detail: format!("$ {cmd}\n{}", truncate(&out)),
            })
            .map_err(|e| self.err(e.to_string()))
    }
}

#[async_trait]
impl TrafficRouter for CommandRouter {
    fn name(&self) -> &str {
        "command"
    }

    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.run(&self.set_weight, ctx, weight).await
    }

    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        let Some(get) = &self.get_weight else {
            return Ok(None);
        };
        let out = self.run(get, ctx, 0).await?;
        let text = out.detail.lines().skip(1).collect::<Vec<_>>().join("\n");
        let t = text.trim();
        t.parse::<u8>()
            .ok()
            .filter(|w| *w <= 100)
            .map(Some)
            .ok_or_else(|| self.err(format!("get_weight printed {t:?}, not a weight 0–100")))
    }

    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        match &self.promote {
            Some(p) => self.run(p, ctx, 100).await,
            None => self.run(&self.set_weight, ctx, 100).await,
        }
    }

    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        match &self.rollback {
            Some(r) => self.run(r, ctx, 0).await,
            None => self.run(&self.set_weight, ctx, 0).await,
        }
    }
}

/// Measures with a user command that prints a JSON object keyed by measurement key:
///
/// ```json
/// {"canary/requests": 1200, "canary/errors": 5, "stable/requests": 22800, "stable/errors": 40,
///  "canary/slow": 0, "canary/error_rate": {"value": 0.004, "samples": 1200},
///  "alerts/critical_security": 0,
///  "canary/latency_p99": null,
///  "integrity/orders": {"error": "db unreachable"}}
/// ```
///
/// Counts are cumulative (since the stage began, `{since}` seconds ago, or a running counter:
/// `metrics.command.counts`); `canary/slow` and `canary/slow_target` count the requests slower
/// than `{slow_ms}` and `{target_ms}`. A bare number counts as one sample; `null` or a missing
/// key is "no data"; `{"error": …}` is an error for that key. A failing command or unparsable
/// output is an error for every key.
#[derive(Debug, Clone)]
pub struct CommandSource {
    pub runner: Runner,
    pub command: String,
}

pub fn parse_measurements(keys: &[String], stdout: &str) -> Observation {
    let all_error = |message: String| -> Observation {
        keys.iter()
            .map(|k| {
                (
                    k.clone(),
                    Measurement::Error {
                        message: message.clone(),
                    },
                )
            })
            .collect()
    };
    let v: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => {
            return all_error(format!(
                "metric command output is not JSON ({e}): {}",
                truncate(stdout)
            ))
        }
    };
    let Value::Object(map) = v else {
        return all_error(
            "metric command output must be a JSON object keyed by measurement".into(),
        );
    };
    keys.iter()
        .map(|k| {
            let m = match map.get(k) {
                None | Some(Value::Null) => Measurement::NoData,
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(x) => Measurement::value(x, 1),
                    None => Measurement::Error {
                        message: format!("{k}: {n} is not a number"),
                    },
                },
                Some(Value::Object(o)) => {
                    if let Some(e) = o.get("error") {
                        Measurement::Error {
                            message: e
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| e.to_string()),
                        }
                    } else {
                        match (o.get("value"), o.get("samples")) {
                            (Some(Value::Null), _) | (None, _) => Measurement::NoData,
                            (Some(val), samples) => {
                                match (val.as_f64(), samples.map(|s| s.as_u64())) {
                                    (Some(x), None) => Measurement::value(x, 1),
                                    (Some(x), Some(Some(n))) => Measurement::value(x, n),
                                    _ => Measurement::Error {
                                        message: format!(
                                        "{k}: expected {{\"value\": number, \"samples\": integer}}"
                                    ),
                                    },
                                }
                            }
                        }
                    }
                }
                Some(other) => Measurement::Error {
                    message: format!("{k}: unexpected {other}"),
                },
            };
            (k.clone(), m)
        })
        .collect()
}

#[async_trait]
impl MetricSource for CommandSource {
    fn name(&self) -> &str {
        "command"
    }

    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let ms = |s: Option<f64>| s.map_or(String::new(), |s| format!("{}", (s * 1000.0).round()));
        let cmd = fill(
            &self.command,
            &[
                ("weight", ctx.weight.to_string()),
                ("release", ctx.release.clone()),
                ("stage", ctx.stage.clone()),
                ("service", ctx.service.clone()),
                ("window", ctx.window_secs.to_string()),
                ("since", ctx.since_secs.to_string()),
                ("slow_ms", ms(ctx.slow_secs)),
                ("target_ms", ms(ctx.target_secs)),
            ],
        );
        match self.runner.run(&cmd).await {
            Ok(out) => parse_measurements(keys, &out),
            Err(e) => keys
                .iter()
                .map(|k| {
                    let message = e.to_string();
                    (k.clone(), Measurement::Error { message })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RouteContext {
        RouteContext {
            service: "web".into(),
            release: "2026-11-27-a".into(),
            stage: "canary".into(),
        }
    }

    fn runner(dir: &std::path::Path) -> Runner {
        Runner {
            dir: dir.to_path_buf(),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn the_command_router_runs_and_records() {
        let dir = std::env::temp_dir().join(format!("ship-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = CommandRouter {
            runner: runner(&dir),
            set_weight: "echo {weight} > weight && echo set {weight} for {release} in {stage}"
                .into(),
            get_weight: Some("cat weight".into()),
            promote: None,
            rollback: None,
        };
        let out = r.set_weight(&ctx(), 25).await.unwrap();
        assert!(
            out.detail.contains("set 25 for 2026-11-27-a in canary"),
            "{}",
            out.detail
        );
        assert_eq!(r.effective_weight(&ctx()).await.unwrap(), Some(25));
        r.roll_back(&ctx()).await.unwrap();
        assert_eq!(r.effective_weight(&ctx()).await.unwrap(), Some(0));
        r.promote(&ctx()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("weight")).unwrap().trim(),
            "100"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn failures_and_timeouts_are_errors_not_panics() {
        let dir = std::env::temp_dir();
        let failing = CommandRouter {
            runner: runner(&dir),
            set_weight: "echo nope >&2; exit 3".into(),
            get_weight: None,
            promote: None,
            rollback: None,
        };
        let e = failing.set_weight(&ctx(), 5).await.unwrap_err();
        assert!(
            e.message.contains("exit status 3") && e.message.contains("nope"),
            "{e}"
        );
        let slow = CommandRouter {
            runner: Runner {
                dir: dir.clone(),
                timeout: Duration::from_millis(200),
            },
            set_weight: "sleep 5".into(),
            get_weight: None,
            promote: None,
            rollback: None,
        };
        let e = slow.set_weight(&ctx(), 5).await.unwrap_err();
        assert!(e.message.contains("timed out"), "{e}");
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

    /// A shell that exits at once but leaves a background child holding its output open: the
    /// output never ends, so the deadline applies to reading it too, and the child goes.
    #[tokio::test]
    async fn a_background_child_holding_the_output_open_is_killed_at_the_deadline() {
        times_out_and_leaves_nothing(|p| format!("echo $$ > {p}; sleep 30 & echo $! >> {p}"), 2)
            .await;
    }

    #[test]
    fn measurement_json_forms() {
        let keys: Vec<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_measurements(
            &keys,
            r#"{"a": {"value": 0.5, "samples": 10}, "b": 3, "c": null, "d": {"error": "down"}, "e": "x"}"#,
        );
        assert_eq!(o["a"], Measurement::value(0.5, 10));
        assert_eq!(o["b"], Measurement::value(3.0, 1));
        assert_eq!(o["c"], Measurement::NoData);
        assert!(matches!(&o["d"], Measurement::Error { message } if message == "down"));
        assert!(matches!(o["e"], Measurement::Error { .. }));
        assert_eq!(o["f"], Measurement::NoData);
        let o = parse_measurements(&keys, "not json");
        assert!(o.values().all(|m| matches!(m, Measurement::Error { .. })));
    }
}
