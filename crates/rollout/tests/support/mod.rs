//! Shared fixtures: the Ship loop's four-stage plan with all five triggers, and observations.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use shiploop_artifacts::release::Trigger;
use shiploop_rollout::measure::{self, Measurement, Observation};
use shiploop_rollout::{Plan, Settings, StagePlan};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub fn stage(name: &str, weight: u8, duration: Option<Duration>, checks: &[&str]) -> StagePlan {
    StagePlan {
        name: name.into(),
        weight,
        duration,
        checks: checks.iter().map(|c| c.to_string()).collect(),
    }
}

pub fn triggers() -> Vec<Trigger> {
    vec![
        Trigger::ErrorRate {
            max_increase_pp: 1.0,
        },
        Trigger::P99Latency {
            target: "300ms".parse().unwrap(),
            factor: 2.0,
        },
        Trigger::HealthChecks {
            max_failed_pct: 20.0,
        },
        Trigger::CriticalSecurityAlert {},
        Trigger::DataIntegrity {
            check: Some("orders".into()),
        },
    ]
}

pub fn plan() -> Plan {
    Plan {
        stages: vec![
            stage(
                "canary",
                5,
                Some(mins(10)),
                &["error-rate", "latency", "resource-usage"],
            ),
            stage(
                "early-adopters",
                25,
                Some(mins(30)),
                &["error-rate", "latency", "user-feedback"],
            ),
            stage(
                "ga",
                50,
                Some(mins(60)),
                &["error-rate", "latency", "business-metrics"],
            ),
            stage("full", 100, None, &["error-rate", "latency"]),
        ],
        triggers: triggers(),
        latency_target: Some(Duration::from_millis(300)),
        checks: BTreeMap::new(),
        settings: Settings::default(),
    }
}

pub fn hotfix_plan() -> Plan {
    let mut p = plan();
    p.stages = vec![
        stage("canary", 5, Some(mins(5)), &["error-rate", "latency"]),
        stage("full", 100, None, &["error-rate", "latency"]),
    ];
    p
}

/// A hotfix whose 100 % stage is a validation window.
pub fn hotfix_validated_plan() -> Plan {
    let mut p = hotfix_plan();
    p.stages[1].duration = Some(mins(15));
    p
}

/// Cumulative counts as a metric source reports them since the stage began: canary requests
/// and errors, stable requests and errors.
pub fn counts(canary: (u64, u64), stable: (u64, u64)) -> Observation {
    let mut o = Observation::new();
    let n = |x: u64| Measurement::value(x as f64, 1);
    o.insert(measure::requests("canary"), n(canary.0));
    o.insert(measure::errors("canary"), n(canary.1));
    o.insert(measure::requests("stable"), n(stable.0));
    o.insert(measure::errors("stable"), n(stable.1));
    o
}

/// A healthy tick: canary 40 errors in 20,000 requests (0.2 %), none slower than 2 × target
/// and 20 slower than the target (0.1 %); stable 200 in 100,000.
pub fn healthy() -> Observation {
    let mut o = counts((20_000, 40), (100_000, 200));
    o.insert(measure::CANARY_SLOW.into(), Measurement::value(0.0, 1));
    o.insert(
        measure::CANARY_SLOW_TARGET.into(),
        Measurement::value(20.0, 1),
    );
    o.insert(
        measure::CANARY_FAILED_INSTANCES.into(),
        Measurement::value(0.0, 5),
    );
    o.insert(
        measure::CRITICAL_SECURITY_ALERTS.into(),
        Measurement::value(0.0, 1),
    );
    o.insert(measure::integrity("orders"), Measurement::value(1.0, 1));
    o
}

pub fn with(key: &str, m: Measurement) -> Observation {
    let mut o = healthy();
    o.insert(key.to_string(), m);
    o
}

/// A healthy tick whose canary had `errors` failures in its 20,000 requests.
pub fn canary_errors(errors: u64) -> Observation {
    with(
        &measure::errors("canary"),
        Measurement::value(errors as f64, 1),
    )
}
