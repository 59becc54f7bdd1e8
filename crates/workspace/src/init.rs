//! `ship init`: lay out a workspace without ever overwriting what exists.

use crate::fsutil;
use crate::template::{outcome_template, ALLOWED_SIGNERS, DEFAULT_RELEASE_TEMPLATE, TEMPLATE_FILE};
use crate::{Error, Result};
use serde::Serialize;
use shiploop_artifacts::status::StatusFile;
use shiploop_config::{layout_toml, Config, Layout, MetricsKind, RouterKind};
use std::path::Path;

#[derive(Debug, Serialize)]
/// What `ship init` did.
pub struct InitReport {
    /// The workspace's root.
    pub root: String,
    /// Paths created, relative to the root.
    pub created: Vec<String>,
    /// Paths that already existed and were left alone.
    pub kept: Vec<String>,
    /// What to do next: environment variables to export, commands to start.
    pub next: Vec<String>,
}

/// `ship init` with every key at its default (router and metrics "command").
pub fn init(dir: &Path) -> Result<InitReport> {
    init_with(dir, &Layout::default(), "ship init")
}

/// `ship init` with a layout (`--router`, `--metrics`, `--stable`, `--canary`, `--try`, …);
/// `command` is the command line, recorded in ship.toml's header.
pub fn init_with(dir: &Path, layout: &Layout, command: &str) -> Result<InitReport> {
    if let Some(p) = layout.problem() {
        return Err(Error::Usage(p));
    }
    let root = fsutil::absolute(dir)?;
    fsutil::create_dir(&root)?;
    let mut report = InitReport {
        root: root.display().to_string(),
        created: vec![],
        kept: vec![],
        next: vec![],
    };
    let service = root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.trim().is_empty() && !n.contains('"'))
        .unwrap_or_else(|| "app".into());

    let cfg_path = root.join("ship.toml");
    let toml = layout_toml(&service, layout, command).map_err(|e| Error::Usage(e.to_string()))?;
    let existed = cfg_path.exists();
    file(&root, "ship.toml", &toml, &mut report)?;
    // Lay out the paths the configuration actually names (an existing ship.toml may move them).
    let cfg = Config::parse(&fsutil::read(&cfg_path)?).map_err(|e| Error::config(&cfg_path, e))?;
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
        &outcome_template(cfg.metrics.kind.as_str()),
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
    if !layout.is_plain() {
        file(&root, &cfg.flags.registry_file, FLAGS_REGISTRY, &mut report)?;
    }
    gitignore(&root, &p.state, &mut report)?;
    report.next = next_steps(&cfg, layout, existed);
    Ok(report)
}

/// The empty flag registry a layout starts with.
const FLAGS_REGISTRY: &str = "# The feature-flag registry (docs/GATES.md): one entry per flag a release relies on, e.g.\n# - name: new-checkout\n#   owner: alice@example.com\n#   type: release            # release, experiment, ops or permission\n#   default: false\n#   created: 2026-11-20\n#   cleanup_by: 2026-12-30\nflags: []\n";

/// What to do after `ship init`, for the configuration in force.
fn next_steps(cfg: &Config, layout: &Layout, existed: bool) -> Vec<String> {
    let mut next = Vec::new();
    if existed && !layout.is_plain() {
        next.push("ship.toml existed and was kept: the layout options were not applied (move it away to lay out a new one)".into());
    }
    let builtin = cfg.router.kind == RouterKind::Builtin;
    let staging = cfg.staging.router == shiploop_config::StagingRouter::Builtin;
    if builtin || staging {
        next.push("export the admin API tokens (at least 16 characters each), e.g.:".into());
        if builtin {
            next.push(format!(
                "  export {}=$(openssl rand -hex 16)",
                cfg.proxy.token_env
            ));
        }
        if staging {
            next.push(format!(
                "  export {}=$(openssl rand -hex 16)",
                cfg.staging.token_env
            ));
        }
        next.push("start the proxies (each runs until stopped):".into());
    }
    if builtin {
        let p = &cfg.proxy;
        let stable: Vec<String> = p
            .addresses(shiploop_config::InstanceVersion::Stable)
            .iter()
            .map(|a| a.to_string())
            .collect();
        let canary: Vec<String> = p
            .addresses(shiploop_config::InstanceVersion::Canary)
            .iter()
            .map(|a| a.to_string())
            .collect();
        next.push(format!(
            "  ship proxy &              # production on http://{} → stable {}, canary {}; admin {}",
            p.listen,
            if stable.is_empty() { "(none yet: add [[proxy.instances]])".to_string() } else { stable.join(", ") },
            if canary.is_empty() { "(none yet)".to_string() } else { canary.join(", ") },
            p.admin
        ));
    }
    if staging {
        next.push(format!(
            "  ship proxy --staging &    # staging on {} (staging.stable/canary); admin {}",
            cfg.staging.url, cfg.staging.admin
        ));
    }
    if !builtin && cfg.router.kind != RouterKind::Command
        || cfg.metrics.kind == MetricsKind::Prometheus
    {
        next.push("fill in the lines of ship.toml marked CHANGE (router and metric source)".into());
    }
    if cfg.router.kind == RouterKind::Command && cfg.router.command.set_weight.trim().is_empty() {
        next.push("set router.command.set_weight and metrics.command.command in ship.toml (or run `ship init --router builtin --stable HOST:PORT --canary HOST:PORT` in a new folder)".into());
    }
    next.push(format!(
        "let the Build loop write verdicts into {}/, list approvers' keys in {}, then `ship release new <name>`",
        cfg.paths.evaluations, cfg.paths.allowed_signers
    ));
    if cfg.staging.router != shiploop_config::StagingRouter::None {
        next.push("before a rollout: `ship rehearse <release>`, `ship check <release>`, `ship oncall ack <release> --as <you>`".into());
    }
    next
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
