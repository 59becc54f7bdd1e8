//! Console transcripts in markdown, executed and compared, so a README's tour cannot drift from
//! what `ship` prints (trycmd's idea, with a shell: the tour uses pipes, `&`, heredocs, `cd`).
//!
//! A ```console block holds steps: a `$ command` line, continuation lines starting with `> `
//! (a heredoc's body), then the output the command prints. Comparison normalises what differs
//! from run to run — every number (times, ports, counts, durations), hex strings, digests, key
//! fingerprints — and collapses runs of spaces (column widths follow the numbers). `…` in an
//! expected line matches any text; a line that is only `…` matches any number of lines.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based line of the `$` line in the markdown file.
    pub line: usize,
    pub command: String,
    pub expected: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub heading: String,
    pub steps: Vec<Step>,
}

/// The console blocks of a markdown file, grouped by their `## ` section, in order.
pub fn sections(markdown: &str) -> Vec<Section> {
    let mut out: Vec<Section> = vec![];
    let mut heading = String::new();
    let mut in_console = false;
    let mut in_other_fence = false;
    let mut continuing = false;
    for (i, raw) in markdown.lines().enumerate() {
        let line = raw.trim_end();
        if !in_console && !in_other_fence {
            if let Some(h) = line.strip_prefix("## ") {
                heading = h.trim().to_string();
            } else if line == "```console" {
                in_console = true;
                if out.last().map(|s| s.heading != heading).unwrap_or(true) {
                    out.push(Section {
                        heading: heading.clone(),
                        steps: vec![],
                    });
                }
            } else if line.starts_with("```") {
                in_other_fence = true;
            }
            continue;
        }
        if in_other_fence {
            if line.starts_with("```") {
                in_other_fence = false;
            }
            continue;
        }
        if line == "```" {
            in_console = false;
            continuing = false;
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if let Some(cmd) = line.strip_prefix("$ ") {
            section.steps.push(Step {
                line: i + 1,
                command: cmd.to_string(),
                expected: vec![],
            });
            continuing = true;
        } else if continuing && (line == ">" || line.starts_with("> ")) {
            if let Some(step) = section.steps.last_mut() {
                step.command.push('\n');
                step.command.push_str(line.strip_prefix("> ").unwrap_or(""));
            }
        } else if let Some(step) = section.steps.last_mut() {
            continuing = false;
            step.expected.push(line.to_string());
        }
    }
    out
}

/// What varies from run to run, made equal: digests, key fingerprints, hex strings and numbers
/// become `#`; runs of spaces become one.
pub fn normalise(line: &str) -> String {
    let mut s = String::with_capacity(line.len());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A fingerprint "SHA256:" + base64 (43 characters).
        if line_at(&chars, i, "SHA256:") {
            let start = i + 7;
            let mut j = start;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || "+/".contains(chars[j])) {
                j += 1;
            }
            if j - start >= 40 {
                s.push_str("SHA256:#");
                i = j;
                continue;
            }
        }
        // A hex word of 8 or more characters (digests, tokens, commit ids).
        if c.is_ascii_hexdigit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_hexdigit() {
                j += 1;
            }
            let word_ends = j == chars.len() || !chars[j].is_ascii_alphanumeric();
            if j - i >= 8 && word_ends && chars[i..j].iter().any(|c| c.is_ascii_digit()) {
                s.push('#');
                i = j;
                continue;
            }
        }
        // A word that starts with a letter is a name, digits and all (v2, sha256).
        if c.is_ascii_alphabetic() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if c.is_ascii_digit() {
            // 1,234.5 → #
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || ((chars[j] == ',' || chars[j] == '.')
                        && j + 1 < chars.len()
                        && chars[j + 1].is_ascii_digit()))
            {
                j += 1;
            }
            s.push('#');
            i = j;
            continue;
        }
        if c.is_whitespace() {
            if !s.ends_with(' ') {
                s.push(' ');
            }
            i += 1;
            continue;
        }
        s.push(c);
        i += 1;
    }
    s.trim_end().to_string()
}

fn line_at(chars: &[char], i: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(k, w)| chars.get(i + k) == Some(&w))
}

/// Whether one actual line matches one expected line (both normalised; `…` matches any text).
pub fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(k) => rest = &rest[k + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Whether the actual lines match the expected ones; a line that is only `…` matches any number
/// of lines (none included), however it is indented.
pub fn lines_match(expected: &[String], actual: &[String]) -> bool {
    let e: Vec<String> = expected.iter().map(|l| normalise(l)).collect();
    let a: Vec<String> = actual.iter().map(|l| normalise(l)).collect();
    // ok[i][j]: e[i..] matches a[j..]
    let (n, m) = (e.len(), a.len());
    let mut ok = vec![vec![false; m + 1]; n + 1];
    ok[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            ok[i][j] = if e[i].trim() == "…" {
                ok[i + 1][j] || (j < m && ok[i][j + 1])
            } else {
                j < m && line_matches(&e[i], &a[j]) && ok[i + 1][j + 1]
            };
        }
    }
    ok[0][0]
}

/// What one step printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    pub output: Vec<String>,
    pub code: i32,
}

/// Runs the steps in order in one bash, in `dir`, stdout and stderr together as on a terminal;
/// background jobs are stopped at the end (the whole process group).
pub fn run(steps: &[Step], dir: &Path, path_env: &str, timeout: Duration) -> Vec<Outcome> {
    let mut script = String::from("exec 2>&1\nprintf '@@step 0@@\\n'\n");
    for (k, s) in steps.iter().enumerate() {
        // The markers keep $? for the next step (`echo $?`).
        script.push_str(&format!(
            "{}\n__rc=$?; printf '\\n@@rc {k} %d@@\\n@@step {}@@\\n' \"$__rc\"; (exit $__rc)\n",
            s.command,
            k + 1
        ));
    }
    std::fs::write(dir.join(".transcript.sh"), &script).expect("write the script");
    let mut cmd = Command::new("bash");
    cmd.arg(".transcript.sh")
        .current_dir(dir)
        .env("PATH", path_env)
        .env_remove("SHIP_NOW")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("start bash");
    let pgid = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() && started.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(200));
    }
    let timed_out = !waiter.is_finished();
    // The steps' background jobs (servers, load) belong to the group: stop them all.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    let output = waiter.join().expect("waiter").expect("bash output");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut outcomes: Vec<Outcome> = vec![];
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("@@rc ") {
            let code = rest
                .trim_end_matches("@@")
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1);
            let mut lines = current.take().unwrap_or_default();
            while lines.last().map(|l| l.trim().is_empty()).unwrap_or(false) {
                lines.pop();
            }
            outcomes.push(Outcome {
                output: lines,
                code,
            });
        } else if line.starts_with("@@step ") {
            current = Some(vec![]);
        } else if let Some(lines) = current.as_mut() {
            lines.push(line.to_string());
        }
    }
    if timed_out {
        // The step that was running never got its rc marker.
        if let Some(lines) = current.take() {
            let mut l = lines;
            l.push(format!(
                "(still running after {} s: stopped)",
                timeout.as_secs()
            ));
            outcomes.push(Outcome {
                output: l,
                code: -1,
            });
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_continuations_and_sections() {
        let md = "## A\n```console\n$ echo hi\nhi\n$ cat <<EOF\n> one\n>\n> EOF\none\n\n```\n```sh\n$ not run\n```\n## B\n```console\n$ true\n```\n";
        let s = sections(md);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].heading, "A");
        assert_eq!(s[0].steps.len(), 2);
        assert_eq!(s[0].steps[1].command, "cat <<EOF\none\n\nEOF");
        assert_eq!(s[0].steps[1].expected, vec!["one", ""]);
        assert_eq!(s[1].steps[0].line, 17);
    }

    #[test]
    fn normalises_what_varies() {
        assert_eq!(
            normalise("14:26:28  start   canary   5 %  at 127.0.0.1:54381 sha256:2d4849ed9e199eace075158fefc6978312f41481f3514bf9e9bdaa6bb0bb260f"),
            "#:#:# start canary # % at #:# sha256:#"
        );
        assert_eq!(
            normalise("key SHA256:wgDswPlsQ7JVxhVVeVSTsQuRb2LdJeHZwSyDGfjWiKI) 12,300 requests"),
            "key SHA256:#) # requests"
        );
        assert_eq!(
            normalise("2026-12-03-checkout-v2 in 5s"),
            "#-#-#-checkout-v2 in #s"
        );
        // Words that happen to be hex-like stay words.
        assert_eq!(normalise("added deadbeef"), "added deadbeef");
    }

    #[test]
    fn ellipses_match_text_and_lines() {
        let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(line_matches("a … c", "a b b c"));
        assert!(!line_matches("a … c", "a b b d"));
        assert!(lines_match(&e(&["x", "…", "z"]), &e(&["x", "1", "2", "z"])));
        assert!(lines_match(&e(&["x", "…", "z"]), &e(&["x", "z"])));
        assert!(lines_match(
            &e(&["x", "    …", "z"]),
            &e(&["x", "  a", "  b", "z"])
        ));
        // Names keep their digits: v1 is not v2.
        assert!(!lines_match(&e(&["v2"]), &e(&["v1"])));
        assert!(!lines_match(&e(&["x", "…", "z"]), &e(&["x", "y"])));
        assert!(lines_match(&e(&["took 13 ms"]), &e(&["took 140 ms"])));
        assert!(!lines_match(&e(&["took 13 ms"]), &e(&["took 13 s"])));
    }
}
