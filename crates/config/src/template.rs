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
# The service's runbook, a path in the workspace ("" = none): the handoff to Operate requires
# it to exist when set.
runbook = ""

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

[rollout]
# How often a running rollout measures and decides: "auto" is 1s with metrics.kind = "builtin"
# (ship's proxy counts every request, so looking often costs nothing), 10s otherwise.
tick_interval = "auto"
# Requests a window needs before a windowed value (a [checks.NAME] query, the validation
# window) counts as data. The rollback triggers are judged from counts instead ([judge]).
min_samples = 50
# Consecutive ticks with a metric error that roll back (Argo's consecutiveErrorLimit).
error_limit = 4
# Consecutive ticks with a failed stage check that roll back.
failure_limit = 3
# How long past its duration a stage may wait for its checks to pass; then a failing check
# rolls back, and a stage without enough evidence does what judge.inconclusive says.
max_hold = "15m"
# The most one tick interval adds to a stage's watched time (downtime is not monitoring).
max_tick_gap = "1m"
# Whether a stage check with no [checks.NAME] query blocks promotion (false: it is reported).
strict_checks = false

[judge]
# The error-rate and p99 triggers and the latency check are decided by a sequential test on
# the request counts since each stage began (docs/ROLLOUT.md, "The judge").
# Chance that a canary within its limits is rolled back, over the whole rollout, however often
# the judge looks.
alpha = 0.01
# Chance that a canary worse by a whole limit (e.g. +max_error_rate_increase) passes one stage:
# a stage promotes only when the counts rule such a regression out at this level.
beta = 0.05
# When a stage's duration and rollout.max_hold have passed and the counts are still too few to
# tell: "pause" for a person (with a signal and a notification), "promote" anyway (said so in
# the decision), or "rollback".
inconclusive = "pause"

[router]
# What moves traffic: "builtin" is ship's own proxy ([proxy] below, run by `ship proxy`);
# "command" runs your commands.
kind = "command"

[router.command]
# Shell commands with {weight}, {release}, {stage} and {service} placeholders.
# Required: set the new version's share of traffic to {weight} percent.
set_weight = ""
# Optional: print the weight the new version actually gets (checked after a restart).
get_weight = ""
# Optional: make the new version the stable one (default: set_weight with 100).
promote = ""
# Optional: send everything back to stable (default: set_weight with 0).
rollback = ""
timeout = "30s"

[router.nginx]
# For kind = "nginx": ship writes include_file (include it in nginx's http block and route
# with `proxy_pass http://$ship_<service>_upstream;`), validates with test_command, reloads.
include_file = ""
stable = []                      # e.g. ["10.0.0.1:8080"]
canary = []
# What split_clients hashes: $request_id (random per request) or a user key ($http_x_user_id).
split_key = "$request_id"
# A status server the include declares on loopback; ship reads the loaded weight from it.
status_listen = "127.0.0.1:9190"
test_command = "nginx -t"
reload_command = "nginx -s reload"
# Optional end-to-end check at 0 % and 100 %: every answer from probe_url carries
# probe_header = stable_value (0 %) or canary_value (100 %).
probe_url = ""
probe_header = "x-ship-version"
stable_value = ""
canary_value = ""
timeout = "30s"

[router.haproxy]
# For kind = "haproxy": one backend with a stable and a canary server; weights over the admin
# socket (`stats socket PATH level admin`), saved to HAProxy's server-state-file so a reload
# keeps them (with `load-server-state-from-file global`).
socket = ""
backend = ""
stable_server = "stable"
canary_server = "canary"
state_file = ""
timeout = "5s"

[metrics]
# Where measurements come from: "builtin" asks ship's proxy ([proxy]); "command" runs your command.
kind = "command"
# The window each measurement covers ({window} in seconds).
window = "1m"

[metrics.prometheus]
# For kind = "prometheus": instant queries over the HTTP API. Secrets come from environment
# variables named here, never from this file.
url = "http://127.0.0.1:9090"
timeout = "10s"
bearer_token_env = ""
basic_user = ""
basic_password_env = ""
# A PEM file of CA certificates to trust for https:// (besides the system's roots).
ca_file = ""
# The label selector of one version's series: {{selector}} in queries, with {{service}},
# {{version}} and {{instance}} filled in.
selector = 'job="{{service}}",version="{{version}}"'
# What {{version}} is for the stable and the new version.
stable_version = "stable"
canary_version = "canary"
# What {{instance}} is (a regex over the instance label) for each version.
stable_instances = ".*"
canary_instances = ".*"
# The bucket bounds (seconds) of the services' http_request_duration_seconds histogram: the
# judge's counts of slow requests interpolate between them, as histogram_quantile does.
buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
# Presets exist for the judge's counts (requests, errors, slow, slow_target: increase over
# {{since}}, the time since the stage began), error_rate, latency_p99 and failed_instances
# over http_requests_total, http_request_duration_seconds and up (docs/CONFIG.md); override or
# add by metric name:
# [metrics.prometheus.queries.cpu_ratio]
# query = 'max(rate(process_cpu_seconds_total{ {{selector}} }[{{window}}]))'
# samples = ""          # optional: a query for how many samples stand behind the value
# range = "10m"         # optional: a range query over the last 10 minutes…
# step = "15s"
# reduce = "max"        # …reduced to one value: last, max, min or avg

[metrics.command]
# Prints a JSON object keyed by measurement (see docs/ROLLOUT.md), e.g.
# {"canary/requests": 1200, "canary/errors": 3, "stable/requests": 22800, "stable/errors": 40,
#  "canary/slow": 0, "canary/slow_target": 4, "alerts/critical_security": 0}
command = ""
timeout = "10s"
# Where its counts start: "stage" (since the stage began: {since} seconds ago) or "counter"
# (a running counter, such as a server's own since it started).
counts = "stage"

# Stage checks beyond error rate and latency, by the names the stages list:
# [checks.resource-usage]
# metric = "cpu_ratio"       # asked of the metric source as canary/cpu_ratio
# condition = "< 0.8"        # < <= > >= == or "between A and B"
# min_samples = 1
#
# Data-integrity checks, named by rollback.data_integrity_check:
# [integrity.orders-balance]
# command = "./scripts/check-orders-balance"   # exit 0 while the data is consistent
# http = "http://127.0.0.1:8080/integrity"     # …or an endpoint answering 2xx while it is
# timeout = "10s"

[alerts]
# Where critical and security alerts come from: "none", or "alertmanager" (active alerts that
# are neither silenced nor inhibited). The critical-security-alert rollback trigger needs one.
kind = "none"
url = "http://127.0.0.1:9093"
timeout = "10s"
bearer_token_env = ""
basic_user = ""
basic_password_env = ""
ca_file = ""
# Matchers (Alertmanager filter syntax) that make an alert critical…
critical = ['severity="critical"']
# …and, together with those, a critical security alert.
security = ['category="security"']

# Webhooks: every rollout event POSTed as a CloudEvent (or a Slack message), one table each:
# [[webhooks]]
# url = "https://hooks.example.com/ship"
# format = "cloudevents"            # or "slack"
# secret_env = "SHIP_WEBHOOK_SECRET" # HMAC-SHA256 key for the X-Ship-Signature header
# events = []                        # e.g. ["rollout.rolled-back"]; empty: all
# timeout = "5s"
# max_attempts = 5

[proxy]
# ship's built-in data plane: `ship proxy` serves it; the builtin router and metric source
# call its admin API. Addresses are host:port.
listen = "127.0.0.1:8080"
# The admin API (read state, set weight, measurements, Prometheus /metrics). Keep it on loopback.
admin = "127.0.0.1:9091"
# The environment variable holding the admin API's bearer token (at least 16 characters).
token_env = "SHIP_ADMIN_TOKEN"
# How one version's instances share its traffic: "round-robin" or "least-requests".
balance = "round-robin"
# Keep each user on one version by a request header (e.g. "x-user-id") or a cookie; "" = none.
sticky_header = ""
sticky_cookie = ""
# A request with this header set to "stable" or "canary" goes to that version (internal users).
override_header = "x-ship-version"
# How long the proxy waits on an upstream (head and body; not the time a client takes to send
# or read): past it, 504, an error of the version.
request_timeout = "30s"
# Client connections open at once; one beyond it is closed at once (keep it below the
# open-file limit, `ulimit -n`). A connection must send its first bytes and a request head
# within 30 s.
max_connections = 10000
# How much golden-metric history the proxy keeps.
keep = "10m"
# Active health checks of every instance.
health_path = "/healthz"
health_interval = "5s"
health_timeout = "2s"
unhealthy_threshold = 2
healthy_threshold = 2
# How often memory (RSS) and CPU of instances ship started are read from /proc.
resource_interval = "5s"
# The instances, one [[proxy.instances]] table each; with a command, `ship proxy` starts the
# instance, stops it on exit, and reports its resource usage:
# [[proxy.instances]]
# version = "stable"                 # or "canary"
# address = "127.0.0.1:8001"
# command = "ship-sample --version v1 --listen 127.0.0.1:8001"

[hotfix]
# Stages a hotfix skips (the Ship loop: "skip non-essential stages").
skip_stages = ["early-adopters", "ga"]
# How long a hotfix is watched at 100 % before it counts as validated.
validation_window = "15m"

# ---- Pre-deployment gates (`ship check`) -------------------------------------------------

[staging]
# Where `ship rehearse` practises the rollback: a staging copy of the service behind its own
# router. "none": no staging yet (the rollback-rehearsal gate fails); "builtin": a `ship proxy`
# in staging (admin API below); "command": set_weight moves staging traffic.
router = "none"
admin = ""                        # builtin: host:port of the staging proxy's admin API
token_env = "SHIP_STAGING_ADMIN_TOKEN"
set_weight = ""                   # command: e.g. "./scripts/staging-weight {weight}"
# Where staging answers. Every answer names the version that served it in probe_header
# (ship's proxy adds x-ship-routed-to: stable|canary).
url = ""
probe_header = "x-ship-routed-to"
stable_value = "stable"
canary_value = "canary"
# Answers in a row that must come from one version before it "serves everything".
probe_requests = 20
# The longest a traffic shift may take to show in the answers.
timeout = "30s"
# How old a rehearsal (and a flag evaluation in staging) may be when `ship check` runs.
max_age = "7d"

[flags]
# The feature-flag registry: name, owner, type, default, cleanup date (see docs/GATES.md).
registry_file = "work/flags.yaml"
# How a flag is evaluated in staging: a command exiting 0 ({flag}, {url} = staging.url)…
staging_check = ""
# …or a URL with {flag} answering 2xx.
staging_http = ""
timeout = "10s"
# Flags may also be declared here instead of in the registry file:
# [flags.registry.new-checkout]
# owner = "alice@example.com"
# type = "release"
# default = false
# created = 2026-11-20
# cleanup_by = 2026-12-30

[migrations]
# Migration files or folders (every *.sql below) linted for every release, besides the ones
# a contract names; `ship migrations lint` runs the same linter on its own.
paths = []

[oncall]
# Who hears that a release is about to start. `ship check` sends the notification once (to
# every [[webhooks]] receiver as oncall.notified, and through notify_command); the gate
# passes when someone acknowledges it: `ship oncall ack <release> --as <name>`.
team = "on-call"
notify_command = ""               # {release}, {service}, {message}
timeout = "30s"

# ---- Post-deployment validation (`ship validate`) ----------------------------------------

[validation]
# How long production is watched at 100 % (a hotfix uses hotfix.validation_window).
window = "30m"
# Run it by itself when the rollout reaches 100 %.
auto = true
# "rollback": a failed validation sends all traffic back to the stable version at once;
# "manual": it writes the incident signal and leaves the rollback to a person.
on_failure = "rollback"
# Where smoke tests' paths are requested (default: the builtin proxy's listen address).
base_url = ""
# [checks.NAME] that bound resource consumption during the window (e.g. "resource-usage").
resource_checks = []

# ---- Handoff to Operate (`ship handoff`) and outcome measurement (`ship outcome`) --------

[handoff]
# The Ship loop's owners: Ship hands the release over, Operate measures outcomes from then on.
ship_owner = "Orchestration Layer"
operate_owner = "Quality Layer"

[outcome]
# Points in each outcome chart (the range query's step is the measurement period / this).
chart_points = 120
# The period of a first checkpoint when no linked release has a recorded rollout start.
default_period = "7d"

# ---- `ship serve`: the controller for every rollout, the HTTP API, the dashboard ----------

[server]
# Loopback by default: put a TLS-terminating proxy in front to reach it from elsewhere.
listen = "127.0.0.1:8480"
# API tokens, one "<role> <token>" per line (viewer: read; operator: also pause, resume,
# promote, abort). Approvals are never possible over the API.
tokens_file = ""
# More tokens from the environment: "viewer:TOKEN,operator:TOKEN".
tokens_env = "SHIP_API_TOKENS"
# How often the controller looks for rollouts to start or resume.
poll = "1s"
# Run ship's own proxy ([proxy]) beside the controller, restarted if it exits
# (router.kind = "builtin"); its admin token comes from proxy.token_env as for `ship proxy`.
run_proxy = false
# How long a client may take to send a request's head; an idle keep-alive connection is
# closed after as long.
header_read_timeout = "10s"
# How long a client may take to send a request's body once its head arrived; 408 after.
request_timeout = "30s"
# Connections open at once; more wait unaccepted (keep it above max_streams and below the
# open-file limit, `ulimit -n`).
max_connections = 768
# Live event streams (the API's and the dashboard's live updates) open at once, and per token;
# more are answered 429.
max_streams = 512
max_streams_per_token = 64

# Smoke tests, one [[smoke]] table each: an HTTP request with expectations, or a command.
# [[smoke]]
# name = "checkout answers"
# method = "GET"
# path = "/checkout"                 # joined to validation.base_url, or a full URL
# headers = { "x-user-id" = "smoke" }
# status = 200
# body_contains = ""
# json_pointer = "/version"          # RFC 6901…
# json_equals = "v2"                 # …must equal this JSON value
# max_latency = "500ms"
# tags = ["user-facing"]             # what users see; the Ship loop's "user-facing functionality verified"
# timeout = "10s"
# [[smoke]]
# name = "orders consistent"
# command = "./scripts/check-orders"
"#;
