//! Every example runs the way its README says: each ```console block of examples/*/README.md is
//! run from the example's folder with the `ship` and `ship-sample` built here on PATH, and
//! compared with the README like the top-level tour (tests/readme_tour.rs). Each `run.sh` starts
//! what it needs on loopback and exits 0 only when the expected outcome happened; in CI a
//! missing server (prometheus, nginx, haproxy, …) fails its example, never skips it.
//! One test per example, so a test runner that runs tests side by side (cargo nextest) spreads
//! them over the run: each `run.sh` works in a temporary copy of its folder on free ports.
//! `every_example_folder_has_its_test` keeps the list below equal to the folders.
//! The transcripts land in target/test-artifacts/example-*.txt.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod transcript;

use std::path::{Path, PathBuf};
use std::time::Duration;
use transcript::{path_with, repo, run_section, sections, Place};

/// The examples, one test each (the folder names under examples/).
const EXAMPLES: [&str; 10] = [
    "builtin-proxy",
    "command-router",
    "demo",
    "full-loop",
    "ha-postgres",
    "haproxy",
    "judge-replay",
    "prometheus-nginx",
    "release-approval",
    "serve",
];

/// The folders under examples/ that have a README.md.
fn example_folders() -> Vec<PathBuf> {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("README.md").is_file())
        .collect();
    examples.sort();
    examples
}

#[test]
fn every_example_folder_has_its_test() {
    let folders: Vec<String> = example_folders()
        .iter()
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into())
        .collect();
    assert!(folders.len() >= 9, "examples: {folders:?}");
    assert_eq!(
        folders, EXAMPLES,
        "each folder under examples/ has its test in tests/examples.rs (add it to EXAMPLES and to the tests at the end)"
    );
    // Every scenario of every example is a step some test runs.
    let steps: usize = example_folders()
        .iter()
        .map(|dir| {
            let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
            sections(&readme)
                .iter()
                .map(|s| s.steps.len())
                .sum::<usize>()
        })
        .sum();
    assert!(
        steps >= 16,
        "every scenario of every example: {steps} commands"
    );
}

/// The examples that go through the pre-deployment gates each carry `gates.sh`, so that a copy
/// of one folder works alone; the copies are one file, so a fix made in one reaches them all.
#[test]
fn every_copy_of_gates_sh_is_the_same() {
    let copies: Vec<(PathBuf, String)> = example_folders()
        .into_iter()
        .map(|dir| dir.join("gates.sh"))
        .filter(|f| f.is_file())
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("gates.sh");
            (f, text)
        })
        .collect();
    assert!(copies.len() >= 5, "{copies:?}");
    let (first, text) = &copies[0];
    for (f, other) in &copies[1..] {
        assert!(
            other == text,
            "{} differs from {}: make the same change in every examples/*/gates.sh",
            f.display(),
            first.display()
        );
    }
}

/// Runs every console block of `examples/<name>/README.md` and compares it with the README.
fn example_runs_as_its_readme_says(name: &str) {
    let bin = Path::new(env!("CARGO_BIN_EXE_ship"))
        .parent()
        .expect("the directory of the built ship");
    assert!(
        bin.join("ship-sample").is_file(),
        "ship-sample is built with the workspace (cargo build --workspace)"
    );
    let path_env = path_with(bin);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = repo().join("examples").join(name);
    let file = format!("examples/{name}/README.md");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    let all = sections(&readme);
    assert!(
        !all.is_empty(),
        "{file}: no ```console block says how to run the example"
    );
    let mut failures = vec![];
    for (n, section) in all.iter().enumerate() {
        failures.extend(run_section(
            section,
            &Place {
                file: &file,
                dir: &dir,
                scratch: &tmp.path().join(format!("{name}-{n}")),
                path_env: &path_env,
                timeout: Duration::from_secs(900),
                artifact: &format!("example-{name}-{n}"),
            },
        ));
    }
    assert!(
        failures.is_empty(),
        "an example that does not do what its README says:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn example_builtin_proxy() {
    example_runs_as_its_readme_says("builtin-proxy");
}

#[test]
fn example_command_router() {
    example_runs_as_its_readme_says("command-router");
}

#[test]
fn example_demo() {
    example_runs_as_its_readme_says("demo");
}

#[test]
fn example_full_loop() {
    example_runs_as_its_readme_says("full-loop");
}

#[test]
fn example_ha_postgres() {
    example_runs_as_its_readme_says("ha-postgres");
}

#[test]
fn example_haproxy() {
    example_runs_as_its_readme_says("haproxy");
}

#[test]
fn example_judge_replay() {
    example_runs_as_its_readme_says("judge-replay");
}

#[test]
fn example_prometheus_nginx() {
    example_runs_as_its_readme_says("prometheus-nginx");
}

#[test]
fn example_release_approval() {
    example_runs_as_its_readme_says("release-approval");
}

#[test]
fn example_serve() {
    example_runs_as_its_readme_says("serve");
}
