//! `ship.toml`: the workspace's configuration, with the Ship loop's placeholders
//! (CANARY_PERCENTAGE, CANARY_DURATION, …, MAX_ERROR_RATE_INCREASE,
//! MAX_HEALTH_CHECK_FAILURE_RATE) as keys with defaults.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and every error
//! names the line and column in the file.

use serde::{Deserialize, Serialize};
use shiploop_artifacts::release::{Rollback, Stage, Trigger};
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;
use std::fmt;

mod choice;
mod criteria;
mod gates;
mod integrations;
mod judge;
mod operate;
mod proxy;
mod template;
pub use gates::{
    FlagsCfg, MigrationsCfg, OncallCfg, SmokeCfg, SmokeMethod, StagingCfg, StagingRouter,
    ValidationCfg,
};
pub use integrations::{
    AlertsCfg, AlertsKind, AuthCfg, CommandMetricsCfg, CommandRouterCfg, Counts, HaproxyRouterCfg,
    MetricsKind, NginxRouterCfg, PromQueryCfg, PrometheusCfg, Reduce, RouterKind, WebhookCfg,
    WebhookFormat, EVENT_TYPES,
};
/// `[router]` and `[metrics]`: the providers' own tables.
pub use integrations::{MetricsCfg as Metrics, RouterCfg as Router};
pub use judge::{JudgeCfg, Tick};
pub use operate::{HandoffCfg, OutcomeCfg, ServerCfg, StateCfg};
pub use proxy::{BadBalance, Balance, InstanceCfg, InstanceVersion, ProxyCfg};
pub use template::{default_toml, layout_toml, Layout, LayoutError, STAGING_ADMIN, STAGING_LISTEN};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
/// `ship.toml`: the workspace's configuration, every table with its defaults (docs/CONFIG.md).
pub struct Config {
    /// `[service]`
    pub service: Service,
    /// `[paths]`
    pub paths: Paths,
    /// `[approval]`
    pub approval: Approval,
    /// `[stages]`
    pub stages: Stages,
    /// `[rollback]`
    pub rollback: RollbackCfg,
    /// `[latency]`
    pub latency: Latency,
    /// `[rollout]`
    pub rollout: RolloutCfg,
    /// `[judge]`
    pub judge: JudgeCfg,
    /// `[router]`
    pub router: Router,
    /// `[metrics]`
    pub metrics: Metrics,
    /// User-defined stage checks by name (`resource-usage`, `user-feedback`, …).
    pub checks: BTreeMap<String, CheckCfg>,
    /// Data-integrity checks by name; `rollback.data_integrity_check` names one.
    pub integrity: BTreeMap<String, IntegrityCfg>,
    /// `[hotfix]`
    pub hotfix: Hotfix,
    /// `[proxy]`
    pub proxy: ProxyCfg,
    /// `[alerts]`
    pub alerts: AlertsCfg,
    /// Where rollout events are POSTed (`[[webhooks]]`).
    pub webhooks: Vec<WebhookCfg>,
    /// `[staging]`
    pub staging: StagingCfg,
    /// `[flags]`
    pub flags: FlagsCfg,
    /// `[migrations]`
    pub migrations: MigrationsCfg,
    /// `[oncall]`
    pub oncall: OncallCfg,
    /// `[validation]`
    pub validation: ValidationCfg,
    /// Post-deployment smoke tests (`[[smoke]]`).
    pub smoke: Vec<SmokeCfg>,
    /// `[handoff]`
    pub handoff: HandoffCfg,
    /// `[outcome]`
    pub outcome: OutcomeCfg,
    /// `[server]`
    pub server: ServerCfg,
    /// `[state]`
    pub state: StateCfg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[rollout]`: how a rollout ticks and decides.
pub struct RolloutCfg {
    /// How often a rollout measures and decides.
    pub tick_interval: Tick,
    /// Requests needed in a window before rates count as data.
    pub min_samples: u64,
    /// Consecutive ticks with a metric error that roll back.
    pub error_limit: u32,
    /// Consecutive ticks with a failed stage check that roll back.
    pub failure_limit: u32,
    /// How long past its duration a stage may wait for its checks to pass.
    pub max_hold: Dur,
    /// The most one tick interval adds to a stage's watched time.
    pub max_tick_gap: Dur,
    /// Whether a stage check without a `[checks.NAME]` query blocks promotion.
    pub strict_checks: bool,
}

impl Default for RolloutCfg {
    fn default() -> Self {
        RolloutCfg {
            tick_interval: Tick::Auto,
            min_samples: 50,
            error_limit: 4,
            failure_limit: 3,
            max_hold: Dur::from_secs(15 * 60),
            max_tick_gap: Dur::from_secs(60),
            strict_checks: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[checks.NAME]`: a stage check.
pub struct CheckCfg {
    /// The metric's key.
    pub metric: String,
    /// What its value must meet (`< 0.8`, `between 1 and 2`, …).
    pub condition: String,
    #[serde(default = "one")]
    /// Samples needed before the check counts (default 1).
    pub min_samples: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[integrity.NAME]`: a data-integrity check.
pub struct IntegrityCfg {
    /// A command that exits 0 while the data is consistent.
    #[serde(default)]
    pub command: String,
    /// Or an http:// URL that answers 2xx while the data is consistent.
    #[serde(default)]
    pub http: String,
    #[serde(default = "ten_secs")]
    /// How long the check may take (default 10s).
    pub timeout: Dur,
}

fn ten_secs() -> Dur {
    Dur::from_secs(10)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[hotfix]`: the hotfix path's shortcuts.
pub struct Hotfix {
    /// Stages a hotfix skips (the Ship loop's hotfix path: "skip non-essential stages").
    pub skip_stages: Vec<String>,
    /// How long the hotfix is watched at 100 % (the Ship loop's hotfix path: "15 min window").
    pub validation_window: Dur,
}

impl Default for Hotfix {
    fn default() -> Self {
        Hotfix {
            skip_stages: vec!["early-adopters".into(), "ga".into()],
            validation_window: Dur::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[service]`: the service the workspace ships.
pub struct Service {
    /// Its name.
    pub name: String,
    /// The service's runbook (a path in the workspace); the handoff to Operate requires it to
    /// exist when set. Empty: the service declares none.
    pub runbook: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[paths]`: where the workspace keeps its files, relative to its root.
pub struct Paths {
    /// Evaluation verdicts.
    pub evaluations: String,
    /// Release contracts.
    pub releases: String,
    /// Signals.
    pub signals: String,
    /// Missions and their outcome contracts.
    pub missions: String,
    /// The status file.
    pub status: String,
    /// The state folder (the rollout state database).
    pub state: String,
    /// The allowed-signers file (the approvers' keys).
    pub allowed_signers: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[approval]`
pub struct Approval {
    /// Human approvals a release needs.
    pub required_approvals: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[stages]`: the Ship loop's stages' traffic shares and durations.
pub struct Stages {
    /// Percent of traffic in the canary stage.
    pub canary_percentage: u8,
    /// How long the canary stage is watched.
    pub canary_duration: Dur,
    /// Percent of traffic in the early-adopters stage.
    pub early_adopter_percentage: u8,
    /// How long the early-adopters stage is watched.
    pub early_adopter_duration: Dur,
    /// Percent of traffic in the general-availability stage.
    pub ga_percentage: u8,
    /// How long the general-availability stage is watched.
    pub ga_duration: Dur,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[rollback]`: the automatic rollback triggers.
pub struct RollbackCfg {
    /// Percentage points of error rate the new version may add over the stable one.
    pub max_error_rate_increase: f64,
    /// Percent of canary instances that may fail health checks.
    pub max_health_check_failure_rate: f64,
    /// How many times `latency.p99_target` the new version's p99 may reach.
    pub p99_latency_factor: f64,
    /// Whether an active critical security alert rolls back.
    pub critical_security_alert: bool,
    /// The `[integrity.NAME]` check whose failure rolls back (empty: none).
    pub data_integrity_check: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[latency]`: the latency targets.
pub struct Latency {
    /// The p50 target.
    pub p50_target: Dur,
    /// The p99 target.
    pub p99_target: Dur,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            name: "app".into(),
            runbook: String::new(),
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            evaluations: "work/evaluations".into(),
            releases: "work/releases".into(),
            signals: "work/signals".into(),
            missions: "work/missions".into(),
            status: "STATUS.md".into(),
            state: ".ship".into(),
            allowed_signers: "work/allowed_signers".into(),
        }
    }
}

impl Default for Approval {
    fn default() -> Self {
        Approval {
            required_approvals: 1,
        }
    }
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            canary_percentage: 5,
            canary_duration: Dur::from_secs(600),
            early_adopter_percentage: 25,
            early_adopter_duration: Dur::from_secs(1800),
            ga_percentage: 50,
            ga_duration: Dur::from_secs(3600),
        }
    }
}

impl Default for RollbackCfg {
    fn default() -> Self {
        RollbackCfg {
            max_error_rate_increase: 1.0,
            max_health_check_failure_rate: 20.0,
            p99_latency_factor: 2.0,
            critical_security_alert: true,
            data_integrity_check: String::new(),
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            p50_target: Dur::from_millis(100),
            p99_target: Dur::from_millis(300),
        }
    }
}

/// A problem in ship.toml, with its 1-based position when known; `more` holds the problems
/// found after it (a syntax error stops at the first, the settings' checks report them all).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Line of the problem (1-based).
    pub line: usize,
    /// Column of the problem (1-based).
    pub column: usize,
    /// What is wrong there.
    pub message: String,
    /// The other problems, in the order they were found.
    pub more: Vec<ConfigError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        for e in &self.more {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// `table.key` when `offset` falls in the value of a one-line `key = value` (what a value
/// error's span points at); none for errors on a key or a table header.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[start..offset].split_once('=')?;
    let key = key.trim();
    let table = text[..start]
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('['))
        .and_then(|l| l.trim_start_matches('[').split(']').next())
        .map(str::trim);
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// A semantic problem found after parsing, and where it is: the path of keys to it
/// (`["smoke", "1", "method"]`: the second `[[smoke]]` table's `method`; an array's elements
/// by index, a named table such as `[checks.NAME]` by its name).
pub(crate) struct Problem {
    pub path: Vec<String>,
    /// Where to point instead when the key at `path` is not written in the file.
    pub or: Vec<String>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: &[&str], message: String) -> Problem {
        Problem {
            path: path.iter().map(|s| s.to_string()).collect(),
            or: Vec::new(),
            message,
        }
    }

    pub(crate) fn or_at(mut self, path: &[&str]) -> Problem {
        self.or = path.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The 1-based line and column to report it at.
    fn position(&self, text: &str) -> (usize, usize) {
        let (offset, written) = locate(text, &self.path);
        let offset = match locate(text, &self.or) {
            (Some(o), true) if !written => Some(o),
            _ => offset,
        };
        offset.map_or((1, 1), |o| position(text, o))
    }
}

/// (`"router.nginx"`, key, message): a key of a table with a fixed name.
impl From<(&str, &str, String)> for Problem {
    fn from((table, key, message): (&str, &str, String)) -> Problem {
        let mut path: Vec<String> = table.split('.').map(str::to_string).collect();
        path.push(key.to_string());
        Problem {
            path,
            or: Vec::new(),
            message,
        }
    }
}

/// The offset of the key at `path` and true when it is written in the file; else the nearest
/// table on the way that is (a `[[smoke]]` header when the missing key belongs to it) and
/// false; None when not even the first key is written.
fn locate(text: &str, path: &[String]) -> (Option<usize>, bool) {
    use toml::de::{DeTable, DeValue};
    let Ok(root) = DeTable::parse(text) else {
        return (None, false);
    };
    let mut found = 0;
    let mut at: Option<usize> = None;
    let mut table: Option<&DeTable> = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for seg in path {
        let next = if let Some(t) = table {
            t.iter()
                .find(|(k, _)| k.get_ref().as_ref() == seg.as_str())
                .map(|(k, v)| (k.span().start, v))
        } else if let Some(a) = array {
            seg.parse::<usize>()
                .ok()
                .and_then(|i| a.get(i))
                .map(|v| (v.span().start, v))
        } else {
            None
        };
        let Some((start, value)) = next else { break };
        at = Some(start);
        found += 1;
        table = value.get_ref().as_table();
        array = value.get_ref().as_array().map(|a| &a[..]);
    }
    (at, !path.is_empty() && found == path.len())
}

/// A parse or type error, at the place toml's span points (the value, the key or the table).
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let (line, column) = span.as_ref().map_or((1, 1), |s| position(text, s.start));
    let message = e.message().trim();
    let key = span.as_ref().and_then(|s| key_at(text, s.start));
    let message = if let Some(m) = span
        .as_ref()
        .and_then(|s| duration_hint(text, s.clone(), key.as_deref()?))
    {
        m
    } else if let Some(m) = span.as_ref().and_then(|s| duplicate_table(text, s.start)) {
        m
    } else {
        // A bad value's message (a duration, a number) does not say whose it is. (A choice's
        // does, and never comes here: Config::parse reports it as a problem at its key.)
        match key {
            Some(key) => format!("{key}: {message}"),
            None => message.to_string(),
        }
    };
    ConfigError {
        line,
        column,
        message,
        more: Vec::new(),
    }
}

/// For a bare number where a duration goes (`canary_duration = 10`): what to write instead.
/// Decided from the document, not from toml's message: the value is an integer, and the key
/// is a duration's, which takes the number with a unit (`"10s"`) and refuses it without one.
fn duration_hint(text: &str, span: std::ops::Range<usize>, key: &str) -> Option<String> {
    let value = text.get(span.clone())?.trim();
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let number = value.replace('_', "");
    // Whether the document with `written` in place of the number still fails right there.
    let refused = |written: &str| {
        let doc = format!("{}{written}{}", &text[..span.start], &text[span.end..]);
        toml::from_str::<Config>(&doc)
            .err()
            .and_then(|e| e.span())
            .is_some_and(|s| s.start == span.start)
    };
    if refused(&format!("\"{number}s\"")) || !refused(&format!("\"{number}\"")) {
        return None;
    }
    Some(format!(
        "{key} = {value}: write \"{number}ms\", \"{number}s\" or \"{number}m\" (a number needs a unit: ms, s, m, h, d)"
    ))
}

/// For a table defined twice (e.g. a section pasted from an example into a file that already
/// has it): where the first one is. For a key set twice: which. Both are found in the
/// document (the same header earlier in the file, the same key earlier in its table), not in
/// toml's message.
fn duplicate_table(text: &str, offset: usize) -> Option<String> {
    let header = |line: &str| -> Option<String> {
        let t = line.split('#').next()?.trim();
        let name = t.strip_prefix('[')?.strip_suffix(']')?;
        (!name.starts_with('[')).then(|| name.trim().to_string())
    };
    let (line, _) = position(text, offset);
    let here = text.lines().nth(line - 1)?;
    let Some(name) = header(here) else {
        let key = here.split_once('=')?.0.trim();
        let before: Vec<&str> = text.lines().take(line - 1).collect();
        let set_before = before
            .iter()
            .rev()
            .take_while(|l| !l.trim_start().starts_with('['))
            .any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key));
        return set_before.then(|| format!("duplicate key: `{key}` is set twice in this table"));
    };
    let first = text
        .lines()
        .position(|l| header(l).as_deref() == Some(&name))?
        + 1;
    (first < line).then(|| {
        format!(
            "[{name}] is already defined at line {first}: a table appears once, so set these keys in that one"
        )
    })
}

impl Config {
    /// Parses `ship.toml`: a syntax or type error where it is, or every settings problem.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        // A misspelled choice is a problem like the validator's, at its key: it is noted, the
        // first spelling put in its place, and the rest of the file read on.
        let mut doc = text.to_string();
        let mut misspelled = Vec::new();
        let cfg = loop {
            match toml::from_str::<Config>(&doc) {
                Ok(cfg) => break cfg,
                Err(e) => match choice::misspelled(&doc, &e) {
                    Some((problem, fixed)) => {
                        misspelled.push(problem);
                        doc = fixed;
                    }
                    None => return Err(syntax_error(&doc, &e)),
                },
            }
        };
        let mut problems = misspelled.into_iter().chain(cfg.problems()).map(|p| {
            let (line, column) = p.position(text);
            ConfigError {
                line,
                column,
                message: p.message,
                more: Vec::new(),
            }
        });
        if let Some(mut first) = problems.next() {
            first.more = problems.collect();
            return Err(first);
        }
        Ok(cfg)
    }

    /// Every semantic problem, in the order of the checks: a check whose setting is wrong
    /// reports it and the next ones still run.
    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let s = &self.stages;
        let order = [
            ("canary_percentage", s.canary_percentage),
            ("early_adopter_percentage", s.early_adopter_percentage),
            ("ga_percentage", s.ga_percentage),
        ];
        let mut last = 0;
        for (key, p) in order {
            if p == 0 || p >= 100 {
                out.push(Problem::from(("stages", key, format!("stages.{key} = {p}: must be between 1 and 99 (the last stage is always 100 %)"))));
            } else if p <= last {
                out.push(Problem::from((
                    "stages",
                    key,
                    format!("stages.{key} = {p}: must be greater than the previous stage's {last}"),
                )));
            }
            last = p;
        }
        for (key, d) in [
            ("canary_duration", s.canary_duration),
            ("early_adopter_duration", s.early_adopter_duration),
            ("ga_duration", s.ga_duration),
        ] {
            if d.0.is_zero() {
                out.push(Problem::from((
                    "stages",
                    key,
                    format!("stages.{key}: a stage must be watched for longer than 0s"),
                )));
            }
        }
        let r = &self.rollback;
        if !(r.max_error_rate_increase >= 0.0 && r.max_error_rate_increase <= 100.0) {
            out.push(Problem::from((
                "rollback",
                "max_error_rate_increase",
                "rollback.max_error_rate_increase: percentage points between 0 and 100".into(),
            )));
        }
        if !(r.max_health_check_failure_rate >= 0.0 && r.max_health_check_failure_rate <= 100.0) {
            out.push(Problem::from((
                "rollback",
                "max_health_check_failure_rate",
                "rollback.max_health_check_failure_rate: a percentage between 0 and 100".into(),
            )));
        }
        if r.p99_latency_factor.is_nan() || r.p99_latency_factor < 1.0 {
            out.push(Problem::from((
                "rollback",
                "p99_latency_factor",
                "rollback.p99_latency_factor: must be at least 1".into(),
            )));
        }
        if self.approval.required_approvals == 0 {
            out.push(Problem::from((
                "approval",
                "required_approvals",
                "approval.required_approvals: at least one human approval is required".into(),
            )));
        }
        if self.latency.p99_target.0.is_zero() {
            out.push(Problem::from((
                "latency",
                "p99_target",
                "latency.p99_target: must be greater than 0".into(),
            )));
        }
        let ro = &self.rollout;
        if self.tick_interval() < std::time::Duration::from_millis(50) {
            out.push(Problem::from((
                "rollout",
                "tick_interval",
                "rollout.tick_interval: at least 50ms".into(),
            )));
        }
        if ro.max_tick_gap.0 < self.tick_interval() {
            out.push(Problem::from(("rollout", "max_tick_gap", "rollout.max_tick_gap: at least rollout.tick_interval, or watched time could never add up".into())));
        }
        if ro.error_limit == 0 || ro.failure_limit == 0 {
            out.push(Problem::from((
                "rollout",
                "error_limit",
                "rollout.error_limit and rollout.failure_limit: at least 1".into(),
            )));
        }
        out.extend(integrations::provider_problems(self));
        if let Some((key, message)) = self.judge.problem() {
            out.push(Problem::from(("judge", key, message)));
        }
        if self.rollback.critical_security_alert
            && self.alerts.kind == AlertsKind::None
            && !self.metrics.configured().answers_alerts()
        {
            out.push(Problem::from(("rollback", "critical_security_alert", format!("rollback.critical_security_alert = true needs an alert source, and metrics.kind = {:?} has none: set [alerts] kind = \"alertmanager\", or critical_security_alert = false", self.metrics.kind.as_str()))));
        }
        if let Some(p) = gates::problem(
            &self.staging,
            &self.validation,
            &self.smoke,
            &self.checks,
            self.router.kind.as_str(),
        ) {
            out.push(p);
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(Problem::from((
                "server",
                "listen",
                format!(
                    "server.listen {:?} is not an address like \"127.0.0.1:8480\"",
                    self.server.listen
                ),
            )));
        }
        if self.server.run_proxy && self.router.kind != RouterKind::Builtin {
            out.push(Problem::from((
                "server",
                "run_proxy",
                format!(
                    "server.run_proxy runs ship's own proxy, but router.kind = {:?}: set router.kind = \"builtin\" or run_proxy = false",
                    self.router.kind.as_str()
                ),
            )));
        }
        if self.server.poll.0.is_zero() {
            out.push(Problem::from((
                "server",
                "poll",
                "server.poll must be more than 0".to_string(),
            )));
        }
        for (key, d) in [
            ("header_read_timeout", self.server.header_read_timeout),
            ("request_timeout", self.server.request_timeout),
        ] {
            if d.0.is_zero() {
                out.push(Problem::from((
                    "server",
                    key,
                    format!("server.{key} must be more than 0"),
                )));
            }
        }
        for (key, n) in [
            ("max_connections", self.server.max_connections),
            ("max_streams", self.server.max_streams),
            ("max_streams_per_token", self.server.max_streams_per_token),
        ] {
            if n == 0 {
                out.push(Problem::from((
                    "server",
                    key,
                    format!("server.{key} must be at least 1"),
                )));
            }
        }
        if !(3..=600).contains(&self.state.lease_ttl.0.as_secs()) {
            out.push(Problem::from((
                "state",
                "lease_ttl",
                format!(
                    "state.lease_ttl = {}: between 3s and 10m (a dead replica's rollouts wait this long)",
                    self.state.lease_ttl
                ),
            )));
        }
        if self.server.poll.0.saturating_mul(3) > self.state.lease_ttl.0 {
            out.push(Problem::from((
                "state",
                "lease_ttl",
                format!(
                    "state.lease_ttl = {} is renewed every third of it, but server.poll = {} comes less often: make lease_ttl at least 3 × poll",
                    self.state.lease_ttl, self.server.poll
                ),
            )));
        }
        if self.state.sample_retention.0 < std::time::Duration::from_secs(3600) {
            out.push(Problem::from((
                "state",
                "sample_retention",
                "state.sample_retention must be at least 1h".to_string(),
            )));
        }
        if !(2..=11_000).contains(&self.outcome.chart_points) {
            out.push(Problem::from((
                "outcome",
                "chart_points",
                format!(
                    "outcome.chart_points = {}: between 2 and 11000 (Prometheus answers at most 11000 points)",
                    self.outcome.chart_points
                ),
            )));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            if let Some((key, message)) = w.problem(i) {
                out.push(Problem::new(&["webhooks", &i.to_string(), key], message));
            }
        }
        if let Some(p) = self.proxy.problem() {
            out.push(p);
        }
        for (name, c) in &self.checks {
            if let Err(e) = c.condition.parse::<shiploop_rollout::Condition>() {
                out.push(Problem::new(
                    &["checks", name, "condition"],
                    format!("checks.{name}.condition: {e}"),
                ));
            }
        }
        for (name, c) in &self.integrity {
            if c.command.trim().is_empty() == c.http.trim().is_empty() {
                let key = if c.command.trim().is_empty() {
                    "http"
                } else {
                    "command"
                };
                out.push(Problem::new(
                    &["integrity", name, key],
                    format!("integrity.{name}: give exactly one of `command` or `http`"),
                ));
            }
        }
        let di = self.rollback.data_integrity_check.trim();
        if !di.is_empty() && !self.integrity.contains_key(di) {
            out.push(Problem::from(("rollback", "data_integrity_check", format!("rollback.data_integrity_check = {di:?} but there is no [integrity.{di}] with its command"))));
        }
        let name = &self.service.name;
        if name.trim().is_empty() || name.contains(['/', '\\', '\n']) {
            out.push(Problem::from((
                "service",
                "name",
                format!("service.name {name:?}: must be a non-empty name without slashes"),
            )));
        }
        out
    }

    /// How often a rollout ticks: `rollout.tick_interval`, with "auto" resolved for the
    /// metric source.
    pub fn tick_interval(&self) -> std::time::Duration {
        self.rollout
            .tick_interval
            .resolve(self.metrics.configured().auto_tick())
    }

    /// The Ship loop's four stages with this config's percentages, durations and health checks.
    pub fn rollout_stages(&self) -> Vec<Stage> {
        let s = &self.stages;
        let stage1 = ["error-rate", "latency", "resource-usage"];
        let stage2 = ["user-feedback", "feature-adoption"];
        let stage3 = ["business-metrics", "customer-impact"];
        let checks = |parts: &[&[&str]]| -> Vec<String> {
            parts
                .iter()
                .flat_map(|p| p.iter().map(|c| c.to_string()))
                .collect()
        };
        vec![
            Stage {
                name: "canary".into(),
                title: "Internal / Canary".into(),
                weight: s.canary_percentage,
                duration: Some(s.canary_duration),
                checks: checks(&[&stage1]),
                notes: vec!["internal users first".into()],
            },
            Stage {
                name: "early-adopters".into(),
                title: "Early adopters".into(),
                weight: s.early_adopter_percentage,
                duration: Some(s.early_adopter_duration),
                checks: checks(&[&stage1, &stage2]),
                notes: vec![],
            },
            Stage {
                name: "ga".into(),
                title: "General availability".into(),
                weight: s.ga_percentage,
                duration: Some(s.ga_duration),
                checks: checks(&[&stage1, &stage2, &stage3]),
                notes: vec![],
            },
            Stage {
                name: "full".into(),
                title: "Full rollout".into(),
                weight: 100,
                duration: None,
                checks: checks(&[&stage1, &stage2, &stage3]),
                notes: vec![
                    "continue monitoring".into(),
                    "feature flag cleanup scheduled".into(),
                ],
            },
        ]
    }

    /// The Ship loop's rollback criteria with this config's thresholds.
    pub fn rollback(&self) -> Rollback {
        let r = &self.rollback;
        let mut automatic = vec![
            Trigger::ErrorRate {
                max_increase_pp: r.max_error_rate_increase,
            },
            Trigger::P99Latency {
                target: self.latency.p99_target,
                factor: r.p99_latency_factor,
            },
            Trigger::HealthChecks {
                max_failed_pct: r.max_health_check_failure_rate,
            },
        ];
        if r.critical_security_alert {
            automatic.push(Trigger::CriticalSecurityAlert {});
        }
        let check = r.data_integrity_check.trim();
        automatic.push(Trigger::DataIntegrity {
            check: (!check.is_empty()).then(|| check.to_string()),
        });
        Rollback {
            automatic,
            manual: vec![
                "Customer reports of broken functionality".into(),
                "Business metric degradation".into(),
                "Regulatory compliance concern".into(),
            ],
        }
    }

    /// Values for the Ship loop's `{{PLACEHOLDER}}`s, for templates.
    pub fn placeholders(&self) -> Vec<(&'static str, String)> {
        let s = &self.stages;
        let r = &self.rollback;
        vec![
            ("CANARY_PERCENTAGE", format!("{} %", s.canary_percentage)),
            ("CANARY_DURATION", s.canary_duration.to_string()),
            (
                "EARLY_ADOPTER_PERCENTAGE",
                format!("{} %", s.early_adopter_percentage),
            ),
            (
                "EARLY_ADOPTER_DURATION",
                s.early_adopter_duration.to_string(),
            ),
            ("GA_PERCENTAGE", format!("{} %", s.ga_percentage)),
            ("GA_DURATION", s.ga_duration.to_string()),
            (
                "MAX_ERROR_RATE_INCREASE",
                format!("{} percentage point(s)", r.max_error_rate_increase),
            ),
            (
                "MAX_HEALTH_CHECK_FAILURE_RATE",
                format!("{} %", r.max_health_check_failure_rate),
            ),
            ("P99_LATENCY_TARGET", self.latency.p99_target.to_string()),
            ("P50_LATENCY_TARGET", self.latency.p50_target.to_string()),
            ("SERVICE", self.service.name.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_outside_its_set_names_the_key_and_the_spellings() {
        let e = Config::parse("[judge]\ninconclusive = \"maybe\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(
            e.message,
            "judge.inconclusive \"maybe\": \"pause\", \"promote\" or \"rollback\""
        );
        let e = Config::parse("[validation]\non_failure = \"ignore\"\n").unwrap_err();
        assert_eq!(
            e.message,
            "validation.on_failure = \"ignore\": use \"rollback\" or \"manual\""
        );
        let c = Config::parse("[judge]\ninconclusive = \"rollback\"\n").unwrap();
        assert_eq!(
            c.judge.inconclusive,
            shiploop_artifacts::criteria::Inconclusive::Rollback
        );
    }

    #[test]
    fn every_settings_problem_is_reported_with_its_line() {
        let text = "[stages]\ncanary_percentage = 0\n\n[server]\npoll = \"0s\"\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("stages.canary_percentage = 0"), "{e}");
        assert_eq!(e.more.len(), 1, "{e}");
        assert_eq!(e.more[0].line, 5, "{e}");
        assert_eq!(e.more[0].message, "server.poll must be more than 0", "{e}");
        assert!(
            e.to_string().contains("\nline 5, column 1: server.poll"),
            "{e}"
        );
    }

    #[test]
    fn the_generated_file_parses_to_the_defaults() {
        assert_eq!(
            Config::parse(&default_toml("app")).unwrap(),
            Config::default()
        );
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_documented_in_config_md() {
        let doc = include_str!("../../../docs/CONFIG.md");
        let text = default_toml("app");
        let mut table = String::new();
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                table = t.trim_matches(['[', ']']).to_string();
            } else if !t.starts_with('#') && t.contains('=') {
                let key = t.split('=').next().unwrap().trim();
                let full = format!("{table}.{key}");
                assert!(
                    doc.contains(&format!("`{full}`")),
                    "docs/CONFIG.md does not document `{full}`"
                );
            }
        }
    }

    #[test]
    fn typos_and_bad_values_name_their_line() {
        let e =
            Config::parse("[stages]\ncanary_percentage = 5\ncanary_percentag = 7\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("canary_percentag"), "{e}");

        let e = Config::parse("[stages]\ncanary_duration = \"ten\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("invalid duration"), "{e}");

        let e = Config::parse("[stages]\ncanary_percentage = 30\nearly_adopter_percentage = 25\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("greater than"), "{e}");

        let e = Config::parse("[approval]\nrequired_approvals = 0\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    /// (line, column, message) of the error in `text`.
    fn error_at(text: &str) -> (usize, usize, String) {
        let e = Config::parse(text).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn errors_in_arrays_of_tables_and_named_tables_name_their_line() {
        // Parse errors: toml's span.
        let smoke = "[router]\nkind = \"builtin\"\n\n[[smoke]]\nname = \"home\"\npath = \"/\"\n\n[[smoke]]\nname = \"cart\"\npath = \"/cart\"\n";
        let (l, c, m) = error_at(&format!("{smoke}status = \"abc\"\n"));
        assert_eq!((l, c), (11, 10), "{m}");
        assert!(m.contains("smoke.status"), "{m}");
        let (l, c, m) = error_at(&format!("{smoke}statuss = 200\n"));
        assert_eq!((l, c), (11, 1), "{m}");
        assert!(m.contains("unknown field `statuss`"), "{m}");
        // Problems found after parsing: the second [[smoke]] table's key, not the first's.
        let (l, c, m) = error_at(&format!("{smoke}method = \"FETCH\"\n"));
        assert_eq!((l, c), (11, 1), "{m}");
        assert!(m.contains("not an HTTP method"), "{m}");
        let (l, _, m) = error_at(&format!(
            "{smoke}\n[[smoke]]\nname = \"cart\"\ncommand = \"true\"\n"
        ));
        assert_eq!(l, 13, "{m}");
        assert!(m.contains("two [[smoke]] tests"), "{m}");
        // A key that is not written: the table it belongs to.
        let (l, c, m) = error_at(&format!("{smoke}\n[[smoke]]\nname = \"bare\"\n"));
        assert_eq!((l, c), (12, 1), "{m}");
        assert!(m.contains("not neither"), "{m}");
        // validation.base_url not written: the smoke test that needs it.
        let (l, _, m) = error_at("[[smoke]]\nname = \"home\"\npath = \"/\"\n");
        assert_eq!(l, 3, "{m}");
        assert!(m.contains("validation.base_url"), "{m}");
        let (l, _, m) =
            error_at("[validation]\nbase_url = \"\"\n\n[[smoke]]\nname = \"home\"\npath = \"/\"\n");
        assert_eq!(l, 2, "{m}");
        assert!(m.contains("validation.base_url"), "{m}");

        let hooks = "[[webhooks]]\nurl = \"http://a/\"\n\n[[webhooks]]\nurl = \"http://b/\"\n";
        let (l, c, m) = error_at(&format!("{hooks}format = \"email\"\n"));
        assert_eq!((l, c), (6, 1), "{m}");
        let (l, c, m) = error_at(&format!("{hooks}retries = 3\n"));
        assert_eq!((l, c), (6, 1), "{m}");
        assert!(m.contains("unknown field `retries`"), "{m}");
        let (l, _, m) = error_at(&format!("{hooks}\n[[webhooks]]\nurl = \"ftp://c/\"\n"));
        assert_eq!(l, 8, "{m}");
        assert!(m.contains("webhooks[2].url"), "{m}");

        let inst = "[[proxy.instances]]\nversion = \"stable\"\naddress = \"127.0.0.1:8001\"\n\n[[proxy.instances]]\nversion = \"canary\"\naddress = \"127.0.0.1:8001\"\n";
        let (l, c, m) = error_at(inst);
        assert_eq!((l, c), (7, 1), "{m}");
        assert!(m.contains("listed twice"), "{m}");
        let (l, _, m) = error_at(&inst.replace("\"canary\"", "\"green\""));
        assert_eq!(l, 6, "{m}");
        let (l, _, m) = error_at(&format!("{inst}weight = 3\n"));
        assert_eq!(l, 8, "{m}");
        assert!(m.contains("unknown field `weight`"), "{m}");

        let checks = "[checks.rss]\nmetric = \"canary/rss\"\ncondition = \"< 1\"\n\n[checks.cpu]\nmetric = \"canary/cpu\"\ncondition = \"lower than 2\"\n";
        let (l, c, m) = error_at(checks);
        assert_eq!((l, c), (7, 1), "{m}");
        assert!(m.contains("checks.cpu.condition"), "{m}");
        let (l, _, m) = error_at(&format!("{checks}threshold = 2\n"));
        assert_eq!(l, 8, "{m}");
        assert!(m.contains("unknown field `threshold`"), "{m}");

        let integrity =
            "[integrity.orders]\ncommand = \"true\"\n\n[integrity.ledger]\ntimeout = \"5s\"\n";
        let (l, _, m) = error_at(integrity);
        assert_eq!(l, 4, "the [integrity.ledger] header: {m}");
        assert!(m.contains("integrity.ledger"), "{m}");
        let (l, _, m) = error_at(&format!(
            "{integrity}command = \"true\"\nhttp = \"http://a/\"\n"
        ));
        assert_eq!(l, 6, "{m}");
        let (l, c, m) = error_at("[integrity.orders]\ncommand = \"true\"\ntimeout = 5\n");
        assert_eq!((l, c), (3, 11), "{m}");
        let (l, _, m) = error_at(&format!("{integrity}timeout = \"9s\"\n"));
        assert_eq!(l, 6, "{m}");
        assert!(m.contains("`timeout` is set twice"), "{m}");
    }

    #[test]
    fn a_bare_number_for_a_duration_says_to_write_a_unit() {
        let (l, c, m) = error_at("[stages]\ncanary_percentage = 5\ncanary_duration = 10\n");
        assert_eq!((l, c), (3, 19), "{m}");
        assert_eq!(
            m,
            "stages.canary_duration = 10: write \"10ms\", \"10s\" or \"10m\" (a number needs a unit: ms, s, m, h, d)"
        );
        // In an array of tables, in a named table, and an optional duration.
        let (l, c, m) = error_at("[[smoke]]\nname = \"a\"\ncommand = \"true\"\ntimeout = 5\n");
        assert_eq!((l, c), (4, 11), "{m}");
        assert!(
            m.starts_with(
                "smoke.timeout = 5: write \"5ms\", \"5s\" or \"5m\" (a number needs a unit"
            ),
            "{m}"
        );
        let (l, _, m) =
            error_at("[[smoke]]\nname = \"a\"\npath = \"http://a/\"\nmax_latency = 300\n");
        assert_eq!(l, 4, "{m}");
        assert!(m.contains("write \"300ms\", \"300s\" or \"300m\""), "{m}");
        let (l, _, m) = error_at("[integrity.db]\ncommand = \"true\"\ntimeout = 30\n");
        assert_eq!(l, 3, "{m}");
        assert!(
            m.contains("integrity.db.timeout = 30: write \"30ms\", \"30s\" or \"30m\""),
            "{m}"
        );
        // A number where a number goes, or a string, is not a duration.
        let (_, _, m) = error_at("[service]\nname = 10\n");
        assert!(!m.contains("unit"), "{m}");
        let (_, _, m) = error_at("[stages]\ncanary_percentage = \"5\"\n");
        assert!(!m.contains("unit"), "{m}");
    }

    #[test]
    fn a_table_written_twice_names_the_first() {
        let (l, _, m) =
            error_at("[stages]\ncanary_percentage = 5\n\n[router]\nkind = \"builtin\"\n\n[stages]\ncanary_duration = \"1m\"\n");
        assert_eq!(l, 7, "{m}");
        assert!(m.contains("[stages] is already defined at line 1"), "{m}");
    }

    #[test]
    fn absurd_durations_are_refused_naming_their_key() {
        for (toml, key, line) in [
            (
                "[validation]\nwindow = \"100000000y\"\n",
                "validation.window",
                2,
            ),
            (
                "[rollout]\n\ntick_interval = \"500000000000y\"\n",
                "rollout.tick_interval",
                3,
            ),
            (
                "[rollout]\nmax_hold = \"18446744073709551616s\"\n",
                "rollout.max_hold",
                2,
            ),
            (
                "[stages] # ours\ncanary_duration = \"11y\"\n",
                "stages.canary_duration",
                2,
            ),
            (
                "[[smoke]]\nname = \"home\"\ntimeout = \"11y\"\n",
                "smoke.timeout",
                3,
            ),
        ] {
            let e = Config::parse(toml).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.starts_with(&format!("{key}: ")), "{e}");
        }
        // The limit itself is accepted.
        let c = Config::parse("[rollout]\ntick_interval = \"10y\"\nmax_tick_gap = \"10y\"\n");
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn rollout_sections_are_checked() {
        let e = Config::parse("[router]\nkind = \"carrier-pigeon\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        let c = Config::parse("[rollback]\ncritical_security_alert = false\n[router]\nkind = \"builtin\"\n[metrics]\nkind = \"builtin\"\n[proxy]\nadmin = \"127.0.0.1:9999\"\n[[proxy.instances]]\nversion = \"stable\"\naddress = \"127.0.0.1:8001\"\n[[proxy.instances]]\nversion = \"canary\"\naddress = \"127.0.0.1:8002\"\ncommand = \"ship-sample --version v2\"\n").unwrap();
        assert_eq!(c.proxy.admin_url(), "http://127.0.0.1:9999");
        assert_eq!(c.proxy.addresses(crate::InstanceVersion::Canary).len(), 1);
        let e = Config::parse("[metrics]\nkind = \"prometheus\"\n").unwrap_err();
        assert!(e.message.contains("needs an alert source"), "{e}");
        let e = Config::parse("[proxy]\nbalance = \"random\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Config::parse("[proxy]\nsticky_header = \"x user\"\n").unwrap_err();
        assert!(e.message.contains("not a valid HTTP header name"), "{e}");
        let e =
            Config::parse("[[proxy.instances]]\nversion = \"blue\"\naddress = \"127.0.0.1:1\"\n")
                .unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("\"stable\" or \"canary\"")),
            (2, true),
            "{e}"
        );
        let e =
            Config::parse("[[proxy.instances]]\nversion = \"stable\"\naddress = \"localhost\"\n")
                .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = Config::parse("[checks.resource-usage]\nmetric = \"cpu\"\ncondition = \"~ 3\"\n")
            .unwrap_err();
        assert!(e.message.contains("checks.resource-usage.condition"), "{e}");
        let c = Config::parse("[checks.resource-usage]\nmetric = \"cpu\"\ncondition = \"< 0.8\"\n")
            .unwrap();
        assert_eq!(c.checks["resource-usage"].min_samples, 1);
    }

    #[test]
    fn stages_and_triggers_follow_the_config() {
        let c = Config::parse("[stages]\ncanary_percentage = 10\ncanary_duration = \"30s\"\n[rollback]\ndata_integrity_check = \"orders-balance\"\ncritical_security_alert = false\n[integrity.orders-balance]\ncommand = \"true\"\n").unwrap();
        let st = c.rollout_stages();
        assert_eq!(
            st.iter().map(|s| s.weight).collect::<Vec<_>>(),
            vec![10, 25, 50, 100]
        );
        assert_eq!(st[0].duration, Some(Dur::from_secs(30)));
        assert!(st[1].checks.contains(&"user-feedback".to_string()));
        assert!(st[2].checks.contains(&"customer-impact".to_string()));
        let rb = c.rollback();
        assert!(!rb
            .automatic
            .iter()
            .any(|t| matches!(t, Trigger::CriticalSecurityAlert {})));
        assert!(rb.automatic.contains(&Trigger::DataIntegrity {
            check: Some("orders-balance".into())
        }));
    }
}

/// Sets `key` of `[table]` in ship.toml text to `value` (a TOML value, e.g. `"\"builtin\""`),
/// keeping every other line and comment (`toml_edit` keeps the layout; the key's own line
/// comment goes with its old value). `table` may be dotted (`router.nginx`); in a `[[table]]`
/// array the first one with the key is set. None when the table has no such key, or the text
/// or the value is not TOML. For tools that adjust a `ship init` file (the demo, tests,
/// examples' scripts).
pub fn set_key(text: &str, table: &str, key: &str, value: &str) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    let mut item = doc.as_item_mut();
    for name in table.split('.') {
        item = item.get_mut(name)?;
    }
    let slot = match item {
        toml_edit::Item::ArrayOfTables(tables) => tables
            .iter_mut()
            .find_map(|t| t.get_mut(key).filter(|v| v.is_value()))?,
        other => other.as_table_like_mut()?.get_mut(key)?,
    };
    if !slot.is_value() {
        return None;
    }
    *slot = toml_edit::Item::Value(value.parse().ok()?);
    Some(doc.to_string())
}

#[cfg(test)]
mod set_key_tests {
    #[test]
    fn sets_only_the_key_of_that_table() {
        let t = "[a]\nx = 1 # c\n[b]\nx = 2\n";
        assert_eq!(
            super::set_key(t, "b", "x", "3").unwrap(),
            "[a]\nx = 1 # c\n[b]\nx = 3\n"
        );
        assert!(super::set_key(t, "c", "x", "3").is_none());
        // Layout kept: indentation, spacing, other comments, a value over several lines.
        let t = "# top\n[a]\n  x=\"q\"   # c\n\n[a.b]\nl = [\n  1, # one\n]\n[[i]]\nn = 1\n[[i]]\nv = 1\n";
        assert_eq!(
            super::set_key(t, "a", "x", "\"r\"").unwrap(),
            "# top\n[a]\n  x= \"r\"\n\n[a.b]\nl = [\n  1, # one\n]\n[[i]]\nn = 1\n[[i]]\nv = 1\n"
        );
        assert_eq!(
            super::set_key(t, "a.b", "l", "[2]").unwrap(),
            "# top\n[a]\n  x=\"q\"   # c\n\n[a.b]\nl = [2]\n[[i]]\nn = 1\n[[i]]\nv = 1\n"
        );
        let array = super::set_key(t, "i", "v", "2").unwrap();
        assert!(array.ends_with("[[i]]\nv = 2\n"), "{array}");
        let table = super::set_key(t, "a", "b", "1");
        assert!(table.is_none(), "a table is not a key");
        assert!(super::set_key(t, "a", "x", "not toml").is_none());
        let cfg = super::default_toml("app");
        let edited = super::set_key(&cfg, "staging", "router", "\"builtin\"").unwrap();
        assert!(edited.contains("[staging]"));
        assert_ne!(edited, cfg);
    }
}
