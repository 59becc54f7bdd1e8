//! Console transcripts in markdown, executed and compared, so a README's tour cannot drift from
//! what `ship` prints (trycmd's idea, with a shell: the tour uses pipes, `&`, heredocs, `cd`).
//!
//! A ```console block holds steps: a `$ command` line, continuation lines starting with `> `
//! (a heredoc's body), then the output the command prints. Comparison normalises what differs
//! from run to run — every number (times, ports, counts, durations), hex strings, digests, key
//! fingerprints — and collapses runs of spaces (column widths follow the numbers). `…` in an
//! expected line matches any text; a line that is only `…` matches any number of lines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The PATH the steps run with: `bin` first, then the test's own.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Where transcripts are kept for a person to read (target/test-artifacts), created.
pub fn artifacts() -> PathBuf {
    let dir = repo().join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

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
            } else if line.trim_start().starts_with("```console") {
                // Any console fence, however indented or annotated, is run: none escapes.
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
        if line.trim_start() == "```" {
            in_console = false;
            continuing = false;
            // A blank line before the fence is layout, not output.
            if let Some(step) = out.last_mut().and_then(|s| s.steps.last_mut()) {
                while step.expected.last().is_some_and(|l| l.trim().is_empty()) {
                    step.expected.pop();
                }
            }
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
            // A number with separators varies (a date, a time, an address, 4.98, 3,901,
            // 11/221); so does a count of time, requests or samples. Other integers are
            // literal: an exit code, a weight, "2 of 2 targets met".
            let mut j = i;
            let mut separated = false;
            while j < chars.len() {
                if chars[j].is_ascii_digit() {
                    j += 1;
                } else if ".,:-/".contains(chars[j])
                    && chars.get(j + 1).is_some_and(|d| d.is_ascii_digit())
                {
                    separated = true;
                    j += 1;
                } else {
                    break;
                }
            }
            if separated || counts_something(&chars, j) {
                s.push('#');
            } else {
                s.extend(&chars[i..j]);
            }
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

/// Whether the integer ending before `j` is followed by a unit of time or a count of requests
/// or samples ("13 ms", "21s", "14051 requests").
fn counts_something(chars: &[char], j: usize) -> bool {
    let k = if chars.get(j) == Some(&' ') { j + 1 } else { j };
    let end = (k..chars.len())
        .find(|&e| !chars[e].is_ascii_alphabetic())
        .unwrap_or(chars.len());
    let word: String = chars[k..end].iter().collect();
    matches!(
        word.as_str(),
        "ms" | "s" | "m" | "h" | "d" | "requests" | "samples"
    )
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

/// The exit code a step's `# exit N` comment promises, if it has one.
fn declared_exit(command: &str) -> Option<i32> {
    let rest = &command[command.find("# exit ")? + 7..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Whether a step exited as the README says: as its `# exit N` comment promises, with any code
/// when the next step shows it (`echo $?`, whose output is compared), else 0.
fn exited_as_shown(section: &Section, k: usize, code: i32) -> bool {
    let step = &section.steps[k];
    if let Some(n) = declared_exit(&step.command) {
        return code == n;
    }
    let next_is_echo = section
        .steps
        .get(k + 1)
        .map(|s| s.command.trim() == "echo $?")
        .unwrap_or(false);
    code == 0 || next_is_echo
}

/// The transcript of a run, as the README would show it, with each step's exit code.
pub fn report(section: &Section, outcomes: &[Outcome]) -> String {
    let mut t = String::new();
    for (k, step) in section.steps.iter().enumerate() {
        t.push_str(&format!("$ {}\n", step.command.replace('\n', "\n> ")));
        match outcomes.get(k) {
            Some(o) => {
                for l in &o.output {
                    t.push_str(l);
                    t.push('\n');
                }
                t.push_str(&format!("[exit {}]\n", o.code));
            }
            None => t.push_str("[not run]\n"),
        }
    }
    t
}

/// The first step of `section` whose output or exit code differs from what `file` shows, as a
/// message naming the line (later steps build on it, so they are not compared).
pub fn verify(file: &str, section: &Section, outcomes: &[Outcome]) -> Option<String> {
    for (k, step) in section.steps.iter().enumerate() {
        let Some(o) = outcomes.get(k) else {
            return Some(format!(
                "{file}:{} ({}): `{}` never ran (an earlier step hung)",
                step.line, section.heading, step.command
            ));
        };
        if !lines_match(&step.expected, &o.output) || !exited_as_shown(section, k, o.code) {
            return Some(format!(
                "{file}:{} ({}): $ {}\n--- {file} shows\n{}\n--- it printed (exit {})\n{}",
                step.line,
                section.heading,
                step.command,
                step.expected.join("\n"),
                o.code,
                o.output.join("\n")
            ));
        }
    }
    None
}

/// What one step printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    pub output: Vec<String>,
    pub code: i32,
}

/// Runs the steps in order in one bash, in `dir`, stdout and stderr together as on a terminal;
/// background jobs are stopped at the end (the whole process group).
/// `scratch` (a path without extension, outside `dir`) names the script and its output file.
pub fn run(
    steps: &[Step],
    dir: &Path,
    scratch: &Path,
    path_env: &str,
    timeout: Duration,
) -> Vec<Outcome> {
    let mut script = String::from("exec 2>&1\nprintf '@@step 0@@\\n'\n");
    for (k, s) in steps.iter().enumerate() {
        // The markers keep $? for the next step (`echo $?`).
        script.push_str(&format!(
            "{}\n__rc=$?; printf '\\n@@rc {k} %d@@\\n@@step {}@@\\n' \"$__rc\"; (exit $__rc)\n",
            s.command,
            k + 1
        ));
    }
    // The script and its output live outside the directory, which stays as the steps left it.
    let script_path = scratch.with_extension("sh");
    std::fs::write(&script_path, &script).expect("write the script");
    // Output goes to a file, not a pipe: a background job that keeps its stdout open must not
    // keep the harness waiting once the steps are done.
    let out_path = scratch.with_extension("out");
    let out_file = std::fs::File::create(&out_path).expect("transcript output file");
    let mut cmd = Command::new("bash");
    cmd.arg(&script_path)
        .current_dir(dir)
        .env("PATH", path_env)
        .env_remove("SHIP_NOW")
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().expect("clone the output file"))
        .stderr(out_file);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("start bash");
    let pgid = child.id();
    let started = Instant::now();
    let mut timed_out = false;
    while child.try_wait().expect("wait for bash").is_none() {
        if started.elapsed() > timeout {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The steps' background jobs (servers, load) belong to the group: stop them all.
    for signal in ["-TERM", "-KILL"] {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.wait();
    let output = std::fs::read(&out_path).expect("read the transcript output");
    let text = String::from_utf8_lossy(&output).to_string();
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

/// Where one section runs and where its record goes.
pub struct Place<'a> {
    /// The markdown file, as failures name it.
    pub file: &'a str,
    /// The directory the steps run in.
    pub dir: &'a Path,
    /// A path without extension, outside `dir`, for the script and its output.
    pub scratch: &'a Path,
    /// The PATH the steps run with.
    pub path_env: &'a str,
    /// How long the section may take.
    pub timeout: Duration,
    /// The transcript's name in target/test-artifacts (without `.txt`).
    pub artifact: &'a str,
}

/// Runs `section` at `place`, says how long it took, keeps its transcript for a person to read,
/// and returns the first step that differs from the markdown (see [`verify`]).
pub fn run_section(section: &Section, place: &Place) -> Option<String> {
    let started = Instant::now();
    let outcomes = run(
        &section.steps,
        place.dir,
        place.scratch,
        place.path_env,
        place.timeout,
    );
    eprintln!(
        "{} {:?}: {} step(s) in {:.0} s",
        place.file,
        section.heading,
        section.steps.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::write(
        artifacts().join(format!("{}.txt", place.artifact)),
        report(section, &outcomes),
    );
    verify(place.file, section, &outcomes)
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
        assert_eq!(s[0].steps[1].expected, vec!["one"]);
        assert_eq!(s[1].steps[0].line, 17);
    }

    #[test]
    fn normalises_what_varies() {
        assert_eq!(
            normalise("14:26:28  start   canary   5 %  at 127.0.0.1:54381 sha256:2d4849ed9e199eace075158fefc6978312f41481f3514bf9e9bdaa6bb0bb260f"),
            "# start canary 5 % at # sha256:#"
        );
        assert_eq!(
            normalise("key SHA256:wgDswPlsQ7JVxhVVeVSTsQuRb2LdJeHZwSyDGfjWiKI) 12,300 requests"),
            "key SHA256:#) # requests"
        );
        // Counts of time, requests and samples vary; exit codes, weights and tallies do not.
        assert_eq!(
            normalise("took 13 ms over 140 requests (9 samples) for 21s: 2 of 2 met, exit 1"),
            "took # ms over # requests (# samples) for #s: 2 of 2 met, exit 1"
        );
        assert_eq!(normalise("errors 11/221 (4.98 %)"), "errors # (# %)");
        assert_eq!(
            normalise("2026-12-03-checkout-v2 in 5s"),
            "#-checkout-v2 in #s"
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
        assert!(!lines_match(&e(&["1"]), &e(&["0"])));
        assert!(!lines_match(&e(&["In flight: 0"]), &e(&["In flight: 1"])));
    }
}
