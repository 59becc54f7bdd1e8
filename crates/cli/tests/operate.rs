//! The end of the Ship loop and the Operate loop with the built binaries: verdicts → contract →
//! approval → gates → rollout through the builtin proxy → validation → `ship handoff` →
//! STATUS.md → `ship operate tick` / `ship outcome measure` against a real Prometheus that
//! scraped the traffic this test sent → report, charts, and exactly one performance signal.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::builtin::*;
use common::servers;
use common::*;
use std::time::Duration;

const ID: &str = "2026-11-27-web";

fn env() -> [(&'static str, &'static str); 1] {
    [("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)]
}

fn outcome_contract(prometheus_metrics: bool, schedule: &str) -> String {
    let mut metrics = String::from(
        "- name: error-rate\n  source: builtin\n  query: canary/error_rate\n  comparison: '<='\n  target: 0.01\n  baseline: 0.02\n",
    );
    if prometheus_metrics {
        metrics.push_str("- name: success-ratio\n  source: prometheus\n  query: sum(rate(http_requests_total{code!~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))\n  comparison: '>='\n  target: 0.99\n  baseline: 0.98\n- name: throughput\n  source: prometheus\n  query: sum(rate(http_requests_total[1m]))\n  comparison: '>='\n  target: 1000000\n  baseline: 10\n  unit: req/s\n");
    }
    let schedule = if schedule.is_empty() {
        " []\n".to_string()
    } else {
        format!("\n{schedule}")
    };
    format!("---\nmission: checkout\nmetrics:\n{metrics}measurement_schedule:{schedule}---\n# Outcome contract: checkout\n")
}

/// `ship rollout start web` with the gates in `overrides` waived: these tests have no staging.
fn start_overriding(ws: &Ws, overrides: &[&str]) -> Run {
    let mut args = vec!["rollout", "start", "web"];
    for o in overrides {
        args.extend(["--override", o]);
    }
    args.extend([
        "--reason",
        "no staging in this test",
        "--as",
        "test@example.com",
    ]);
    ship_env(ws, &env(), &args)
}

/// `ship mission new checkout`, its outcome contract then replaced by `contract`.
fn new_mission(ws: &Ws, contract: &str) {
    ws.ship_exits(&["mission", "new", "checkout"], 0);
    ws.write("work/missions/checkout/OUTCOME-CONTRACT.md", contract);
}

/// Compiles `web` for mission `checkout` (with `extra` arguments), submits it as the agent and
/// approves it as alice.
fn compile_and_approve(ws: &Ws, extra: &[&str]) {
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    let alice = ws.key("alice", "alice@example.com", true);
    let mut new = vec!["release", "new", "web", "--mission", "checkout"];
    new.extend_from_slice(extra);
    let r = ws.ship(&new);
    assert_eq!(r.code, 0, "{new:?}: {}", r.text());
    ws.submit_and_approve_release("web", &alice);
}

/// `ship check` notifies the on-call team (notify_command) and bob acknowledges.
fn notify_and_ack(ws: &Ws) {
    let r = ship_env(ws, &env(), &["check", "web"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.text());
    ship_env_exits(
        ws,
        &env(),
        &["oncall", "ack", "web", "--as", "bob@example.com"],
        0,
    );
}

fn signals_with(ws: &Ws, needle: &str) -> Vec<String> {
    let dir = ws.path("work/signals");
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        if text.contains(needle) {
            out.push(text);
        }
    }
    out
}

#[test]
fn the_whole_loop_ends_in_operate_with_a_measured_outcome_and_one_signal() {
    let (ws, stable, canary) = builtin_config(
        "",
        "[[smoke]]\nname = \"checkout\"\npath = \"/checkout\"\ntags = [\"user-facing\"]\n",
    );
    let prom = servers::prometheus(&[("web", stable, "v1"), ("web", canary, "v2")]);
    set_all(
        &ws,
        &[
            ("oncall", "notify_command", "\"true\""),
            ("metrics.prometheus", "url", &format!("\"{}\"", prom.url())),
            ("service", "runbook", "\"docs/runbook.md\""),
        ],
    );
    ws.write(
        "docs/runbook.md",
        "# Runbook\n\nRoll back: `ship rollout abort <release>`.\n",
    );
    let schedule = format!(
        "- name: launch\n  date: {}\n- name: week-1\n  date: {}\n",
        day(0),
        day(7)
    );
    new_mission(&ws, &outcome_contract(true, &schedule));
    compile_and_approve(&ws, &[]);
    let oc = ws.read("work/missions/checkout/OUTCOME-CONTRACT.md");
    assert!(oc.contains(&format!("- {ID}")), "{oc}");

    let proxy = start_proxy(&ws, proxy_listen(&ws));
    let stop = traffic(proxy.listen);
    notify_and_ack(&ws);
    // Handing over before anything shipped names what is missing and changes nothing.
    let status_before = ws.read("STATUS.md");
    // Nor can outcomes be measured before the handoff.
    let r = ship_env_exits(&ws, &env(), &["outcome", "measure", "checkout"], 1);
    assert!(r.stderr.contains("not in Operate"), "{}", r.text());
    let r = ship_env_exits(&ws, &env(), &["handoff", "web"], 1);
    r.stdout_has("rollout-completed");
    assert_eq!(ws.read("STATUS.md"), status_before);

    let r = start_overriding(&ws, &["rollback-rehearsal"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(ws
        .read(&format!("work/releases/{ID}.md"))
        .contains("status: shipped"));

    // No alert source: "no critical alerts" is unconfirmed, and blocks until a person accepts it.
    let r = ship_env_exits(&ws, &env(), &["handoff", "web"], 1);
    // One command to run, with a reason for each unconfirmed item.
    r.stdout_has(&format!(
            "each with why (recorded in the contract):\n  ship handoff {ID} --accept critical-alerts=\"…\"\n"
        ));
    let r = ship_env_exits(
        &ws,
        &env(),
        &["handoff", "web", "--accept", "critical-alerts"],
        2,
    );
    assert!(
        r.stderr
            .contains("--accept critical-alerts needs a reason: --accept critical-alerts=\"why\""),
        "{}",
        r.text()
    );
    let unchanged = ws.read("STATUS.md");
    assert!(unchanged.contains("| checkout | ship |"), "{unchanged}");
    let r = ship_env(
        &ws,
        &env(),
        &[
            "handoff",
            "web",
            "--accept",
            "latency",
            "--reason",
            "x",
            "--as",
            "carol@example.com",
        ],
    );
    assert_eq!(
        r.code,
        1,
        "a passing item is not a warning to accept: {}",
        r.text()
    );
    assert!(r.stderr.contains("not a warning"), "{}", r.text());
    let r = ship_env(
        &ws,
        &env(),
        &[
            "handoff",
            "web",
            "--json",
            "--accept",
            "critical-alerts=no Alertmanager in this test; golden metrics watched",
            "--as",
            "carol@example.com",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.text());
    let j = r.json();
    assert_eq!(j["handed_over"], true, "{j}");
    assert_eq!(j["report"]["items"].as_array().unwrap().len(), 15, "{j}");
    let status = ws.read("STATUS.md");
    assert!(
        status.contains(&format!("| checkout | operate | {ID} |")),
        "{status}"
    );
    assert!(status.contains("| Quality Layer |"), "{status}");
    assert!(status.contains(&format!("launch ({})", day(0))), "{status}");
    let contract = ws.read(&format!("work/releases/{ID}.md"));
    assert!(contract.contains("## Handoff to Operate"), "{contract}");
    assert!(
        contract.contains("carol@example.com"),
        "the acceptance is recorded: {contract}"
    );
    // The records are outside the approval: the contract still verifies.
    ship_env_exits(&ws, &env(), &["release", "verify", "web"], 0);
    // Twice is "already", nothing changes.
    let r = ship_env_exits(&ws, &env(), &["handoff", "web"], 0);
    r.stdout_has("already handed over");
    assert_eq!(ws.read("STATUS.md"), status);

    // Prometheus needs a few scrapes of the traffic for rate() over the period.
    std::thread::sleep(Duration::from_secs(4));
    let r = ship_env_exits(&ws, &env(), &["operate", "tick", "--json"], 0);
    let t = r.json();
    let measured = t["measured"].as_array().unwrap();
    assert_eq!(measured.len(), 1, "{t}");
    assert_eq!(measured[0]["checkpoint"], "launch");
    assert_eq!(
        measured[0]["missed"],
        serde_json::json!(["throughput"]),
        "{t}"
    );
    assert_eq!(measured[0]["met"], 2, "{t}");
    let report_file = measured[0]["report_file"].as_str().unwrap().to_string();
    assert_eq!(
        report_file,
        format!("work/missions/checkout/reports/{}-launch.md", day(0))
    );
    let report = ws.read(&report_file);
    assert!(report.contains("| metric | target | actual | baseline | vs baseline | result |"));
    assert!(report.contains("| throughput | >= 1000000 |"), "{report}");
    assert!(report.contains("**missed**"), "{report}");
    assert!(report.contains(&format!("- [{ID}]")), "{report}");
    for chart in measured[0]["charts"].as_array().unwrap() {
        let svg = ws.read(chart.as_str().unwrap());
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "a chart without a series: {svg}");
    }
    assert_eq!(signals_with(&ws, "outcome-missed:checkout:launch").len(), 1);
    assert!(ws
        .read("STATUS.md")
        .contains(&format!("week-1 ({})", day(7))));

    // The same day again: nothing due is left unmeasured.
    let r = ship_env_exits(&ws, &env(), &["operate", "tick", "--json"], 0);
    let t = r.json();
    assert!(t["measured"].as_array().unwrap().is_empty(), "{t}");
    assert_eq!(t["already_measured"][0]["checkpoint"], "launch", "{t}");

    // Measured again by hand: the report is rewritten, the signal is not repeated.
    let r = ship_env(
        &ws,
        &env(),
        &["outcome", "measure", "checkout", "--checkpoint", "launch"],
    );
    assert_eq!(r.code, 1, "a missed target exits 1: {}", r.text());
    r.stdout_has("already written");
    assert_eq!(signals_with(&ws, "outcome-missed:checkout:launch").len(), 1);
    let list = ship_env(
        &ws,
        &env(),
        &["signal", "list", "--type", "performance", "--json"],
    );
    assert_eq!(
        list.json()["signals"].as_array().unwrap().len(),
        1,
        "{}",
        list.text()
    );

    // week-1 is not due: measuring it now is refused.
    let r = ship_env(
        &ws,
        &env(),
        &["outcome", "measure", "checkout", "--checkpoint", "week-1"],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("is due on"), "{}", r.text());
    // Prometheus goes away: the complete launch report is never replaced by a partial one…
    drop(prom);
    let r = ship_env_exits(
        &ws,
        &env(),
        &["outcome", "measure", "checkout", "--checkpoint", "launch"],
        1,
    );
    assert!(
        r.stderr.contains("already holds a complete measurement"),
        "{}",
        r.text()
    );
    assert!(ws.read(&report_file).contains("**missed**"));
    // …and a new checkpoint measured without it is tried again only the next day.
    let oc = ws
        .read("work/missions/checkout/OUTCOME-CONTRACT.md")
        .replace(
            "measurement_schedule:\n",
            &format!(
                "measurement_schedule:\n- name: hotfix-check\n  date: {}\n",
                day(0)
            ),
        );
    ws.write("work/missions/checkout/OUTCOME-CONTRACT.md", &oc);
    let r = ship_env_exits(&ws, &env(), &["operate", "tick", "--json"], 1);
    let t = r.json();
    assert_eq!(t["measured"][0]["checkpoint"], "hotfix-check", "{t}");
    assert!(
        ws.read("STATUS.md").contains("name: hotfix-check"),
        "STATUS.md's schedule follows the edited contract"
    );
    assert_eq!(
        t["measured"][0]["met"], 1,
        "the builtin metric still answers: {t}"
    );
    assert_eq!(
        t["measured"][0]["unmeasured"],
        serde_json::json!(["success-ratio", "throughput"]),
        "{t}"
    );
    let r = ship_env_exits(&ws, &env(), &["operate", "tick", "--json"], 1);
    let t = r.json();
    assert!(t["measured"].as_array().unwrap().is_empty(), "{t}");
    assert_eq!(t["retry_tomorrow"][0]["checkpoint"], "hotfix-check", "{t}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(proxy);
}

#[test]
fn handoff_names_every_missing_item_and_changes_nothing_until_they_hold() {
    let (ws, _, _) = builtin_config(
        "",
        "[[smoke]]\nname = \"checkout\"\npath = \"/checkout\"\ntags = [\"user-facing\"]\n",
    );
    set_all(
        &ws,
        &[
            ("oncall", "notify_command", "\"true\""),
            ("validation", "auto", "false"),
        ],
    );
    ws.write(
        "work/flags.yaml",
        "flags:\n- name: new-cart\n  owner: alice@example.com\n  type: release\n  default: false\n  created: 2026-11-20\n",
    );
    new_mission(&ws, &outcome_contract(false, ""));
    compile_and_approve(&ws, &["--flag", "new-cart"]);
    let proxy = start_proxy(&ws, proxy_listen(&ws));
    let stop = traffic(proxy.listen);
    notify_and_ack(&ws);
    let r = start_overriding(&ws, &["rollback-rehearsal", "feature-flags"]);
    assert_eq!(r.code, 0, "{}", r.text());

    let failing = |ws: &Ws| -> Vec<String> {
        let before = (
            ws.read("STATUS.md"),
            ws.read(&format!("work/releases/{ID}.md")),
        );
        let r = ship_env(ws, &env(), &["handoff", "web", "--json"]);
        let j = r.json();
        let ids: Vec<String> = j["report"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["status"] == "fail" || i["status"] == "warn")
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        if !ids.is_empty() {
            assert_eq!(r.code, 1, "{}", r.text());
            assert_eq!(j["handed_over"], false);
            // Nothing changed: STATUS.md and the contract are byte for byte the same.
            assert_eq!(ws.read("STATUS.md"), before.0);
            assert_eq!(ws.read(&format!("work/releases/{ID}.md")), before.1);
            // People see each item with its fix.
            let human = ship_env(ws, &env(), &["handoff", "web"]);
            assert_eq!(human.code, 1);
            for id in &ids {
                assert!(human.stdout.contains(id.as_str()), "{id}: {}", human.stdout);
            }
            assert!(
                human.stdout.contains("fix:") || human.stdout.contains("a person may accept it"),
                "{}",
                human.stdout
            );
        } else {
            assert_eq!(r.code, 0, "{}", r.text());
        }
        ids
    };

    // Validation skipped (validation.auto = false): not shipped, no quality evidence; no
    // measurement dates; a temporary flag without a cleanup date.
    assert_eq!(
        failing(&ws),
        vec![
            "validation-passed",
            "measurement-schedule",
            "error-rates",
            "critical-alerts",
            "latency",
            "smoke-tests",
            "ship-owner",
            "measurement-dates",
            "flag-cleanup"
        ]
    );
    ws.write(
        "work/missions/checkout/OUTCOME-CONTRACT.md",
        &outcome_contract(false, &format!("- name: week-1\n  date: {}\n", day(7))),
    );
    ws.write(
        "work/flags.yaml",
        &format!("flags:\n- name: new-cart\n  owner: alice@example.com\n  type: release\n  default: false\n  created: {}\n  cleanup_by: {}\n", day(-7), day(33)),
    );
    let left = failing(&ws);
    assert!(!left.contains(&"flag-cleanup".to_string()), "{left:?}");
    assert!(
        !left.contains(&"measurement-schedule".to_string()),
        "{left:?}"
    );
    assert!(left.contains(&"validation-passed".to_string()), "{left:?}");

    ship_env_exits(&ws, &env(), &["validate", "web"], 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Only the warning no evidence can settle is left (no alert source).
    assert_eq!(failing(&ws), vec!["critical-alerts"]);
    let before_handoff = ws.read("STATUS.md");
    ship_env_exits(
        &ws,
        &env(),
        &[
            "handoff",
            "web",
            "--accept",
            "critical-alerts",
            "--reason",
            "alerts watched by hand",
            "--as",
            "carol@example.com",
        ],
        0,
    );
    assert!(ws.read("STATUS.md").contains("| checkout | operate |"));

    // A handoff interrupted after the contract's record (STATUS.md not written) is finished by
    // the next run, which writes only what is missing.
    ws.write("STATUS.md", &before_handoff);
    let r = ship_env_exits(&ws, &env(), &["handoff", "web"], 0);
    r.stdout_has("already handed over");
    r.stdout_has("left undone: STATUS.md: mission checkout in operate");
    assert!(!r.stdout.contains("event log: handed-over"), "{}", r.stdout);
    assert!(ws.read("STATUS.md").contains("| checkout | operate |"));

    // A later release of the mission does not take it out of Operate.
    ws.verdict("v-pass-2", "PASS", "Cart tweaks");
    ws.ship_exits(&["release", "new", "followup", "--mission", "checkout"], 0);
    let status = ws.read("STATUS.md");
    assert!(
        status.contains(&format!("| checkout | operate | {ID} |")),
        "{status}"
    );
    drop(proxy);
}

#[test]
fn an_overdue_flag_raises_one_process_friction_signal_however_often_the_tick_runs() {
    let ws = Ws::init();
    ws.write(
        "work/flags.yaml",
        "flags:\n- name: old-banner\n  owner: carol@example.com\n  type: experiment\n  default: false\n  created: 2026-08-01\n  cleanup_by: 2026-09-01\n- name: kill-payments\n  owner: ops@example.com\n  type: kill-switch\n  default: false\n  created: 2026-01-01\n",
    );
    for _ in 0..2 {
        ws.ship_exits(&["operate", "tick"], 0);
    }
    let found = signals_with(&ws, "flag-overdue:old-banner");
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("type: process-friction"), "{}", found[0]);
    assert!(
        found[0].contains("severity: high"),
        "87 days overdue: {}",
        found[0]
    );
    assert!(signals_with(&ws, "kill-payments").is_empty());
    // A broken registry is reported, not skipped.
    ws.write("work/flags.yaml", "flags:\n- name: [\n");
    let r = ws.ship_exits(&["operate", "tick"], 1);
    r.stdout_has("work/flags.yaml:");
}

#[test]
fn outcome_measure_with_a_dead_prometheus_writes_nothing_and_says_why() {
    let ws = Ws::init();
    let dead = servers::free_addr();
    let cfg = set(
        &ws.read("ship.toml"),
        "metrics.prometheus",
        "url",
        &format!("\"http://{dead}\""),
    );
    ws.write("ship.toml", &cfg);
    let text = outcome_contract(true, "- name: launch\n  date: 2026-11-20\n").replace(
        "- name: error-rate\n  source: builtin\n  query: canary/error_rate\n  comparison: '<='\n  target: 0.01\n  baseline: 0.02\n",
        "",
    );
    new_mission(&ws, &text);
    // As the handoff leaves it.
    ws.write(
        "STATUS.md",
        "---\nmissions:\n- name: checkout\n  phase: operate\n  since: 2026-11-20T00:00:00Z\n---\n# Status\n",
    );
    let r = ws.ship_exits(&["outcome", "measure", "checkout"], 2);
    r.stderr_has("nothing written");
    r.stderr_has("success-ratio");
    assert!(!ws.path("work/missions/checkout/reports").exists());
    // Unknown mission and checkpoint are named.
    let r = ws.ship(&["outcome", "measure", "nope"]);
    assert_ne!(r.code, 0);
    r.stderr_has("ship mission new nope");
    let r = ws.ship(&["outcome", "measure", "checkout", "--checkpoint", "day-99"]);
    assert_ne!(r.code, 0);
    r.stderr_has("launch (2026-11-20)");
}
