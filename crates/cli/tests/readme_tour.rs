//! The README is a test: its install command, then every ```console block, section by section,
//! each section in a new empty directory, with what the install put on PATH. Each step's output
//! must match the README (times, addresses, digests, durations and request counts normalised;
//! `…` elides), and each step must exit as the README shows: 0, the `# exit N` its line
//! promises, or whatever the next step's `echo $?` prints.
//! The transcripts land in target/test-artifacts/readme-*.txt.

mod transcript;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use transcript::{artifacts, path_with, repo, report, run, sections, verify, Section};

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

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    install(&readme, &bin);
    let path_env = path_with(bin.as_ref());
    let artifacts = artifacts();
    let all = sections(&readme);
    assert!(
        all.iter().map(|s| s.steps.len()).sum::<usize>() >= 20,
        "the README's console blocks hold the tour"
    );
    let mut failures = vec![];
    for (n, section) in all.iter().enumerate() {
        let dir = tmp.path().join(format!("section-{n}"));
        std::fs::create_dir_all(&dir).expect("empty directory");
        for port in fixed_ports(section) {
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "port {port} is in use on this machine; the README's section {:?} needs it",
                section.heading
            );
        }
        // Ten minutes a section: the README promises a newcomer their own rollout in ten.
        let started = std::time::Instant::now();
        let outcomes = run(
            &section.steps,
            &dir,
            &tmp.path().join(format!("section-{n}-script")),
            &path_env,
            Duration::from_secs(600),
        );
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
        failures.extend(verify("README.md", section, &outcomes));
    }
    assert!(
        failures.is_empty(),
        "the README does not match what ship does:\n\n{}",
        failures.join("\n\n")
    );
}
