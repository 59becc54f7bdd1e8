//! The README is a test: its install command, then every ```console block, section by section,
//! each section in a new empty directory, with what the install put on PATH. Each step's output
//! must match the README (numbers, digests and fingerprints normalised; `…` elides), and a step
//! may exit non-zero only where the README shows it (`echo $?` next, or `# exit N` on the line).
//! The transcripts land in target/test-artifacts/readme-*.txt.

mod transcript;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use transcript::{lines_match, run, sections, Outcome, Section};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's first command, run as written from the checkout, installing into `bin`. The
/// test suite has just built the debug binaries, so it installs those (SHIP_INSTALL_PROFILE=dev)
/// rather than compiling a release build for minutes.
fn install(readme: &str, bin: &Path) {
    let first = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.lines().next())
        .expect("the README opens with a ```sh block");
    let command = first.split('#').next().unwrap_or("").trim();
    assert_eq!(
        command, "./scripts/install.sh",
        "the README's first command installs ship"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(repo())
        .env("SHIP_INSTALL_PROFILE", "dev")
        .env("SHIP_INSTALL_DIR", bin)
        .output()
        .expect("run the install command");
    assert!(
        out.status.success(),
        "{command} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for b in ["ship", "ship-sample"] {
        assert!(bin.join(b).is_file(), "{command} did not install {b}");
    }
}

fn allowed_failure(section: &Section, k: usize, code: i32) -> bool {
    let step = &section.steps[k];
    let next_is_echo = section
        .steps
        .get(k + 1)
        .map(|s| s.command.trim() == "echo $?")
        .unwrap_or(false);
    next_is_echo || step.command.contains(&format!("# exit {code}"))
}

fn report(section: &Section, outcomes: &[Outcome]) -> String {
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

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    install(&readme, &bin);
    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let artifacts = repo().join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let all = sections(&readme);
    assert!(
        all.iter().map(|s| s.steps.len()).sum::<usize>() >= 20,
        "the README's console blocks hold the tour"
    );
    let mut failures = vec![];
    for (n, section) in all.iter().enumerate() {
        let dir = tmp.path().join(format!("section-{n}"));
        std::fs::create_dir_all(&dir).expect("empty directory");
        // Ten minutes a section: the README promises a newcomer their own rollout in ten.
        let started = std::time::Instant::now();
        let outcomes = run(&section.steps, &dir, &path_env, Duration::from_secs(600));
        eprintln!(
            "README section {:?}: {} steps in {:.0} s",
            section.heading,
            section.steps.len(),
            started.elapsed().as_secs_f64()
        );
        let slug: String = section
            .heading
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let _ = std::fs::write(
            artifacts.join(format!("readme-{n}-{}.txt", slug.trim_matches('-'))),
            report(section, &outcomes),
        );
        for (k, step) in section.steps.iter().enumerate() {
            let Some(o) = outcomes.get(k) else {
                failures.push(format!(
                    "README.md:{} ({}): `{}` never ran (an earlier step hung)",
                    step.line, section.heading, step.command
                ));
                break;
            };
            let mismatch = !lines_match(&step.expected, &o.output);
            let failed = o.code != 0 && !allowed_failure(section, k, o.code);
            if mismatch || failed {
                failures.push(format!(
                    "README.md:{} ({}): $ {}\n--- the README shows\n{}\n--- ship printed (exit {})\n{}",
                    step.line,
                    section.heading,
                    step.command,
                    step.expected.join("\n"),
                    o.code,
                    o.output.join("\n")
                ));
                // Later steps build on this one: report the first divergence of a section.
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the README does not match what ship does:\n\n{}",
        failures.join("\n\n")
    );
}
