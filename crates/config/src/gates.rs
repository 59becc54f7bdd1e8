//! What the pre-deployment gates and post-deployment validation need: the staging target of
//! the rollback rehearsal (`[staging]`), the feature-flag registry (`[flags]`), migration files
//! (`[migrations]`), the on-call notification (`[oncall]`), the validation window
//! (`[validation]`) and the smoke tests (`[[smoke]]`).

use crate::Problem;
use serde::{Deserialize, Deserializer, Serialize};
use shiploop_artifacts::criteria::OnFailure;
use shiploop_artifacts::Dur;
use std::collections::BTreeMap;

/// `[staging]`: a staging copy of the service behind its own router, where `ship rehearse`
/// shifts traffic to the new version and back before production sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StagingCfg {
    /// "none" (no staging: the rehearsal gate fails), "builtin" (a `ship proxy` in staging) or
    /// "command" (your command moves staging traffic).
    #[serde(deserialize_with = "staging_router")]
    pub router: StagingRouter,
    /// builtin: the staging proxy's admin API (host:port).
    pub admin: String,
    /// builtin: the environment variable with the staging admin token.
    pub token_env: String,
    /// command: sets the new version's share of staging traffic to {weight} percent.
    pub set_weight: String,
    /// Where staging answers; every answer names the version that served it in `probe_header`.
    pub url: String,
    /// The header every staging answer names its version in.
    pub probe_header: String,
    /// That header's value when the stable version answered.
    pub stable_value: String,
    /// That header's value when the new version answered.
    pub canary_value: String,
    /// How many answers in a row must come from one version to count as "it serves everything".
    pub probe_requests: u32,
    /// The longest a traffic shift may take to show in the answers.
    pub timeout: Dur,
    /// How old a rehearsal (and a flag evaluation in staging) may be when `ship check` runs.
    pub max_age: Dur,
    /// builtin: the staging instances `ship proxy --staging` serves (host:port each).
    pub stable: Vec<std::net::SocketAddr>,
    /// builtin: the new version's staging instances (host:port each).
    pub canary: Vec<std::net::SocketAddr>,
}

/// What moves staging traffic (`staging.router`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StagingRouter {
    /// No staging: the rehearsal gate fails.
    None,
    /// A `ship proxy --staging`.
    Builtin,
    /// `staging.set_weight`, your command.
    Command,
}

impl StagingRouter {
    /// The spellings, as ship.toml writes them.
    pub const SPELLINGS: &'static [&'static str] = &["none", "builtin", "command"];
    const ALL: [(&'static str, StagingRouter); 3] = [
        ("none", StagingRouter::None),
        ("builtin", StagingRouter::Builtin),
        ("command", StagingRouter::Command),
    ];

    /// As ship.toml writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            StagingRouter::None => "none",
            StagingRouter::Builtin => "builtin",
            StagingRouter::Command => "command",
        }
    }

    pub(crate) fn problem(written: &str) -> String {
        format!("staging.router = {written:?}: use \"none\", \"builtin\" or \"command\"")
    }
}

impl std::fmt::Display for StagingRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn staging_router<'de, D: Deserializer<'de>>(d: D) -> Result<StagingRouter, D::Error> {
    crate::choice::one_of(d, &StagingRouter::ALL, StagingRouter::problem)
}

impl Default for StagingCfg {
    fn default() -> Self {
        StagingCfg {
            router: StagingRouter::None,
            admin: String::new(),
            token_env: "SHIP_STAGING_ADMIN_TOKEN".into(),
            set_weight: String::new(),
            url: String::new(),
            probe_header: "x-ship-routed-to".into(),
            stable_value: "stable".into(),
            canary_value: "canary".into(),
            probe_requests: 20,
            timeout: Dur::from_secs(30),
            max_age: Dur::from_secs(7 * 24 * 3600),
            stable: Vec::new(),
            canary: Vec::new(),
        }
    }
}

/// `[flags]`: the feature-flag registry and how a flag is evaluated in staging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagsCfg {
    /// The registry file (YAML); flags may also be declared inline under `[flags.registry.NAME]`.
    pub registry_file: String,
    /// A command that exits 0 when flag {flag} evaluates in staging ({url} is staging.url).
    pub staging_check: String,
    /// …or a URL with {flag} that answers 2xx when it does.
    pub staging_http: String,
    /// How long a staging check may take.
    pub timeout: Dur,
    /// Inline registry entries, by flag name (same fields as in the registry file).
    pub registry: BTreeMap<String, toml::Value>,
}

impl Default for FlagsCfg {
    fn default() -> Self {
        FlagsCfg {
            registry_file: "work/flags.yaml".into(),
            staging_check: String::new(),
            staging_http: String::new(),
            timeout: Dur::from_secs(10),
            registry: BTreeMap::new(),
        }
    }
}

/// `[migrations]`: migration files linted for every release, besides those a contract names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationsCfg {
    /// Files or directories (every *.sql below) relative to the workspace root.
    pub paths: Vec<String>,
}

/// `[oncall]`: how the on-call team hears that a release is about to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallCfg {
    /// Who is notified (for the message and the records).
    pub team: String,
    /// A command run with {release}, {service} and {message} (e.g. a pager's CLI); the
    /// `oncall.notified` event also goes to every `[[webhooks]]` receiver.
    pub notify_command: String,
    /// How long the notify command may take.
    pub timeout: Dur,
}

impl Default for OncallCfg {
    fn default() -> Self {
        OncallCfg {
            team: "on-call".into(),
            notify_command: String::new(),
            timeout: Dur::from_secs(30),
        }
    }
}

/// `[validation]`: post-deployment validation after the last stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationCfg {
    /// How long production is watched at 100 % (a hotfix uses hotfix.validation_window).
    pub window: Dur,
    /// Run it by itself when the rollout reaches 100 % (`ship rollout start` goes on to it).
    pub auto: bool,
    /// "rollback": a failed validation sends traffic back to the stable version at once;
    /// "manual": it raises the incident and leaves the rollback to a person.
    #[serde(deserialize_with = "on_failure")]
    pub on_failure: OnFailure,
    /// Where the smoke tests' paths are requested; default: the builtin proxy's listen address.
    pub base_url: String,
    /// Stage checks (`[checks.NAME]`) that bound resource consumption during the window.
    pub resource_checks: Vec<String>,
}

fn on_failure<'de, D: Deserializer<'de>>(d: D) -> Result<OnFailure, D::Error> {
    crate::choice::one_of(d, &OnFailure::ALL, on_failure_problem)
}

pub(crate) fn on_failure_problem(written: &str) -> String {
    format!("validation.on_failure = {written:?}: use \"rollback\" or \"manual\"")
}

impl Default for ValidationCfg {
    fn default() -> Self {
        ValidationCfg {
            window: Dur::from_secs(30 * 60),
            auto: true,
            on_failure: OnFailure::Rollback,
            base_url: String::new(),
            resource_checks: Vec::new(),
        }
    }
}

/// One `[[smoke]]` test: an HTTP request with expectations, or a command that must exit 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeCfg {
    /// The test's name, unique among `[[smoke]]` tests.
    pub name: String,
    #[serde(default, deserialize_with = "smoke_method")]
    /// The HTTP method (default GET).
    pub method: SmokeMethod,
    /// Path (joined to validation.base_url) or a full http:// URL.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    /// Request body.
    pub body: String,
    #[serde(default = "ok_status")]
    /// The status the answer must have (default 200).
    pub status: u16,
    /// The answer's body must contain this text…
    #[serde(default)]
    pub body_contains: String,
    /// …and/or the JSON value at this pointer (RFC 6901) must equal `json_equals`.
    #[serde(default)]
    pub json_pointer: String,
    #[serde(default)]
    /// The value `json_pointer` must point at.
    pub json_equals: Option<serde_json::Value>,
    #[serde(default)]
    /// The longest the answer may take.
    pub max_latency: Option<Dur>,
    /// Instead of a request: a command that must exit 0.
    #[serde(default)]
    pub command: String,
    #[serde(default = "ten")]
    /// How long the request or command may take (default 10s).
    pub timeout: Dur,
    /// `user-facing` marks the tests that verify what users see.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The HTTP methods a smoke test may use (`smoke.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SmokeMethod {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

impl SmokeMethod {
    /// The spellings, as ship.toml writes them.
    pub const SPELLINGS: &'static [&'static str] =
        &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    const ALL: [(&'static str, SmokeMethod); 7] = [
        ("GET", SmokeMethod::Get),
        ("HEAD", SmokeMethod::Head),
        ("POST", SmokeMethod::Post),
        ("PUT", SmokeMethod::Put),
        ("PATCH", SmokeMethod::Patch),
        ("DELETE", SmokeMethod::Delete),
        ("OPTIONS", SmokeMethod::Options),
    ];

    /// As ship.toml (and HTTP) writes it.
    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize].0
    }
}

fn smoke_method<'de, D: Deserializer<'de>>(d: D) -> Result<SmokeMethod, D::Error> {
    crate::choice::one_of(d, &SmokeMethod::ALL, |v| {
        format!("[[smoke]]: method {v:?} is not an HTTP method")
    })
}
fn ok_status() -> u16 {
    200
}
fn ten() -> Dur {
    Dur::from_secs(10)
}

impl SmokeCfg {
    /// Whether the test is tagged `user-facing`.
    pub fn user_facing(&self) -> bool {
        self.tags.iter().any(|t| t == "user-facing")
    }
}

/// Semantic problems of these tables: (table, key, message).
pub fn problem(
    staging: &StagingCfg,
    validation: &ValidationCfg,
    smoke: &[SmokeCfg],
    checks: &BTreeMap<String, crate::CheckCfg>,
    router_kind: &str,
) -> Option<Problem> {
    if staging.router != StagingRouter::None {
        if staging.url.trim().is_empty() {
            return Some(Problem::from(("staging", "url", format!("staging.router = {:?} needs staging.url: where staging answers, so the rehearsal can see which version serves", staging.router.as_str()))));
        }
        if staging.router == StagingRouter::Builtin && staging.admin.trim().is_empty() {
            return Some(Problem::from(("staging", "admin", "staging.router = \"builtin\" needs staging.admin: the staging proxy's admin API (host:port)".into())));
        }
        if staging.router == StagingRouter::Command && staging.set_weight.trim().is_empty() {
            return Some(Problem::from(("staging", "set_weight", "staging.router = \"command\" needs staging.set_weight: a command that sets the staging weight to {weight}".into())));
        }
    }
    if staging.probe_requests == 0 {
        return Some(Problem::from((
            "staging",
            "probe_requests",
            "staging.probe_requests must be at least 1".into(),
        )));
    }
    if validation.window.0.is_zero() {
        return Some(Problem::from((
            "validation",
            "window",
            "validation.window must be longer than 0s: skipping post-deployment validation is an anti-pattern".into(),
        )));
    }
    for name in &validation.resource_checks {
        if !checks.contains_key(name) {
            return Some(Problem::from((
                "validation",
                "resource_checks",
                format!("validation.resource_checks names `{name}`, which has no [checks.{name}]"),
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in smoke.iter().enumerate() {
        let at = |key: &str, message: String| {
            Some(Problem::new(&["smoke", &i.to_string(), key], message))
        };
        if s.name.trim().is_empty() {
            return at("name", "every [[smoke]] test needs a name".into());
        }
        if !seen.insert(s.name.clone()) {
            return at(
                "name",
                format!("two [[smoke]] tests are named `{}`", s.name),
            );
        }
        let http = !s.path.trim().is_empty();
        let cmd = !s.command.trim().is_empty();
        if http == cmd {
            return at(
                "path",
                format!(
                    "[[smoke]] `{}`: give either `path` (an HTTP request) or `command`, not {}",
                    s.name,
                    if http { "both" } else { "neither" }
                ),
            );
        }
        let relative = http && !s.path.starts_with("http://") && !s.path.starts_with("https://");
        if relative && validation.base_url.trim().is_empty() && router_kind != "builtin" {
            return Some(
                Problem::from((
                    "validation",
                    "base_url",
                    format!(
                        "[[smoke]] `{}` requests a path, and validation.base_url is empty: say where production answers (only the builtin router has a default, its proxy.listen)",
                        s.name
                    ),
                ))
                .or_at(&["smoke", &i.to_string(), "path"]),
            );
        }
        if s.json_pointer.is_empty() != s.json_equals.is_none() {
            return at(
                "json_pointer",
                format!(
                    "[[smoke]] `{}`: json_pointer and json_equals go together",
                    s.name
                ),
            );
        }
        if !s.json_pointer.is_empty() && !s.json_pointer.starts_with('/') {
            return at(
                "json_pointer",
                format!(
                    "[[smoke]] `{}`: json_pointer {:?} must start with `/` (RFC 6901)",
                    s.name, s.json_pointer
                ),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn smoke_and_validation_mistakes_name_their_key() {
        let smoke = "[[smoke]]\nname = \"home\"\npath = \"/\"\n";
        let e = Config::parse(smoke).unwrap_err();
        assert!(e.message.contains("validation.base_url"), "{e}");
        let builtin = format!("[router]\nkind = \"builtin\"\n{smoke}");
        assert!(Config::parse(&builtin).is_ok());
        let both = "[[smoke]]\nname = \"x\"\npath = \"http://a/\"\ncommand = \"true\"\n";
        assert!(Config::parse(both)
            .unwrap_err()
            .message
            .contains("not both"));
        let e = Config::parse("[validation]\non_failure = \"ignore\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Config::parse("[validation]\nresource_checks = [\"rss\"]\n").unwrap_err();
        assert!(e.message.contains("[checks.rss]"), "{e}");
        let e = Config::parse("[staging]\nrouter = \"builtin\"\n").unwrap_err();
        assert!(e.message.contains("staging.url"), "{e}");
    }
}
