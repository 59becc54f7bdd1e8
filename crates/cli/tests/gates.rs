//! Pre-deployment gates (`ship check`, `ship rehearse`, `ship oncall ack`, overrides) and
//! post-deployment validation (`ship validate`) with the built binaries: a staging service
//! behind ship's own proxy for the rehearsal, the builtin proxy for validation.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::*;
use common::servers::{self, Server};
use common::*;
use std::net::SocketAddr;

use std::time::Duration;

const STAGING_TOKEN: &str = "staging-token-0123456789";

fn staging_proxy(ws: &Ws, stable: &Server, canary: &Server) -> (Proxy, SocketAddr) {
    let (listen, admin) = (servers::free_addr(), servers::free_addr());
    let (stable, canary) = (stable.addr.to_string(), canary.addr.to_string());
    let (l, a) = (listen.to_string(), admin.to_string());
    let p = spawn_proxy(
        ws,
        &[
            "--stable",
            &stable,
            "--canary",
            &canary,
            "--listen",
            &l,
            "--admin",
            &a,
            "--token-env",
            "STAGING_TOKEN",
            "--weight",
            "0",
        ],
        &[("STAGING_TOKEN", STAGING_TOKEN)],
        listen,
        &format!("http://{listen}/healthz"),
    );
    (p, admin)
}

/// A workspace with the command router and metric source (files), fast stages, and release
/// `web` that names flag `new-checkout` and migrations `db/`, approved.
fn gated_ws(migration: &str) -> Ws {
    gated_ws_with(migration, |c| c)
}

/// [`gated_ws`] with `edit` applied to ship.toml before the release is compiled (its decision
/// settings are approved with the contract).
fn gated_ws_with(migration: &str, edit: impl Fn(String) -> String) -> Ws {
    let ws = Ws::init();
    let cfg = file_providers(
        &fast_stages(&edit(ws.read("ship.toml"))),
        "",
        "cat metrics.json",
    )
    .replace("min_samples = 50", "min_samples = 10");
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
    ws.write("db/001_add_coupon.sql", migration);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    let alice = ws.key("alice", "alice@example.com", true);
    let new = [
        "release",
        "new",
        "web",
        "--flag",
        "new-checkout",
        "--migration",
        "db",
    ];
    let r = ws.ship(&new);
    assert_eq!(r.code, 0, "{new:?}: {}", r.text());
    ws.submit_and_approve_release("web", &alice);
    ws
}

const UNSAFE_SQL: &str = "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\nALTER TABLE orders DROP COLUMN legacy_coupon;\n";
const SAFE_SQL: &str = "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\nALTER TABLE orders ADD COLUMN coupon text;\n";

/// The registry with the flag `gated_ws`'s release names.
const FLAGS_YAML: &str = "flags:\n- name: new-checkout\n  owner: alice@example.com\n  type: release\n  default: false\n  created: 2026-11-20\n  cleanup_by: 2026-12-30\n";

fn gate<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == id)
        .unwrap_or_else(|| panic!("no gate {id} in {report}"))
}

#[test]
fn every_gate_fails_with_its_fix_then_the_release_starts_when_each_is_done() {
    let ws = gated_ws(UNSAFE_SQL);
    let r = ws.ship_exits(&["check", "web", "--json"], 1);
    let j = r.json();
    assert_eq!(j["passed"], false);
    assert_eq!(gate(&j, "quality-evaluations")["status"], "pass");
    assert_eq!(gate(&j, "approval")["status"], "pass");
    assert_eq!(gate(&j, "monitoring")["status"], "pass", "{j}");
    let rehearsal = gate(&j, "rollback-rehearsal");
    assert_eq!(rehearsal["status"], "fail");
    assert!(
        rehearsal["fix"].as_str().unwrap().contains("[staging]"),
        "{rehearsal}"
    );
    let flags = gate(&j, "feature-flags");
    assert_eq!(flags["status"], "fail");
    assert!(
        flags["evidence"][0]
            .as_str()
            .unwrap()
            .contains("`new-checkout`"),
        "{flags}"
    );
    let mig = gate(&j, "migrations");
    assert_eq!(mig["status"], "fail");
    let ev = mig["evidence"].to_string();
    assert!(
        ev.contains("db/001_add_coupon.sql:3") && ev.contains("ban-drop-column"),
        "{ev}"
    );
    assert!(mig["fix"].as_str().unwrap().contains("ship:allow"), "{mig}");
    let oncall = gate(&j, "oncall");
    assert_eq!(oncall["status"], "fail");
    assert!(
        oncall["fix"].as_str().unwrap().contains("notify_command"),
        "{oncall}"
    );

    // A failing gate stops the rollout before any traffic moves, naming the gates.
    let r = ws.ship_exits(&["rollout", "start", "web"], 1);
    r.stderr_has("may not start");
    for g in [
        "rollback-rehearsal",
        "feature-flags",
        "migrations",
        "oncall",
    ] {
        assert!(r.stderr.contains(g), "{g}: {}", r.stderr);
    }
    assert!(!ws.path("weights.log").exists(), "nothing was routed");

    // Do what each fix says. Staging: v1 and v2 behind ship's proxy.
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2", "--flag", "new-checkout=on"]);
    let (staging, admin) = staging_proxy(&ws, &v1, &v2);
    let q = |v: String| format!("{v:?}");
    set_all(
        &ws,
        &[
            ("staging", "router", q("builtin".into())),
            ("staging", "admin", q(admin.to_string())),
            ("staging", "token_env", q("STAGING_TOKEN".into())),
            (
                "staging",
                "url",
                q(format!("http://{}/checkout", staging.listen)),
            ),
            (
                "flags",
                "staging_http",
                q(format!("http://{}/flags/{{flag}}", staging.listen)),
            ),
            (
                "oncall",
                "notify_command",
                q("echo {message} > oncall-inbox.txt".into()),
            ),
        ],
    );
    // Dated from today, as the real clock below reads it: never overdue.
    let flags = FLAGS_YAML
        .replace("2026-11-20", &day(-7))
        .replace("2026-12-30", &day(33));
    ws.write("work/flags.yaml", &flags);
    ws.write("db/001_add_coupon.sql", SAFE_SQL);

    // The rollout at the end runs on the real clock, and its gates are evaluated then: the
    // rehearsal and the on-call acknowledgement they look at happen on it too (at the
    // fixtures' fixed time they would age past staging.max_age as the calendar moves on).
    let now = chrono::Utc::now().to_rfc3339();
    let env = [("STAGING_TOKEN", STAGING_TOKEN), ("SHIP_NOW", now.as_str())];
    let r = ship_env_exits(&ws, &env, &["rehearse", "web", "--json"], 0);
    let j = r.json();
    assert_eq!(j["rehearsal"]["ok"], true, "{j}");
    assert!(
        j["rehearsal"]["rollback_ms"].as_u64().unwrap() < 30_000,
        "{j}"
    );
    assert!(j["rehearsal"]["total_ms"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["flags"][0]["ok"], true, "{j}");
    // Staging is back on the stable version.
    assert_eq!(servers::versions(staging.listen, 20), vec!["v1"]);

    // The first check after configuring [oncall] sends the notification; it waits for an ack.
    let r = ship_env_exits(&ws, &env, &["check", "web", "--json"], 1);
    let j = r.json();
    assert_eq!(j["failing"], serde_json::json!(["oncall"]), "{j}");
    assert!(gate(&j, "rollback-rehearsal")["evidence"][0]
        .as_str()
        .unwrap()
        .contains("rollback took"));
    assert!(ws.read("oncall-inbox.txt").contains("web"), "notified");
    assert!(gate(&j, "oncall")["fix"]
        .as_str()
        .unwrap()
        .contains("ship oncall ack"));
    ship_env_exits(
        &ws,
        &env,
        &["oncall", "ack", "web", "--as", "bob@example.com"],
        0,
    );

    let r = ship_env_exits(&ws, &env, &["check", "web"], 0);
    r.stdout_has("acknowledged by bob@example.com");
    r.stdout_has("may start");
    let c = ws.read("work/releases/2026-11-27-web.md");
    assert!(c.contains("## Pre-deployment checks\n\n**Passed**"), "{c}");
    assert_eq!(
        ws.ship(&["release", "verify", "web"]).code,
        0,
        "records keep the approval"
    );
    // The notification went out once, however often `ship check` ran.
    assert_eq!(ws.events("web", "oncall-notified").len(), 1);

    let r = ship_env_exits(&ws, &env, &["rollout", "start", "web"], 0);
    r.stdout_has("every pre-deployment gate passes");
    assert!(r.stdout.contains("PASSED"), "validation ran: {}", r.stdout);
    drop(staging);
}

#[test]
fn an_override_is_recorded_and_approval_can_never_be_waived() {
    let ws = gated_ws(SAFE_SQL);
    ws.write("work/flags.yaml", FLAGS_YAML);
    // Approval first: refused as a whole, nothing recorded, nothing routed.
    let r = ws.ship_exits(
        &[
            "rollout",
            "start",
            "web",
            "--override",
            "approval",
            "--override",
            "oncall",
            "--reason",
            "in a hurry",
            "--as",
            "carol@example.com",
        ],
        1,
    );
    r.text_has("approval gate can never be overridden");
    assert!(!ws.path("weights.log").exists());
    // A waiver without a reason is a usage error.
    ws.ship_exits(&["check", "web", "--override", "oncall"], 2);

    let r = ws.ship(&[
        "rollout",
        "start",
        "web",
        "--override",
        "rollback-rehearsal",
        "--override",
        "feature-flags",
        "--override",
        "oncall",
        "--reason",
        "staging is down; rollback rehearsed on 2026-11-20 (INC-42)",
        "--as",
        "carol@example.com",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    r.stdout_has("waived: rollback-rehearsal, feature-flags, oncall");
    let waivers = ws.events("web", "gate-overridden");
    assert_eq!(waivers.len(), 3, "{waivers:?}");
    assert_eq!(waivers[0]["data"]["by"], "carol@example.com");
    assert!(waivers[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("INC-42"));
    let text = ws.ship(&["audit", "log", "--release", "web"]).stdout;
    assert!(text.contains("gate-overridden"), "{text}");
    let c = ws.read("work/releases/2026-11-27-web.md");
    assert!(
        c.contains("overridden by carol@example.com: staging is down"),
        "{c}"
    );
    assert_eq!(ws.ship(&["audit", "verify"]).code, 0);
}

#[test]
fn a_hotfix_keeps_its_quality_gate_mandatory() {
    let ws = gated_ws(SAFE_SQL);
    ws.verdict_fix();
    ws.ship_exits(&HOTFIX_NEW, 0);
    let alice = ws.path("keys/alice");
    assert_eq!(
        ws.ship(&["release", "submit", "fix", "--as", "agent@example.com"])
            .code,
        0
    );
    ws.ship_exits(
        &[
            "release",
            "approve",
            "fix",
            "--key",
            alice.to_str().unwrap(),
        ],
        0,
    );
    let r = ws.ship_exits(
        &[
            "check",
            "fix",
            "--override",
            "quality-evaluations",
            "--reason",
            "emergency",
            "--as",
            "carol@example.com",
        ],
        1,
    );
    r.text_has("cannot be overridden for a hotfix");
}

#[test]
fn rehearse_without_staging_says_how_to_configure_it() {
    let ws = gated_ws(SAFE_SQL);
    let r = ws.ship_exits(&["rehearse", "web"], 2);
    r.text_has("[staging]");
    let r = ws.ship(&["oncall", "ack", "web", "--as", "bob"]);
    assert_eq!(
        r.code,
        1,
        "acknowledging before any notification: {}",
        r.text()
    );
    r.text_has("ship check");
}

/// Release `web` approved, through the builtin proxy in front of v1 and `v2_args`, with the
/// smoke tests given; the proxy runs.
fn builtin_ws(v2_args: &str, smoke: &str) -> (Ws, Proxy) {
    let (ws, _, _) = builtin_config(v2_args, smoke);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    let listen: SocketAddr = proxy_listen(&ws);
    let p = start_proxy(&ws, listen);
    (ws, p)
}

const SMOKE: &str = "[[smoke]]\nname = \"checkout answers v2\"\npath = \"/checkout\"\njson_pointer = \"/version\"\njson_equals = \"v2\"\nmax_latency = \"2s\"\ntags = [\"user-facing\"]\n\n[[smoke]]\nname = \"cart\"\npath = \"/cart\"\ntags = [\"user-facing\"]\n";

#[test]
fn validation_through_the_builtin_proxy_passes_a_healthy_version() {
    let (ws, proxy) = builtin_ws("", SMOKE);
    let stop = traffic(proxy.listen);
    std::thread::sleep(Duration::from_secs(1));
    let env = [("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)];
    let mut args = start("web");
    args.push("--json");
    let r = ship_env(&ws, &env, &args);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(r.code, 0, "{}", r.text());
    let j = r.json();
    assert_eq!(j["validation"]["result"], "passed", "{j}");
    let items = j["validation"]["items"].as_array().unwrap();
    let smoke = items.iter().find(|i| i["item"] == "smoke-tests").unwrap();
    assert_eq!(smoke["status"], "pass", "{smoke}");
    ws.assert_web_contract_has(&["status: shipped"]);
    // `ship validate` again reports the recorded result.
    let r = ship_env_exits(&ws, &env, &["validate", "web"], 0);
    r.stdout_has("already passed");
    drop(proxy);
}

#[test]
fn a_failing_smoke_test_rolls_back_and_writes_one_incident_signal() {
    // v2's golden metrics stay healthy (the cart is not in the load), but its /cart is broken.
    let (ws, proxy) = builtin_ws("--fail-path /cart", SMOKE);
    let stop = traffic(proxy.listen);
    std::thread::sleep(Duration::from_secs(1));
    let env = [("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)];
    let r = ship_env(&ws, &env, &start("web"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(r.code, 1, "{}", r.text());
    r.stdout_has("completed at 100 %");
    r.stdout_has("FAILED");
    r.stdout_has("smoke test `cart` failed");
    r.stdout_has("rolled back");
    // All traffic is back on v1.
    assert_eq!(servers::versions(proxy.listen, 20), vec!["v1"]);
    let s = ship_env(&ws, &env, &["rollout", "status", "web", "--json"]).json();
    assert_eq!(s["state"]["phase"]["phase"], "rolled-back", "{s}");
    let signals: Vec<_> = ws.signals(".md");
    assert_eq!(signals.len(), 1, "one incident, not two: {signals:?}");
    let text = std::fs::read_to_string(&signals[0]).unwrap();
    assert!(text.contains("type: incident"), "{text}");
    assert!(text.contains("event: validation:2026-11-27-web"), "{text}");
    assert!(text.contains("answered 500"), "{text}");
    ws.assert_web_contract_has(&["status: rolled-back", "Result: **failed**"]);
    drop(proxy);
}

#[test]
fn migrations_lint_exit_codes_0_1_2_and_json() {
    let ws = Ws::init();
    ws.write("db/ok/001.sql", SAFE_SQL);
    ws.write("db/bad/001.sql", UNSAFE_SQL);
    ws.write(
        "db/allowed/001.sql",
        &UNSAFE_SQL.replace(
            "ALTER TABLE orders DROP",
            "-- ship:allow ban-drop-column unused since 2026-09 (ADR-12)\nALTER TABLE orders DROP",
        ),
    );
    ws.write("db/broken/001.sql", "ALTER TABLE orders ADD COLUMN;\n");
    ws.ship_exits(&["migrations", "lint", "db/ok"], 0);
    let r = ws.ship_exits(&["migrations", "lint", "db/bad", "--json"], 1);
    let j = r.json();
    let f = &j["files"][0]["findings"][0];
    assert_eq!(f["rule"], "ban-drop-column", "{j}");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["line"], 3);
    assert!(!f["help"].as_str().unwrap().is_empty());
    let r = ws.ship(&["migrations", "lint", "db/allowed"]);
    assert_eq!(
        r.code,
        0,
        "an accepted statement is not an error: {}",
        r.text()
    );
    r.stdout_has("allowed[ban-drop-column]");
    r.stdout_has("ADR-12");
    let r = ws.ship_exits(&["migrations", "lint", "db/broken/001.sql"], 2);
    assert!(
        r.text().contains("001.sql") && r.text().contains(":1:"),
        "{}",
        r.text()
    );
    ws.ship_exits(&["migrations", "lint", "db/missing"], 2);
}

#[test]
fn flags_list_and_stale_for_people_and_ci() {
    let ws = Ws::init();
    let r = ws.ship_exits(&["flags", "list"], 0);
    r.stdout_has("No feature flags registered");
    ws.write(
        "work/flags.yaml",
        "flags:\n- name: new-checkout\n  owner: alice@example.com\n  type: release\n  default: false\n  created: 2026-11-20\n  cleanup_by: 2026-12-30\n- name: old-banner\n  owner: bob@example.com\n  type: experiment\n  default: true\n  created: 2026-09-01\n  cleanup_by: 2026-10-01\n- name: payments-off\n  owner: sre@example.com\n  type: kill-switch\n  default: false\n  created: 2025-01-01\n",
    );
    let r = ws.ship_exits(&["flags", "list"], 0);
    r.stdout_has("OVERDUE by 57 days");
    r.stdout_has("permanent");
    let r = ws.ship_exits(&["flags", "stale", "--json"], 1);
    let j = r.json();
    assert_eq!(j["stale"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["stale"][0]["flag"], "old-banner");
    // A temporary flag without a cleanup date is an error the list names.
    ws.write(
        "work/flags.yaml",
        "flags:\n- name: no-date\n  owner: alice@example.com\n  type: release\n  default: false\n  created: 2026-11-20\n",
    );
    let r = ws.ship_exits(&["flags", "list"], 1);
    r.stdout_has("cleanup_by");
    // Malformed: exit 2 naming file and line.
    ws.write("work/flags.yaml", "flags:\n- name: x\n  type: sometimes\n");
    let r = ws.ship_exits(&["flags", "list"], 2);
    r.text_has("work/flags.yaml:3");
}

#[test]
fn manual_validation_failure_raises_the_incident_and_a_person_rolls_back() {
    // on_failure is a decision setting: set before the release is compiled and approved.
    let ws = gated_ws_with(SAFE_SQL, |c| {
        set(&c, "validation", "on_failure", "\"manual\"")
    });
    ws.write("work/flags.yaml", FLAGS_YAML);
    let cfg = ws.read("ship.toml");
    ws.write(
        "ship.toml",
        &format!(
            "{cfg}\n[[smoke]]\nname = \"orders consistent\"\ncommand = \"test -f orders-ok\"\n"
        ),
    );
    let mut args = start("web");
    args.extend(["--override", "feature-flags"]);
    let r = ws.ship_exits(&args, 1);
    r.stdout_has("smoke test `orders consistent` failed");
    assert_eq!(
        ws.read("weight").trim(),
        "100",
        "manual: nothing rolled back"
    );
    ws.assert_web_contract_has(&["status: validating", "Result: **failed**"]);
    let signal = ws
        .signals("validation-failed")
        .into_iter()
        .next()
        .expect("an incident signal");
    let text = std::fs::read_to_string(signal).unwrap();
    assert!(text.contains("ship rollout abort 2026-11-27-web"), "{text}");
    // Validating again reports the recorded failure; a person rolls back.
    let r = ws.ship_exits(&["validate", "web"], 1);
    r.stdout_has("already failed");
    ws.ship_exits(
        &["rollout", "abort", "web", "--reason", "orders inconsistent"],
        0,
    );
    assert_eq!(ws.read("weight").trim(), "0");
    ws.assert_web_contract_has(&["status: rolled-back"]);
}

#[test]
fn a_shipped_release_cannot_be_aborted() {
    let ws = gated_ws(SAFE_SQL);
    let mut args = start("web");
    args.extend(["--override", "feature-flags"]);
    ws.ship_exits(&args, 0);
    let r = ws.ship_exits(&["rollout", "abort", "web", "--reason", "late"], 1);
    r.text_has("shipped");
    assert_eq!(ws.read("weight").trim(), "100"); // A later check is a report only: the contract keeps the gates the release started under.
    let before = ws.read("work/releases/2026-11-27-web.md");
    let r = ws.ship(&["check", "web"]);
    r.stdout_has("already started");
    assert_eq!(ws.read("work/releases/2026-11-27-web.md"), before);
}

/// The monitoring gate asks only the metric source, and names the setting behind a failure for
/// each kind of source — never the router's settings.
#[test]
fn the_monitoring_gate_names_the_metric_setting_that_is_missing() {
    let ws = gated_ws(SAFE_SQL);
    let base = ws.read("ship.toml");
    let set = |cfg: &str, table: &str, key: &str, value: &str| {
        shiploop_config::set_key(cfg, table, key, value)
            .unwrap_or_else(|| panic!("ship.toml has no {table}.{key}"))
    };
    let monitoring = |cfg: &str| {
        ws.write("ship.toml", cfg);
        let r = ws.ship_exits(&["check", "web", "--json"], 1);
        let g = gate(&r.json(), "monitoring").clone();
        assert_eq!(g["status"], "fail", "{g}");
        g.to_string()
    };

    // Command source: the router's set_weight is empty too, and is not what is blamed.
    let cfg = set(&base, "router.command", "set_weight", "\"\"");
    let cfg = set(&cfg, "metrics.command", "command", "\"\"");
    let g = monitoring(&cfg);
    assert!(g.contains("metrics.command.command is empty"), "{g}");
    assert!(!g.contains("set_weight"), "{g}");

    // A metrics command that runs and fails: the fix names the command's setting.
    let g = monitoring(&set(&cfg, "metrics.command", "command", "\"exit 3\""));
    assert!(
        g.contains(r#"metrics.kind = \"command\": metrics.command.command = \"exit 3\""#),
        "{g}"
    );

    // Builtin source: the admin token's variable, and that metrics.kind asks for it.
    let builtin = set(&cfg, "metrics", "kind", "\"builtin\"");
    let builtin = set(&builtin, "rollback", "critical_security_alert", "false");
    let builtin = set(
        &builtin,
        "proxy",
        "token_env",
        "\"SHIP_TEST_NO_SUCH_TOKEN\"",
    );
    let g = monitoring(&builtin);
    assert!(
        g.contains(r#"metrics.kind = \"builtin\" uses ship's proxy's admin API"#)
            && g.contains("$SHIP_TEST_NO_SUCH_TOKEN (proxy.token_env)"),
        "{g}"
    );
    assert!(!g.contains("router"), "{g}");

    // Prometheus: the secret's setting, then the server's URL when it does not answer.
    let prom = set(&builtin, "metrics", "kind", "\"prometheus\"");
    let g = monitoring(&set(
        &prom,
        "metrics.prometheus",
        "bearer_token_env",
        "\"SHIP_TEST_NO_SUCH_TOKEN\"",
    ));
    assert!(
        g.contains(r#"metrics.prometheus.bearer_token_env = \"SHIP_TEST_NO_SUCH_TOKEN\""#),
        "{g}"
    );
    let url = format!("http://{}", servers::free_addr());
    let g = monitoring(&set(
        &prom,
        "metrics.prometheus",
        "url",
        &format!("{url:?}"),
    ));
    assert!(
        g.contains(&format!(
            r#"metrics.kind = \"prometheus\": metrics.prometheus.url = \"{url}\""#
        )),
        "{g}"
    );
}
