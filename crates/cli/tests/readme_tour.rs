//! The README is a test: its first command (which installs ship), then every ```console block,
//! one test per section, each section in a new empty directory, with what the install put on
//! PATH. Each step's output must match the README (times, addresses, digests, durations and
//! request counts normalised; `…` elides), and each step must exit as the README shows: 0, the
//! `# exit N` its line promises, or whatever the next step's `echo $?` prints.
//! The transcripts land in target/test-artifacts/readme-*.txt.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod transcript;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use transcript::{path_with, repo, run_section, sections, Place, Section};

/// The README's first command, run from the checkout as written but with `--help` for the demo
/// (the demo itself is `example_demo`'s): it installs ship and ship-sample into `bin`, then
/// runs `ship demo --help`. The test suite has just built the debug binaries, so it installs
/// those (SHIP_INSTALL_PROFILE=dev) rather than compiling a release build for minutes. The
/// second command is the one CI runs.
fn install(readme: &str, bin: &Path) {
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README opens with a ```sh block");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .collect();
    assert_eq!(
        commands,
        ["./scripts/demo.sh", "./scripts/test.sh"],
        "the README opens with two commands: the demo and the test suite"
    );
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert_eq!(
        ci.lines().last(),
        Some(commands[1]),
        "CI runs the README's test command"
    );
    let command = format!("{} --help", commands[0]);
    let out = Command::new("bash")
        .arg("-c")
        .arg(&command)
        .current_dir(repo())
        .env("SHIP_INSTALL_PROFILE", "dev")
        .env("SHIP_INSTALL_DIR", bin)
        .output()
        .expect("run the install command");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command} failed:\n{said}");
    assert!(said.contains("Usage: ship demo"), "{said}");
    for b in ["ship", "ship-sample"] {
        assert!(bin.join(b).is_file(), "{command} did not install {b}");
    }
}

/// The fixed loopback ports a section uses (below the kernel's ephemeral range, so no other
/// test takes them): every `127.0.0.1:PORT` its commands and output name, and python's ports.
fn fixed_ports(section: &Section) -> Vec<u16> {
    let mut ports = vec![];
    for step in &section.steps {
        let text = format!("{}\n{}", step.command, step.expected.join("\n"));
        for (k, _) in text.match_indices("127.0.0.1:") {
            let digits: String = text[k + 10..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(p) = digits.parse::<u16>() {
                if p < 32768 && !ports.contains(&p) {
                    ports.push(p);
                }
            }
        }
        if let Some(rest) = step.command.strip_prefix("python3 -m http.server ") {
            if let Some(p) = rest.split(' ').next().and_then(|p| p.parse().ok()) {
                ports.push(p);
            }
        }
    }
    ports
}

/// The README's sections with console blocks, one test each (below). The first runs on free
/// ports; the others use the tour's fixed ports (8080, 9091, 8180, 9191, 8001, 8002), so the
/// test runner's config (.config/nextest.toml, group `readme-fixed-ports`) runs them one at a
/// time. `every_readme_section_has_its_test` keeps this list equal to the README's.
const SECTIONS: [&str; 3] = ["`ship demo`", "A 10-minute tour", "Ship your own service"];

/// Held by a section on the fixed ports while it runs, for `cargo test`, which runs a binary's
/// tests on threads of one process (nextest runs each in its own and uses the test group).
static FIXED_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

#[test]
fn every_readme_section_has_its_test() {
    let all = sections(&readme());
    assert!(
        all.iter().map(|s| s.steps.len()).sum::<usize>() >= 20,
        "the README's console blocks hold the tour"
    );
    let headings: Vec<&str> = all.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(
        headings, SECTIONS,
        "each README section with a console block has its test in tests/readme_tour.rs"
    );
}

/// The README's first command (installing ship), then the console blocks of section `heading`, in a new empty
/// directory, compared with the README.
fn section_runs_as_written(heading: &str) {
    let readme = readme();
    let all = sections(&readme);
    let (n, section) = all
        .iter()
        .enumerate()
        .find(|(_, s)| s.heading == heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading:?} with a console block"));
    let ports = fixed_ports(section);
    let _one_at_a_time = if ports.is_empty() {
        None
    } else {
        Some(FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner()))
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    install(&readme, &bin);
    let path_env = path_with(bin.as_ref());
    let dir = tmp.path().join(format!("section-{n}"));
    std::fs::create_dir_all(&dir).expect("empty directory");
    for port in ports {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is in use on this machine; the README's section {:?} needs it",
            section.heading
        );
    }
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
    let failure = run_section(
        section,
        &Place {
            file: "README.md",
            dir: &dir,
            scratch: &tmp.path().join(format!("section-{n}-script")),
            path_env: &path_env,
            // Ten minutes a section: the README promises a newcomer their own rollout in ten.
            timeout: Duration::from_secs(600),
            artifact: &format!("readme-{n}-{}", slug.trim_matches('-')),
        },
    );
    if let Some(failure) = failure {
        panic!("the README does not match what ship does:\n\n{failure}");
    }
}

#[test]
fn readme_ship_demo() {
    section_runs_as_written(SECTIONS[0]);
}

#[test]
fn readme_a_10_minute_tour() {
    section_runs_as_written(SECTIONS[1]);
}

#[test]
fn readme_ship_your_own_service() {
    section_runs_as_written(SECTIONS[2]);
}
