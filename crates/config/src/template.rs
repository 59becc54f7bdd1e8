/// The commented `ship.toml` that `ship init` writes: every key with its default.
/// A test parses it back and compares with `Config::default()`, so it cannot drift.
pub fn default_toml(service: &str) -> String {
    TEMPLATE.replace("{{SERVICE}}", &service.replace('"', ""))
}

/// What `ship init --router … --metrics … --stable … --canary … --try` lays out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// "builtin", "nginx", "haproxy" or "command" (None: command, today's template).
    pub router: Option<String>,
    /// "builtin", "prometheus" or "command" (None: builtin with the builtin router,
    /// prometheus with nginx and haproxy, command otherwise).
    pub metrics: Option<String>,
    /// The user's own stable and canary instances (host:port).
    pub stable: Vec<String>,
    /// The user's own canary instances (host:port).
    pub canary: Vec<String>,
    /// builtin: where the proxy listens and its admin API (default 127.0.0.1:8080 and :9091).
    pub listen: Option<String>,
    /// builtin: the proxy's admin API.
    pub admin: Option<String>,
    /// Short stages to try ship out.
    pub try_it: bool,
}

/// The staging proxy `ship init` lays out: its traffic address and admin API.
pub const STAGING_LISTEN: &str = "127.0.0.1:8180";
/// The staging proxy's admin API.
pub const STAGING_ADMIN: &str = "127.0.0.1:9191";

impl Layout {
    /// No option given: the plain template, every key at its default.
    pub fn is_plain(&self) -> bool {
        *self == Layout::default()
    }

    /// The layout's router kind (default command).
    pub fn router_kind(&self) -> &str {
        self.router.as_deref().unwrap_or("command")
    }

    /// The layout's metric source kind, from the option or the router.
    pub fn metrics_kind(&self) -> &str {
        match (self.metrics.as_deref(), self.router_kind()) {
            (Some(m), _) => m,
            (None, "builtin") => "builtin",
            (None, "nginx" | "haproxy") => "prometheus",
            (None, _) => "command",
        }
    }

    /// The builtin proxy's listen and admin addresses.
    pub fn proxy_addresses(&self) -> (String, String) {
        (
            self.listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            self.admin
                .clone()
                .unwrap_or_else(|| "127.0.0.1:9091".into()),
        )
    }

    /// The first problem with these options, as a message naming the option.
    pub fn problem(&self) -> Option<String> {
        let router = self.router_kind();
        if !matches!(router, "builtin" | "nginx" | "haproxy" | "command") {
            return Some(format!(
                "--router {router:?}: builtin, nginx, haproxy or command"
            ));
        }
        let metrics = self.metrics_kind();
        if !matches!(metrics, "builtin" | "prometheus" | "command") {
            return Some(format!(
                "--metrics {metrics:?}: builtin, prometheus or command"
            ));
        }
        if metrics == "builtin" && router != "builtin" {
            return Some(
                "--metrics builtin reads ship's own proxy: it goes with --router builtin".into(),
            );
        }
        if router != "builtin" && (self.listen.is_some() || self.admin.is_some()) {
            return Some(
                "--listen and --admin are ship's proxy's: they go with --router builtin".into(),
            );
        }
        if !self.canary.is_empty() && self.stable.is_empty() {
            return Some("--canary without --stable: give the stable version's address too".into());
        }
        for a in self.stable.iter().chain(&self.canary) {
            let ok = match a.rsplit_once(':') {
                Some((host, port)) => {
                    !host.is_empty()
                        && port.parse::<u16>().is_ok()
                        && !a.contains(|c: char| c.is_whitespace() || c == '"' || c == '/')
                }
                None => false,
            };
            if !ok {
                return Some(format!("{a:?} is not HOST:PORT (e.g. 127.0.0.1:8001)"));
            }
            if router == "builtin" && a.parse::<SocketAddr>().is_err() {
                return Some(format!(
                    "{a:?}: ship's proxy takes an IP address and port (e.g. 127.0.0.1:8001)"
                ));
            }
        }
        for (flag, v) in [("--listen", &self.listen), ("--admin", &self.admin)] {
            if let Some(v) = v {
                if v.parse::<SocketAddr>().is_err() {
                    return Some(format!(
                        "{flag} {v:?}: an IP address and port (e.g. 127.0.0.1:8080)"
                    ));
                }
            }
        }
        let (listen, admin) = self.proxy_addresses();
        if router == "builtin" && listen == admin {
            return Some("--listen and --admin: two different addresses".into());
        }
        None
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

/// Sets `key` of `[table]` to `value`, with `comment` lines (without `# `) above it.
fn put(text: &str, table: &str, key: &str, value: &str, comment: &[&str]) -> String {
    let Some(set) = crate::set_key(text, table, key, value) else {
        // Every table and key put here is in TEMPLATE (the layout test parses the result).
        return text.to_string();
    };
    if comment.is_empty() {
        return set;
    }
    let mut current = String::new();
    let mut out = String::with_capacity(set.len() + 200);
    let mut done = false;
    for line in set.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(['[', ']']).trim().to_string();
        } else if !done && current == table && t.split('=').next().map(str::trim) == Some(key) {
            done = true;
            for c in comment {
                out.push_str(&format!("# {c}\n"));
            }
        }
        out.push_str(line);
    }
    out
}

/// Inserts `block` before the line `before` (a table header).
fn insert_before(text: &str, before: &str, block: &str) -> String {
    match text.find(&format!("\n{before}\n")) {
        Some(i) => format!("{}\n{block}{}", &text[..i], &text[i..]),
        None => format!("{text}\n{block}"),
    }
}

/// `ship init` options that do not go together (or a value none of them takes); the message
/// names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

/// The `ship.toml` of a layout: the template with the router, metric source, instances, staging
/// proxy, on-call command, smoke test and (with `try_it`) short stages filled in, and comments
/// saying what to change. `command` is the command line that made it, for the file's header.
pub fn layout_toml(service: &str, l: &Layout, command: &str) -> Result<String, LayoutError> {
    if let Some(p) = l.problem() {
        return Err(LayoutError(p));
    }
    let mut t = default_toml(service);
    if l.is_plain() {
        return Ok(t);
    }
    let router = l.router_kind();
    let metrics = l.metrics_kind();
    let (listen, admin) = l.proxy_addresses();
    let svc = service.replace('"', "");
    let stable = if l.stable.is_empty() {
        vec!["127.0.0.1:8001".to_string()]
    } else {
        l.stable.clone()
    };
    let canary = if l.canary.is_empty() {
        vec!["127.0.0.1:8002".to_string()]
    } else {
        l.canary.clone()
    };
    let header = format!(
        "# Laid out by `{command}`.\n# Lines marked CHANGE hold placeholders: put your own values there.\n"
    );
    t = t.replacen(
        "# Every key is listed with its default; delete what you do not change. See docs/CONFIG.md.\n",
        &format!("# Every key is listed; delete what you do not change. See docs/CONFIG.md.\n{header}"),
        1,
    );

    if l.try_it {
        for (key, note) in [
            ("canary_duration", "--try: 20-second stages to try ship out. Real stages last minutes to hours (the Ship loop's defaults: 10m, 30m, 1h)."),
            ("early_adopter_duration", ""),
            ("ga_duration", ""),
        ] {
            let comment: Vec<&str> = if note.is_empty() { vec![] } else { vec![note] };
            t = put(&t, "stages", key, "\"20s\"", &comment);
        }
        t = put(
            &t,
            "rollout",
            "max_hold",
            "\"2m\"",
            &[
                "--try: a stage clears once the judge has ruled out a regression: about 420 canary",
                "requests without errors (at 5 % of 100 requests/s: 84 s). Past its duration and this",
                "hold, a stage still short of evidence pauses for a person (judge.inconclusive).",
            ],
        );
        t = put(
            &t,
            "validation",
            "window",
            "\"20s\"",
            &["--try: a short watch at 100 %; real windows are 30m or more."],
        );
    }

    t = put(&t, "router", "kind", &quote(router), &[]);
    t = put(&t, "metrics", "kind", &quote(metrics), &[]);
    if metrics != "command" {
        t = put(
            &t,
            "rollback",
            "critical_security_alert",
            "false",
            &[
                "false: there is no alert source ([alerts] kind = \"none\"), and a trigger without data",
                "holds a rollout. With Alertmanager: set [alerts] kind = \"alertmanager\" and this to true.",
            ],
        );
    }
    let mut base_url = String::new();
    match router {
        "builtin" => {
            t = put(&t, "proxy", "listen", &quote(&listen), &[]);
            t = put(&t, "proxy", "admin", &quote(&admin), &[]);
            // Your own services may not answer /healthz; every service answers its home page.
            t = put(
                &t,
                "proxy",
                "health_path",
                &quote("/"),
                &["CHANGE: your services' health endpoint (2xx while healthy), e.g. \"/healthz\"."],
            );
            let mut block = String::from(
                "# Your own services (no command: ship does not start them; `ship proxy` forwards to them).\n",
            );
            for (version, list) in [("stable", &l.stable), ("canary", &l.canary)] {
                for a in list {
                    block.push_str(&format!(
                        "[[proxy.instances]]\nversion = \"{version}\"\naddress = {}\n\n",
                        quote(a)
                    ));
                }
            }
            if l.stable.is_empty() {
                block.push_str(
                    "# CHANGE: add one [[proxy.instances]] table per instance (see above).\n\n",
                );
            }
            t = insert_before(&t, "[hotfix]", &block);
            base_url = format!("http://{listen}");
        }
        "nginx" => {
            let mark = |given: bool| if given { "" } else { "CHANGE: " };
            t = put(
                &t,
                "router.nginx",
                "include_file",
                &quote(&format!("/etc/nginx/conf.d/ship-{svc}.conf")),
                &[
                    "CHANGE: a file ship writes and nginx includes in its http block; route with",
                    &format!("`proxy_pass http://$ship_{svc}_upstream;` (the user running ship must be able to write it)."),
                ],
            );
            t = put(
                &t,
                "router.nginx",
                "stable",
                &list(&stable),
                &[&format!(
                    "{}the servers of each version (host:port)",
                    mark(!l.stable.is_empty())
                )],
            );
            t = put(&t, "router.nginx", "canary", &list(&canary), &[]);
            base_url = "http://127.0.0.1:80".into();
        }
        "haproxy" => {
            t = put(
                &t,
                "router.haproxy",
                "socket",
                "\"/run/haproxy/admin.sock\"",
                &["CHANGE: haproxy.cfg's `stats socket /run/haproxy/admin.sock level admin`"],
            );
            t = put(
                &t,
                "router.haproxy",
                "backend",
                &quote(&svc),
                &[
                    "CHANGE: the backend holding the two servers below, e.g.",
                    &format!("backend {svc}"),
                    &format!("  server stable {} weight 256", stable[0]),
                    &format!("  server canary {} weight 0", canary[0]),
                ],
            );
            t = put(
                &t,
                "router.haproxy",
                "state_file",
                "\"/var/lib/haproxy/server-state\"",
                &["CHANGE: haproxy.cfg's `server-state-file` (with `load-server-state-from-file global`)"],
            );
            base_url = "http://127.0.0.1:80".into();
        }
        _ => {
            t = put(
                &t,
                "router.command",
                "set_weight",
                "\"\"",
                &["CHANGE: the command that sends {weight} percent of traffic to the new version"],
            );
        }
    }
    match metrics {
        "prometheus" => {
            t = put(
                &t,
                "metrics.prometheus",
                "url",
                "\"http://127.0.0.1:9090\"",
                &["CHANGE: your Prometheus"],
            );
            t = put(
                &t,
                "metrics.prometheus",
                "selector",
                r#"'job="{{service}}",version="{{version}}"'"#,
                &[
                    "CHANGE: the labels that pick one version's series of http_requests_total and",
                    "http_request_duration_seconds (scraped every 15 s: a new version reads \"no data\"",
                    "for a scrape or two)",
                ],
            );
        }
        "command" => {
            t = put(
                &t,
                "metrics.command",
                "command",
                "\"\"",
                &["CHANGE: a command printing the measurements as JSON (above)"],
            );
        }
        _ => {}
    }

    // Staging: a `ship proxy --staging` of its own.
    let staging = |list: &[String]| -> Vec<String> {
        list.iter()
            .filter(|a| a.parse::<SocketAddr>().is_ok())
            .cloned()
            .collect()
    };
    t = put(
        &t,
        "staging",
        "router",
        "\"builtin\"",
        &["builtin: `ship proxy --staging` serves staging from this table."],
    );
    t = put(&t, "staging", "admin", &quote(STAGING_ADMIN), &[]);
    t = put(
        &t,
        "staging",
        "url",
        &quote(&format!("http://{STAGING_LISTEN}/")),
        &["Where the staging proxy listens (and the rehearsal requests it)."],
    );
    let staging_note = if staging(&l.stable).is_empty() {
        // No IP:port was given (or only host names): say what `ship proxy --staging` needs.
        "CHANGE: your staging instances, IP:port each — `ship proxy --staging` needs a stable and a canary one."
    } else {
        "CHANGE: point these at your staging instances (to try it out: the production ones)."
    };
    t = put(
        &t,
        "staging",
        "stable",
        &list(&staging(&l.stable)),
        &[staging_note],
    );
    t = put(&t, "staging", "canary", &list(&staging(&l.canary)), &[]);

    t = put(
        &t,
        "flags",
        "staging_http",
        "\"\"",
        &[&format!("e.g. staging_http = \"http://{STAGING_LISTEN}/flags/{{flag}}\" (a URL of your service)")],
    );
    t = put(
        &t,
        "migrations",
        "paths",
        "[]",
        &["e.g. paths = [\"db/migrations\"]"],
    );
    t = put(
        &t,
        "oncall",
        "notify_command",
        "\"echo {message} >> oncall-inbox.txt\"",
        &["CHANGE: put your pager's command here (e.g. a Slack or PagerDuty CLI); this one writes a file."],
    );
    if !base_url.is_empty() {
        let note = if router == "builtin" {
            "ship's proxy: where the smoke tests' paths are requested"
        } else {
            "CHANGE: where production answers (the smoke tests' paths are requested there)"
        };
        t = put(&t, "validation", "base_url", &quote(&base_url), &[note]);
    }
    if !l.stable.is_empty() && !base_url.is_empty() {
        t.push_str(
            "\n# An example smoke test, run by post-deployment validation; add your own.\n[[smoke]]\nname = \"home page answers\"\npath = \"/\"\nstatus = 200\ntags = [\"user-facing\"]\n",
        );
    }
    Ok(t)
}

use std::net::SocketAddr;

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
# Roll back when p99 latency exceeds this multiple of latency.p99_target (the Ship loop says 2x).
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
# builtin: the staging instances `ship proxy --staging` serves (host:port each), behind a
# proxy listening on staging.url's host:port with its admin API on staging.admin.
stable = []                       # e.g. ["127.0.0.1:8101"]
canary = []

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

[state]
# The state database: "" is SQLite in paths.state; "postgres://user@host:5432/db" is
# PostgreSQL, shared by several `ship serve` replicas (docs/SERVE.md).
url = ""
# An environment variable that, when set, is used instead of url: put a password there.
url_env = "SHIP_STATE_URL"
# A dead replica's rollouts are taken over within this (renewed every third of it, also during
# slow router calls).
lease_ttl = "15s"
# A hold that changes nothing is recorded at most this often ("0s": every tick).
evidence_every = "60s"
# Metric samples older than this are pruned; decisions and the event log never are.
sample_retention = "14d"

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn layout(router: &str, metrics: Option<&str>, stable: &[&str], try_it: bool) -> Layout {
        Layout {
            router: Some(router.into()),
            metrics: metrics.map(str::to_string),
            stable: stable.iter().map(|s| s.to_string()).collect(),
            canary: if stable.is_empty() {
                vec![]
            } else {
                vec!["127.0.0.1:8002".into()]
            },
            try_it,
            ..Layout::default()
        }
    }

    #[test]
    fn every_layout_parses() {
        for router in ["builtin", "nginx", "haproxy", "command"] {
            for metrics in [None, Some("prometheus"), Some("command"), Some("builtin")] {
                for stable in [&[][..], &["127.0.0.1:8001"][..]] {
                    for try_it in [false, true] {
                        let l = layout(router, metrics, stable, try_it);
                        if metrics == Some("builtin") && router != "builtin" {
                            assert!(layout_toml("app", &l, "ship init").is_err());
                            continue;
                        }
                        let text = layout_toml("app", &l, "ship init").unwrap();
                        let c =
                            Config::parse(&text).unwrap_or_else(|e| panic!("{l:?}: {e}\n{text}"));
                        assert_eq!(c.router.kind.as_str(), router);
                        assert_eq!(c.staging.router, crate::StagingRouter::Builtin);
                        assert_eq!(
                            c.smoke.len(),
                            usize::from(!stable.is_empty() && router != "command"),
                            "{l:?}"
                        );
                        let want = if try_it { 20 } else { 600 };
                        assert_eq!(c.stages.canary_duration.0.as_secs(), want);
                    }
                }
            }
        }
        assert_eq!(
            layout_toml("app", &Layout::default(), "ship init").unwrap(),
            default_toml("app")
        );
    }

    #[test]
    fn the_builtin_layout_is_complete() {
        let l = layout("builtin", None, &["127.0.0.1:8001"], true);
        let c = Config::parse(&layout_toml("app", &l, "ship init").unwrap()).unwrap();
        assert_eq!(c.metrics.kind, crate::MetricsKind::Builtin);
        assert_eq!(c.proxy.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.proxy.admin.to_string(), "127.0.0.1:9091");
        assert_eq!(c.proxy.addresses(crate::InstanceVersion::Stable).len(), 1);
        assert!(c.proxy.instances.iter().all(|i| i.command.is_empty()));
        assert_eq!(c.staging.admin, STAGING_ADMIN);
        assert_eq!(c.staging.url, "http://127.0.0.1:8180/");
        assert_eq!(
            c.staging.stable,
            c.proxy.addresses(crate::InstanceVersion::Stable)
        );
        assert_eq!(
            c.staging.canary,
            c.proxy.addresses(crate::InstanceVersion::Canary)
        );
        assert_eq!(
            c.oncall.notify_command,
            "echo {message} >> oncall-inbox.txt"
        );
        assert!(!c.rollback.critical_security_alert);
        assert_eq!(c.validation.base_url, "http://127.0.0.1:8080");
        assert!(c.smoke[0].user_facing());
        assert_eq!(c.validation.window.0.as_secs(), 20);
        let nginx = layout("nginx", None, &["10.0.0.1:80"], false);
        let c = Config::parse(&layout_toml("app", &nginx, "ship init").unwrap()).unwrap();
        assert_eq!(c.router.nginx.stable, vec!["10.0.0.1:80".to_string()]);
        assert_eq!(c.metrics.kind, crate::MetricsKind::Prometheus);
        assert_eq!(c.stages.ga_duration.0.as_secs(), 3600);
        for bad in [
            Layout {
                listen: Some("127.0.0.1:1".into()),
                ..layout("nginx", None, &[], false)
            },
            layout("builtin", None, &["localhost:80"], false),
            layout("builtin", None, &["nowhere"], false),
            layout("carrier-pigeon", None, &[], false),
        ] {
            assert!(layout_toml("app", &bad, "ship init").is_err(), "{bad:?}");
        }
    }
}
