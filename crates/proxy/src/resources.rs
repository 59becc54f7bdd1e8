//! Resource usage of the instances ship started: resident memory and CPU, read from `/proc`
//! (Linux). The Ship loop's stage-1 checks include resource usage; for instances ship did not
//! start it has no process to look at, and says so (no data) rather than guessing.

use crate::split::Version;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// CPU time (user + system, in clock ticks) from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces and `)`, so the
/// fields are counted from the last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory in bytes from the text of `/proc/<pid>/status` (`VmRSS:  1234 kB`).
pub fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(n * 1024),
        Some(_) => None,
    }
}

/// (state, process group, CPU ticks, RSS pages) from `/proc/<pid>/stat`.
pub fn stat_fields(stat: &str) -> Option<(char, i64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    let pgrp = f.get(2)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let rss = f.get(21)?.parse().ok()?;
    Some((state, pgrp, ticks, rss))
}

/// CPU ticks and resident bytes of every live process in group `pgid` (a launched
/// instance may be a shell with children); None when none is alive.
pub fn group_usage(pgid: u32) -> Option<(u64, u64)> {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mut found = None::<(u64, u64)>;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, pgrp, ticks, rss)) = stat_fields(&stat) {
            // A zombie has exited: its numbers are the dead process's last ones.
            if pgrp == i64::from(pgid) && state != 'Z' {
                let (t, r) = found.unwrap_or((0, 0));
                found = Some((t + ticks, r + rss * page));
            }
        }
    }
    found
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// What is known of one instance's process.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The release the instance serves (stable or canary).
    pub version: Version,
    /// The process id (the process group's, for an instance ship started through the shell).
    pub pid: u32,
    /// Resident memory in bytes; None until read, or once the process cannot be read.
    pub rss_bytes: Option<u64>,
    /// CPU cores in use over the last interval (1.0 = one core busy); None until two samples.
    pub cpu_cores: Option<f64>,
    /// Set when the process could not be read (it exited).
    pub error: Option<String>,
}

struct Watched {
    usage: Usage,
    last: Option<(Instant, u64)>,
    /// Measure the whole process group led by `pid`, not the one process.
    group: bool,
}

/// (largest RSS in bytes, instances with data), (largest CPU in cores, instances with data).
pub type Worst = (Option<(u64, usize)>, Option<(f64, usize)>);

/// Memory and CPU of the instances ship started, sampled for the rollout's resource gates.
#[derive(Default)]
pub struct Resources {
    watched: Mutex<BTreeMap<SocketAddr, Watched>>,
}

impl Resources {
    /// Starts watching the process group `pgid` (an instance ship launched) that serves `addr`.
    pub fn watch_group(&self, addr: SocketAddr, version: Version, pgid: u32) {
        self.watch(addr, version, pgid);
        if let Some(w) = self.lock().get_mut(&addr) {
            w.group = true;
        }
    }

    /// Starts watching the process `pid` that serves `addr`.
    pub fn watch(&self, addr: SocketAddr, version: Version, pid: u32) {
        self.lock().insert(
            addr,
            Watched {
                usage: Usage {
                    version,
                    pid,
                    rss_bytes: None,
                    cpu_cores: None,
                    error: None,
                },
                last: None,
                group: false,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SocketAddr, Watched>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads every watched process once; `now` is when.
    pub fn sample(&self, now: Instant) {
        let hz = clock_ticks_per_second();
        for w in self.lock().values_mut() {
            let pid = w.usage.pid;
            if w.group {
                match group_usage(pid) {
                    Some((ticks, rss)) => {
                        w.usage.error = None;
                        w.usage.rss_bytes = Some(rss);
                        if let Some((then, before)) = w.last {
                            let secs = now.saturating_duration_since(then).as_secs_f64();
                            if secs > 0.0 {
                                w.usage.cpu_cores =
                                    Some(ticks.saturating_sub(before) as f64 / hz / secs);
                            }
                        }
                        w.last = Some((now, ticks));
                    }
                    None => {
                        w.usage.rss_bytes = None;
                        w.usage.cpu_cores = None;
                        w.usage.error =
                            Some(format!("process group {pid}: no live process (exited)"));
                        w.last = None;
                    }
                }
                continue;
            }
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}"));
            let (stat, status) = match (read("stat"), read("status")) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    w.usage.rss_bytes = None;
                    w.usage.cpu_cores = None;
                    w.usage.error = Some(format!("process {pid}: {e}"));
                    w.last = None;
                    continue;
                }
            };
            if stat_fields(&stat).is_some_and(|f| f.0 == 'Z') {
                w.usage.rss_bytes = None;
                w.usage.cpu_cores = None;
                w.usage.error = Some(format!("process {pid} exited"));
                w.last = None;
                continue;
            }
            w.usage.error = None;
            w.usage.rss_bytes = rss_bytes(&status);
            let ticks = cpu_ticks(&stat);
            if let (Some(t), Some((then, before))) = (ticks, w.last) {
                let secs = now.saturating_duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    w.usage.cpu_cores = Some(t.saturating_sub(before) as f64 / hz / secs);
                }
            }
            w.last = ticks.map(|t| (now, t));
        }
    }

    /// What is known of each watched instance, by address.
    pub fn instances(&self) -> BTreeMap<SocketAddr, Usage> {
        self.lock()
            .iter()
            .map(|(a, w)| (*a, w.usage.clone()))
            .collect()
    }

    /// The largest RSS and CPU among `version`'s watched instances, with how many had data;
    /// None for either when no instance has it (no data, never zero).
    pub fn worst(&self, version: Version) -> Worst {
        let map = self.lock();
        let of = map.values().filter(|w| w.usage.version == version);
        let rss: Vec<u64> = of.clone().filter_map(|w| w.usage.rss_bytes).collect();
        let cpu: Vec<f64> = of.filter_map(|w| w.usage.cpu_cores).collect();
        (
            rss.iter().max().map(|m| (*m, rss.len())),
            cpu.iter().copied().reduce(f64::max).map(|m| (m, cpu.len())),
        )
    }
}

/// Samples every `interval` until the task is dropped.
pub fn spawn(resources: Arc<Resources>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            resources.sample(Instant::now());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_past_odd_command_names() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 2870 0 0 0 150 25 0 0 20 0 9 0 1234 567890 1234 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(175));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(stat_fields(stat), Some(('S', 4242, 175, 1234)));
        let status = "Name:\tship-sample\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(rss_bytes(status), Some(12345 * 1024));
        assert_eq!(
            rss_bytes("Name:\tkthreadd\n"),
            None,
            "kernel threads have no RSS"
        );
    }

    /// This process's CPU time, from the kernel's own clock (not /proc, which is under test).
    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec, which lives on this stack frame.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn this_process_is_measured_and_a_gone_one_is_an_error() {
        let r = Resources::default();
        let me: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let gone: SocketAddr = "127.0.0.1:2".parse().unwrap();
        r.watch(me, Version::Canary, std::process::id());
        r.watch(gone, Version::Canary, u32::MAX - 1);
        let t0 = Instant::now();
        let cpu0 = process_cpu();
        r.sample(t0);
        // Burn 300 ms of CPU so the second sample sees it: CPU time, not wall time, since on a
        // loaded machine a busy loop gets only part of a core.
        let mut x = 0u64;
        while process_cpu() - cpu0 < Duration::from_millis(300)
            && t0.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        std::hint::black_box(x);
        let t1 = Instant::now();
        let used = (process_cpu() - cpu0).as_secs_f64() / (t1 - t0).as_secs_f64();
        r.sample(t1);
        let all = r.instances();
        let mine = &all[&me];
        assert!(mine.rss_bytes.unwrap() > 1024 * 1024, "{mine:?}");
        let cpu = mine.cpu_cores.unwrap();
        // /proc counts in 10 ms ticks: within a tenth of a core of what the process used.
        assert!(
            (cpu - used).abs() < 0.1 && cpu > 0.0,
            "{cpu} cores, used {used}"
        );
        assert!(all[&gone].error.is_some());
        let (rss, cpu) = r.worst(Version::Canary);
        assert_eq!(rss.unwrap().1, 1, "only the live process has data");
        assert!(cpu.is_some());
        assert_eq!(r.worst(Version::Stable), (None, None));
    }
}
