use super::*;
use chrono::TimeZone;
use std::time::Duration;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn change(id: &str, problem: Option<&str>) -> ChangeEvidence {
    ChangeEvidence {
        id: id.into(),
        verdict_file: format!("work/evaluations/{id}.md"),
        problem: problem.map(str::to_string),
    }
}

#[test]
fn quality_passes_with_unchanged_pass_verdicts_and_fails_naming_the_change() {
    let ok = quality("r", &[change("a", None), change("b", None)]);
    assert_eq!(ok.status, Status::Pass);
    assert!(ok.summary().contains("a, b"), "{}", ok.summary());
    let bad = quality(
        "r",
        &[
            change("a", None),
            change("b", Some("changed since compilation")),
        ],
    );
    assert_eq!(bad.status, Status::Fail);
    assert!(bad.summary().contains("b (work/evaluations/b.md)"));
    assert!(bad.fix.unwrap().contains("ship release new"));
    assert_eq!(quality("r", &[]).status, Status::Fail);
}

#[test]
fn approval_fails_with_the_command_that_fixes_it() {
    assert_eq!(
        approval("r", true, "approved by alice").status,
        Status::Pass
    );
    let f = approval("r", false, "pending: 0 of 1 approvals");
    assert_eq!(f.status, Status::Fail);
    assert!(f.fix.unwrap().contains("ship release approve r"));
}

fn rehearsed(hours_ago: i64, ok: bool) -> Rehearsal {
    Rehearsal {
        at: now() - chrono::Duration::hours(hours_ago),
        ok,
        target: "staging".into(),
        rollback_ms: 420,
        total_ms: 2100,
        detail: "stable served 20/20".into(),
    }
}

#[test]
fn rehearsal_needs_a_recent_passing_run() {
    let none = rehearsal("r", None, None, WEEK, now());
    assert_eq!(none.status, Status::Fail);
    assert!(none.fix.as_ref().unwrap().contains("ship rehearse r"));
    let unconfigured = rehearsal("r", Some("staging.router = \"none\""), None, WEEK, now());
    assert!(unconfigured.fix.unwrap().contains("[staging]"));
    let ok = rehearsal("r", None, Some(&rehearsed(2, true)), WEEK, now());
    assert_eq!(ok.status, Status::Pass);
    assert!(
        ok.summary().contains("rollback took 420 ms"),
        "{}",
        ok.summary()
    );
    let old = rehearsal("r", None, Some(&rehearsed(8 * 24, true)), WEEK, now());
    assert_eq!(old.status, Status::Fail);
    assert!(
        old.summary()
            .contains("older than staging.max_age (7 days)"),
        "{}",
        old.summary()
    );
    let failed = rehearsal("r", None, Some(&rehearsed(1, false)), WEEK, now());
    assert_eq!(failed.status, Status::Fail);
    assert!(failed.summary().contains("failed"));
}

fn flag(name: &str, evaluated_hours_ago: Option<i64>) -> FlagEvidence {
    FlagEvidence {
        name: name.into(),
        registered: true,
        errors: vec![],
        warnings: vec![],
        overdue_days: None,
        evaluation: evaluated_hours_ago.map(|h| Evaluation {
            at: now() - chrono::Duration::hours(h),
            ok: true,
            detail: "exit 0".into(),
        }),
    }
}

#[test]
fn flags_must_be_registered_valid_and_evaluated_in_staging() {
    assert_eq!(flags("r", None, &[], WEEK, now()).status, Status::Pass);
    assert_eq!(
        flags("r", None, &[flag("a", Some(1))], WEEK, now()).status,
        Status::Pass
    );
    let unevaluated = flags("r", None, &[flag("a", None)], WEEK, now());
    assert_eq!(unevaluated.status, Status::Fail);
    assert!(unevaluated.summary().contains("no evaluation in staging"));
    assert!(unevaluated.fix.unwrap().contains("ship rehearse r"));
    let mut unknown = flag("ghost", Some(1));
    unknown.registered = false;
    let f = flags("r", None, &[unknown], WEEK, now());
    assert!(f.summary().contains("`ghost` is not in the flag registry"));
    let mut invalid = flag("a", Some(1));
    invalid
        .errors
        .push("release flag without cleanup_by".into());
    assert_eq!(
        flags("r", None, &[invalid], WEEK, now()).status,
        Status::Fail
    );
    let stale_eval = flags("r", None, &[flag("a", Some(24 * 8))], WEEK, now());
    assert_eq!(stale_eval.status, Status::Fail);
    let mut overdue = flag("a", Some(1));
    overdue.overdue_days = Some(3);
    let w = flags("r", None, &[overdue], WEEK, now());
    assert_eq!(w.status, Status::Warn);
    assert!(w.summary().contains("overdue by 3"));
}

#[test]
fn migrations_fail_on_errors_warn_on_hygiene() {
    let none = migrations(&MigrationEvidence::default());
    assert_eq!(none.status, Status::Pass);
    assert!(none.summary().contains("no migrations"));
    let mut e = MigrationEvidence {
        files: vec!["db/001.sql".into()],
        ..Default::default()
    };
    assert_eq!(migrations(&e).status, Status::Pass);
    e.warnings
        .push("db/001.sql:1:1 prefer-bigint-over-int".into());
    assert_eq!(migrations(&e).status, Status::Warn);
    e.errors.push("db/001.sql:3:1 ban-drop-column".into());
    e.allowed
        .push("db/001.sql:5:1 adding-not-nullable-field (reason: empty table)".into());
    let f = migrations(&e);
    assert_eq!(f.status, Status::Fail);
    assert!(f.summary().contains("ban-drop-column") && f.summary().contains("allowed: "));
    assert!(f.fix.unwrap().contains("expand/contract"));
    e.unreadable = Some("db/002.sql:1:5: syntax error".into());
    assert!(migrations(&e).summary().contains("syntax error"));
}

const SRC: &str = r#"metrics.kind = "command": metrics.command.command = "cat m.json""#;

#[test]
fn monitoring_accepts_empty_canary_series_but_not_empty_stable_ones() {
    let ok = monitoring(
        SRC,
        &[
            (
                "stable/error_rate".into(),
                Probe::Data {
                    value: 0.01,
                    samples: 500,
                },
            ),
            (
                "canary/error_rate".into(),
                Probe::NoData("no requests".into()),
            ),
        ],
    );
    assert_eq!(ok.status, Status::Pass);
    let bad = monitoring(
        SRC,
        &[
            (
                "stable/latency_p99".into(),
                Probe::NoData("empty result".into()),
            ),
            (
                "alerts/critical".into(),
                Probe::Error("connection refused".into()),
            ),
        ],
    );
    assert_eq!(bad.status, Status::Fail);
    assert!(bad.summary().contains("stable/latency_p99 returns no data"));
    assert!(bad
        .summary()
        .contains("alerts/critical fails: connection refused"));
    assert!(
        bad.fix.unwrap().contains(SRC),
        "the fix names the metric source's setting"
    );
    assert_eq!(monitoring(SRC, &[]).status, Status::Fail);
    let unset = monitoring_unconfigured(
        "ship.toml: metrics.command.command is empty",
        &["stable/error_rate".into()],
    );
    assert_eq!(unset.status, Status::Fail);
    assert!(unset
        .summary()
        .contains("metrics.command.command is empty; not asked: stable/error_rate"));
}

#[test]
fn oncall_needs_notification_and_acknowledgement() {
    let mut o = Oncall {
        team: "payments-oncall".into(),
        ..Default::default()
    };
    let f = oncall("r", &o, now());
    assert_eq!(f.status, Status::Fail);
    assert!(f.fix.unwrap().contains("oncall.notify_command"));
    o.notified = Some((now(), "webhook".into()));
    let f = oncall("r", &o, now());
    assert_eq!(f.status, Status::Fail);
    assert!(f.fix.unwrap().contains("ship oncall ack r --as"));
    o.acked = Some(("bob".into(), now()));
    let p = oncall("r", &o, now());
    assert_eq!(p.status, Status::Pass);
    assert!(p.summary().contains("acknowledged by bob"));
}

fn report(hotfix: bool) -> Report {
    Report {
        release: "r".into(),
        checked_at: now(),
        hotfix,
        gates: vec![
            approval("r", false, "pending"),
            quality("r", &[change("a", Some("changed"))]),
            monitoring(
                SRC,
                &[("stable/error_rate".into(), Probe::Error("down".into()))],
            ),
            oncall(
                "r",
                &Oncall {
                    notified: Some((now(), "webhook".into())),
                    acked: Some(("bob".into(), now())),
                    ..Default::default()
                },
                now(),
            ),
        ],
    }
}

fn waive(gate: Gate) -> Override {
    Override {
        gate,
        by: "carol".into(),
        reason: "dashboards migrated".into(),
    }
}

#[test]
fn overrides_never_waive_approval_and_keep_hotfix_security_mandatory() {
    let mut r = report(false);
    assert!(!r.passed());
    let e = r.apply_overrides(&[waive(Gate::Approval)]).unwrap_err();
    assert_eq!(e, GateError::ApprovalNotWaivable);
    assert!(e.to_string().contains("never be overridden"));
    let mut h = report(true);
    let e = h
        .apply_overrides(&[waive(Gate::QualityEvaluations)])
        .unwrap_err();
    assert!(e.to_string().contains("hotfix"), "{e}");
    // Refused as a whole: the valid waiver beside it was not applied either.
    let mut r = report(false);
    assert!(r
        .apply_overrides(&[waive(Gate::Monitoring), waive(Gate::Approval)])
        .is_err());
    assert_eq!(r.failing().len(), 3);
}

#[test]
fn overrides_are_recorded_on_failing_gates_and_noted_elsewhere() {
    let mut r = report(false);
    let notes = r
        .apply_overrides(&[waive(Gate::Monitoring), waive(Gate::Oncall)])
        .unwrap();
    let m = r.gates.iter().find(|g| g.gate == Gate::Monitoring).unwrap();
    assert_eq!(m.status, Status::Overridden);
    assert_eq!(m.overridden.as_ref().unwrap().by, "carol");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("oncall"));
    assert_eq!(r.failing(), vec![Gate::Approval, Gate::QualityEvaluations]);
    let mut blank = report(false);
    let mut o = waive(Gate::Monitoring);
    o.reason = " ".into();
    assert!(blank.apply_overrides(&[o]).is_err());
}

#[test]
fn gate_ids_parse_and_unknown_ones_list_the_valid_ids() {
    for g in Gate::ALL {
        assert_eq!(Gate::parse(g.id()).unwrap(), g);
    }
    assert!(Gate::parse("nope")
        .unwrap_err()
        .to_string()
        .contains("rollback-rehearsal"));
}
