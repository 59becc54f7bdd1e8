//! Every example runs the way its README says: each ```console block of examples/*/README.md is
//! run from the example's folder with the `ship` and `ship-sample` built here on PATH, and
//! compared with the README like the top-level tour (tests/readme_tour.rs). Each `run.sh` starts
//! what it needs on loopback and exits 0 only when the expected outcome happened; in CI a
//! missing server (prometheus, nginx, haproxy, …) fails its example, never skips it.
//! The transcripts land in target/test-artifacts/example-*.txt.

mod transcript;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use transcript::{artifacts, path_with, repo, report, run, sections, verify};

#[test]
fn every_example_runs_as_its_readme_says() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ship"))
        .parent()
        .expect("the directory of the built ship");
    assert!(
        bin.join("ship-sample").is_file(),
        "ship-sample is built with the workspace (cargo build --workspace)"
    );
    let path_env = path_with(bin);
    let artifacts = artifacts();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("README.md").is_file())
        .collect();
    examples.sort();
    assert!(examples.len() >= 9, "examples: {examples:?}");
    let mut failures = vec![];
    let mut ran = 0;
    for dir in &examples {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let file = format!("examples/{name}/README.md");
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
        let all = sections(&readme);
        if all.is_empty() {
            failures.push(format!(
                "{file}: no ```console block says how to run the example"
            ));
            continue;
        }
        for (n, section) in all.iter().enumerate() {
            let started = Instant::now();
            let outcomes = run(
                &section.steps,
                dir,
                &tmp.path().join(format!("{name}-{n}")),
                &path_env,
                Duration::from_secs(900),
            );
            ran += section.steps.len();
            eprintln!(
                "{file}: {} command(s) in {:.0} s",
                section.steps.len(),
                started.elapsed().as_secs_f64()
            );
            let _ = std::fs::write(
                artifacts.join(format!("example-{name}-{n}.txt")),
                report(section, &outcomes),
            );
            failures.extend(verify(&file, section, &outcomes));
        }
    }
    assert!(ran >= 16, "every scenario of every example: {ran} commands");
    assert!(
        failures.is_empty(),
        "examples that do not do what their README says:\n\n{}",
        failures.join("\n\n")
    );
}
