/// The commented `ship.toml` that `ship init` writes: every key with its default.
/// A test parses it back and compares with `Config::default()`, so it cannot drift.
pub fn default_toml(service: &str) -> String {
    TEMPLATE.replace("{{SERVICE}}", &service.replace('"', ""))
}

const TEMPLATE: &str = r#"# ship.toml — shiploop configuration for this workspace.
# Every key is listed with its default; delete what you do not change. See docs/CONFIG.md.

[service]
# The service this workspace ships; release contracts name it.
name = "{{SERVICE}}"

[paths]
# Where the Build loop drops its evaluation verdicts (markdown with YAML frontmatter).
evaluations = "work/evaluations"
# Release contracts: YYYY-MM-DD-<release>.md, compiled from _TEMPLATE-release-contract.md.
releases = "work/releases"
# Feedback signals from production.
signals = "work/signals"
# One folder per mission, holding its OUTCOME-CONTRACT.md.
missions = "work/missions"
# Where each mission and release stands.
status = "STATUS.md"
# Runtime state (not versioned; ship adds it to .gitignore).
state = ".ship"
# Who may approve releases: git's allowed_signers format (principal, key type, key).
allowed_signers = "work/allowed_signers"

[approval]
# Distinct human approvers needed, none of them the submitter.
required_approvals = 1

[stages]
# Stage 1: Internal / Canary — {{CANARY_PERCENTAGE}} and {{CANARY_DURATION}}.
canary_percentage = 5
canary_duration = "10m"
# Stage 2: Early adopters — {{EARLY_ADOPTER_PERCENTAGE}} and {{EARLY_ADOPTER_DURATION}}.
early_adopter_percentage = 25
early_adopter_duration = "30m"
# Stage 3: General availability — {{GA_PERCENTAGE}} and {{GA_DURATION}}.
ga_percentage = 50
ga_duration = "1h"
# Stage 4 is always the full rollout at 100 %.

[rollback]
# {{MAX_ERROR_RATE_INCREASE}}: roll back when the new version's error rate exceeds the stable
# baseline (same window) by more than this many percentage points.
max_error_rate_increase = 1.0
# {{MAX_HEALTH_CHECK_FAILURE_RATE}}: roll back when more than this percentage of the new
# version's instances fail their health checks.
max_health_check_failure_rate = 20.0
# Roll back when p99 latency exceeds this multiple of latency.p99_target (the seed says 2x).
p99_latency_factor = 2.0
# Roll back on any active critical security alert.
critical_security_alert = true
# Name of the data-integrity check whose failure rolls back; empty: none configured yet.
data_integrity_check = ""

[latency]
# Latency targets for the service. p99 above p99_latency_factor x p99_target rolls back.
p50_target = "100ms"
p99_target = "300ms"
"#;
