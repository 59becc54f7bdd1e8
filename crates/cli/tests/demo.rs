//! `ship demo` from the outside: what it leaves behind (nothing, unless kept), its last hints,
//! and what Ctrl-C says.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `ship demo ARGS` with its temporary folders under `tmp`.
fn demo(tmp: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ship"));
    c.arg("demo").args(args).env("TMPDIR", tmp);
    c
}

fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ship-demo-"))
        .collect()
}

#[test]
fn a_finished_demo_removes_its_workspace_unless_kept_and_prints_commands_one_a_line() {
    let tmp = tempfile::tempdir().unwrap();
    let o = demo(tmp.path(), &[]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("(removed at the end; --keep keeps it)"),
        "{out}"
    );
    assert!(out.contains("removed the demo workspace "), "{out}");
    assert!(
        !out.contains("inspect"),
        "no hints at a removed workspace: {out}"
    );
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());

    let o = demo(tmp.path(), &["--scenario", "bad", "--keep"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let kept = leftovers(tmp.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dir = tmp.path().join(&kept[0]);
    let id = std::fs::read_dir(dir.join("work/releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("-checkout-v2.md"))
        .unwrap()
        .trim_end_matches(".md")
        .to_string();
    // Two commands, each on its own line (no pipe between them).
    let d = dir.display();
    assert!(
        out.contains(&format!(
            "inspect them with two commands:\n  ship -C {d} rollout status {id}\n  ship -C {d} audit verify\n"
        )),
        "{out}"
    );
    assert!(!out.contains(" | ship"), "{out}");
    assert!(
        out.contains(&format!("the demo workspace is kept in {d}\n")),
        "{out}"
    );
}

/// Starts the demo and returns it with its stdout, line by line.
fn spawn(tmp: &Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = demo(tmp, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Reads lines until one satisfies `want`; returns all read so far.
fn until(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            seen.push_str(&line);
            seen.push('\n');
            if want(&line) {
                return seen;
            }
        }
    }
    panic!("not seen in time; so far:\n{seen}");
}

fn interrupt(child: &Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn ctrl_c_says_the_demo_cannot_be_resumed_and_cleans_up_unless_kept() {
    let tmp = tempfile::tempdir().unwrap();

    // During the rollout, with --keep.
    let (child, rx) = spawn(tmp.path(), &["--keep"]);
    // The second `ship check` passed: the rollout starts.
    until(&rx, |l| {
        l.starts_with("» ship check ") && !l.contains("waits")
    });
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    let rest: String = rx.try_iter().collect::<Vec<_>>().join("\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{rest}\n{err}");
    assert!(
        err.contains("cannot be resumed") && err.contains("Run `ship demo` again to start over"),
        "{err}"
    );
    assert!(!rest.contains("continues it"), "no resume hint: {rest}");
    let kept = leftovers(tmp.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dir = tmp.path().join(&kept[0]);
    assert!(
        err.contains(&format!("the demo workspace is kept in {}", dir.display())),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();

    // While the gates run, without --keep: nothing is left.
    let (child, rx) = spawn(tmp.path(), &[]);
    until(&rx, |l| l.starts_with("production:"));
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("removed the demo workspace"), "{err}");
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}
