//! `ship init`: lay out a workspace without ever overwriting what exists.

use crate::fsutil;
use crate::template::{ALLOWED_SIGNERS, DEFAULT_RELEASE_TEMPLATE, OUTCOME_TEMPLATE, TEMPLATE_FILE};
use crate::{Error, Result};
use serde::Serialize;
use shiploop_artifacts::status::StatusFile;
use shiploop_config::{default_toml, Config};
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub root: String,
    /// Paths created, relative to the root.
    pub created: Vec<String>,
    /// Paths that already existed and were left alone.
    pub kept: Vec<String>,
}

pub fn init(dir: &Path) -> Result<InitReport> {
    let root = fsutil::absolute(dir)?;
    fsutil::create_dir(&root)?;
    let mut report = InitReport {
        root: root.display().to_string(),
        created: vec![],
        kept: vec![],
    };
    let service = root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.trim().is_empty() && !n.contains('"'))
        .unwrap_or_else(|| "app".into());

    let cfg_path = root.join("ship.toml");
    file(&root, "ship.toml", &default_toml(&service), &mut report)?;
    // Lay out the paths the configuration actually names (an existing ship.toml may move them).
    let cfg = Config::parse(&fsutil::read(&cfg_path)?).map_err(|e| Error::Parse {
        file: cfg_path.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let p = &cfg.paths;
    for d in [&p.evaluations, &p.signals, &p.missions] {
        file(&root, &format!("{d}/.gitkeep"), "", &mut report)?;
    }
    file(
        &root,
        &format!("{}/{TEMPLATE_FILE}", p.releases),
        DEFAULT_RELEASE_TEMPLATE,
        &mut report,
    )?;
    file(
        &root,
        &format!("{}/_TEMPLATE-OUTCOME-CONTRACT.md", p.missions),
        OUTCOME_TEMPLATE,
        &mut report,
    )?;
    file(&root, &p.allowed_signers, ALLOWED_SIGNERS, &mut report)?;
    file(&root, &p.status, &StatusFile::new().render(), &mut report)?;
    let state = root.join(&p.state);
    if state.is_dir() {
        report.kept.push(format!("{}/", p.state));
    } else {
        fsutil::create_dir(&state)?;
        report.created.push(format!("{}/", p.state));
    }
    gitignore(&root, &p.state, &mut report)?;
    Ok(report)
}

fn file(root: &Path, rel: &str, text: &str, report: &mut InitReport) -> Result<()> {
    let path = root.join(rel);
    if path.exists() {
        report.kept.push(rel.to_string());
        return Ok(());
    }
    fsutil::write_atomic(&path, text, true)?;
    report.created.push(rel.to_string());
    Ok(())
}

/// Adds the state folder to `.gitignore` unless a line already ignores it.
fn gitignore(root: &Path, state: &str, report: &mut InitReport) -> Result<()> {
    let path = root.join(".gitignore");
    let entry = format!("/{}/", state.trim_matches('/'));
    let existing = if path.exists() {
        fsutil::read(&path)?
    } else {
        String::new()
    };
    let already = existing.lines().any(|l| {
        let l = l.trim().trim_matches('/');
        l == state.trim_matches('/')
    });
    if already {
        report.kept.push(".gitignore".into());
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("# shiploop runtime state\n{entry}\n"));
    fsutil::write_atomic(&path, &text, false)?;
    report.created.push(format!(".gitignore ({entry})"));
    Ok(())
}
