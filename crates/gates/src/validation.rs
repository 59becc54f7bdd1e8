//! Post-deployment validation (the Ship loop's Step 4), decided tick by tick from measurements and
//! smoke-test results passed in. An item fails after `failure_limit` bad ticks in a row (or
//! `error_limit` ticks its source could not answer), at once for a critical alert; at the end of
//! the window, error rate and latency must have been seen with enough data at least once.

use crate::Status;
use serde::{Deserialize, Serialize};
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::{Condition, Observation};

/// The key of the new version's error rate.
pub const ERROR_RATE: &str = "canary/error_rate";
/// The key of the new version's p99 latency.
pub const LATENCY: &str = "canary/latency_p99";
/// The key of the count of critical alerts.
pub const CRITICAL_ALERTS: &str = "alerts/critical";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// One item of post-deployment validation.
pub enum Item {
    /// The error rate stays within its limit.
    ErrorRate,
    /// The p99 latency stays within its target.
    Latency,
    /// No critical alert fires.
    CriticalAlerts,
    /// The smoke tests pass.
    SmokeTests,
    /// The user-facing smoke tests pass.
    UserFacing,
    /// Resource usage stays within its checks.
    Resources,
}

impl Item {
    /// Every item, in the report's order.
    pub const ALL: [Item; 6] = [
        Item::ErrorRate,
        Item::Latency,
        Item::CriticalAlerts,
        Item::SmokeTests,
        Item::UserFacing,
        Item::Resources,
    ];

    /// The checklist item as the Ship loop's Step 4 words it.
    pub fn text(&self) -> &'static str {
        match self {
            Item::ErrorRate => "Error rates within normal bounds",
            Item::Latency => "Latency within target",
            Item::CriticalAlerts => "No critical alerts triggered",
            Item::SmokeTests => "Smoke tests passing",
            Item::UserFacing => "User-facing functionality verified",
            Item::Resources => "Resource consumption within expected bounds",
        }
    }

    /// The item's id.
    pub fn id(&self) -> &'static str {
        match self {
            Item::ErrorRate => "error-rate",
            Item::Latency => "latency",
            Item::CriticalAlerts => "critical-alerts",
            Item::SmokeTests => "smoke-tests",
            Item::UserFacing => "user-facing",
            Item::Resources => "resources",
        }
    }
}

/// A resource bound: a `[checks.NAME]` measured on the new version.
#[derive(Debug, Clone)]
pub struct ResourceCheck {
    /// The check's name.
    pub name: String,
    /// The metric's key.
    pub key: String,
    /// What the value must meet.
    pub condition: Condition,
    /// Samples needed before it counts.
    pub min_samples: u64,
}

#[derive(Debug, Clone)]
/// What validation holds production to.
pub struct Limits {
    /// Highest acceptable error rate (0–1).
    pub max_error_rate: f64,
    /// How that limit came about, for the evidence.
    pub error_rate_basis: String,
    /// The p99 latency target, in seconds.
    pub p99_target_secs: f64,
    /// Requests needed before a rate counts.
    pub min_samples: u64,
    /// Consecutive failed ticks that fail an item.
    pub failure_limit: u32,
    /// Consecutive ticks the source could not answer that fail an item.
    pub error_limit: u32,
    /// Whether a source answers `alerts/critical`.
    pub alerts: bool,
    /// The resource checks (`validation.resource_checks`).
    pub resources: Vec<ResourceCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One smoke test's result.
pub struct SmokeOutcome {
    /// The test's name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Whether it is tagged user-facing.
    pub user_facing: bool,
    /// What it saw.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One item's result.
pub struct ItemResult {
    /// The item.
    pub item: Item,
    /// Its line in the report.
    pub text: String,
    /// Its status.
    pub status: Status,
    /// What the evidence shows.
    pub evidence: String,
}

#[derive(Debug, Clone, Default)]
struct Track {
    failed: Option<String>,
    bad: u32,
    errors: u32,
    seen: bool,
    last: String,
}

impl Track {
    fn good(&mut self, evidence: String) {
        self.bad = 0;
        self.errors = 0;
        self.seen = true;
        self.last = evidence;
    }
    fn bad(&mut self, evidence: String, limit: u32) {
        self.errors = 0;
        self.bad += 1;
        self.last = evidence.clone();
        if self.bad >= limit && self.failed.is_none() {
            self.failed = Some(format!("{evidence} ({} checks in a row)", self.bad));
        }
    }
    /// A measurement over requests (error rate, latency): judged once the window holds
    /// `min_samples` requests; `judge` gives the evidence and whether the value is over its limit
    /// (a NaN value always is).
    fn per_request(
        &mut self,
        m: Option<&Measurement>,
        l: &Limits,
        judge: impl Fn(f64, u64) -> (String, bool),
    ) {
        let min = l.min_samples;
        match m {
            Some(Measurement::Value { value, samples, .. }) if *samples >= min => {
                let (text, over) = judge(*value, *samples);
                if over || value.is_nan() {
                    self.bad(text, l.failure_limit)
                } else {
                    self.good(text)
                }
            }
            Some(Measurement::Value { samples, .. }) => {
                self.last = format!("only {samples} requests in the window (need {min})")
            }
            Some(Measurement::NoData) | None => self.last = "no data yet".into(),
            Some(Measurement::Error { message, .. }) => self.error(message.clone(), l.error_limit),
        }
    }
    fn error(&mut self, message: String, limit: u32) {
        self.errors += 1;
        self.last = format!("cannot measure: {message}");
        if self.errors >= limit && self.failed.is_none() {
            self.failed = Some(format!(
                "could not be measured {} times in a row: {message}",
                self.errors
            ));
        }
    }
}

#[derive(Debug, Clone)]
/// Post-deployment validation's state over its window: fed each tick, it says each item's status.
pub struct Validator {
    limits: Limits,
    tracks: Vec<Track>,
    smoke_bad: std::collections::BTreeMap<String, u32>,
    smoke_declared: usize,
    user_facing_declared: usize,
    ticks: u32,
}

fn idx(i: Item) -> usize {
    Item::ALL.iter().position(|x| *x == i).unwrap_or(0)
}

impl Validator {
    /// A validator for these limits and the number of smoke tests (and user-facing ones) declared.
    pub fn new(limits: Limits, smoke_declared: usize, user_facing_declared: usize) -> Validator {
        Validator {
            limits,
            tracks: vec![Track::default(); Item::ALL.len()],
            smoke_bad: Default::default(),
            smoke_declared,
            user_facing_declared,
            ticks: 0,
        }
    }

    /// The metric keys a tick must measure.
    pub fn keys(&self) -> Vec<String> {
        let mut k = vec![ERROR_RATE.to_string(), LATENCY.to_string()];
        if self.limits.alerts {
            k.push(CRITICAL_ALERTS.into());
        }
        k.extend(self.limits.resources.iter().map(|r| r.key.clone()));
        k.sort();
        k.dedup();
        k
    }

    /// Takes one tick's evidence; returns the first item that failed, with why.
    pub fn observe(&mut self, obs: &Observation, smoke: &[SmokeOutcome]) -> Option<(Item, String)> {
        self.ticks += 1;
        let l = self.limits.clone();
        // Error rate.
        self.tracks[idx(Item::ErrorRate)].per_request(obs.get(ERROR_RATE), &l, |value, samples| {
            let text = format!(
                "error rate {:.2} % over {samples} requests (limit {:.2} %: {})",
                value * 100.0,
                l.max_error_rate * 100.0,
                l.error_rate_basis
            );
            (text, value > l.max_error_rate + 1e-12)
        });
        // Latency.
        self.tracks[idx(Item::Latency)].per_request(obs.get(LATENCY), &l, |value, samples| {
            let text = format!(
                "p99 {:.0} ms over {samples} requests (target {:.0} ms)",
                value * 1000.0,
                l.p99_target_secs * 1000.0
            );
            (text, value > l.p99_target_secs)
        });
        // Critical alerts: one is enough.
        if l.alerts {
            let t = &mut self.tracks[idx(Item::CriticalAlerts)];
            match obs.get(CRITICAL_ALERTS) {
                Some(Measurement::Value { value, detail, .. }) if *value > 0.0 => {
                    let names = detail.clone().unwrap_or_default();
                    t.bad(
                        format!("{value} critical alert(s) firing {names}")
                            .trim()
                            .to_string(),
                        1,
                    )
                }
                Some(Measurement::Value { .. }) | Some(Measurement::NoData) => {
                    t.good("no critical alert fired".into())
                }
                Some(Measurement::Error { message, .. }) => t.error(message.clone(), l.error_limit),
                None => t.error("the alert source did not answer".into(), l.error_limit),
            }
        }
        // Resources: one verdict per tick over every bound.
        let mut good = Vec::new();
        let mut bad = None;
        let mut err = None;
        for r in &l.resources {
            match obs.get(&r.key) {
                Some(Measurement::Value { value, samples, .. }) if *samples >= r.min_samples => {
                    let text = format!("{} = {value} (bound {})", r.name, r.condition);
                    if r.condition.holds(*value) {
                        good.push(text);
                    } else if bad.is_none() {
                        bad = Some(text);
                    }
                }
                Some(Measurement::Error { message, .. }) => err = Some(message.clone()),
                _ => {}
            }
        }
        let t = &mut self.tracks[idx(Item::Resources)];
        match (bad, err) {
            (Some(b), _) => t.bad(b, l.failure_limit),
            (None, Some(e)) => t.error(e, l.error_limit),
            (None, None) if !good.is_empty() => t.good(good.join(", ")),
            _ => {}
        }
        // Smoke tests, each with its own run of failures.
        if !smoke.is_empty() {
            let mut failing = Vec::new();
            for s in smoke {
                let n = self.smoke_bad.entry(s.name.clone()).or_insert(0);
                if s.ok {
                    *n = 0;
                } else {
                    *n += 1;
                    failing.push((s, *n));
                }
            }
            for (item, only_user_facing) in [(Item::SmokeTests, false), (Item::UserFacing, true)] {
                let relevant: Vec<&SmokeOutcome> = smoke
                    .iter()
                    .filter(|s| !only_user_facing || s.user_facing)
                    .collect();
                if relevant.is_empty() {
                    continue;
                }
                let t = &mut self.tracks[idx(item)];
                let worst = failing
                    .iter()
                    .filter(|(s, _)| !only_user_facing || s.user_facing)
                    .max_by_key(|(_, n)| *n);
                match worst {
                    None => {
                        let names: Vec<&str> = relevant.iter().map(|s| s.name.as_str()).collect();
                        t.good(format!("{} passing: {}", relevant.len(), names.join(", ")))
                    }
                    Some((s, n)) => {
                        t.bad = n - 1;
                        t.bad(
                            format!("smoke test `{}` failed: {}", s.name, s.detail),
                            l.failure_limit,
                        )
                    }
                }
            }
        }
        Item::ALL
            .iter()
            .find_map(|i| self.tracks[idx(*i)].failed.clone().map(|why| (*i, why)))
    }

    /// The items as they stand; `ended` applies the end-of-window rules (nothing seen → fail
    /// for error rate and latency, warnings for what is not configured).
    pub fn items(&self, ended: bool) -> Vec<ItemResult> {
        Item::ALL
            .iter()
            .map(|i| {
                let t = &self.tracks[idx(*i)];
                let configured = match i {
                    Item::CriticalAlerts => self.limits.alerts,
                    Item::SmokeTests => self.smoke_declared > 0,
                    Item::UserFacing => self.user_facing_declared > 0,
                    Item::Resources => !self.limits.resources.is_empty(),
                    Item::ErrorRate | Item::Latency => true,
                };
                let (status, evidence) = if let Some(why) = &t.failed {
                    (Status::Fail, why.clone())
                } else if ended && configured && (t.bad > 0 || t.errors > 0) {
                    // The window ended in the middle of a failure: it is not a pass.
                    (
                        Status::Fail,
                        format!("still failing when the window ended: {}", t.last),
                    )
                } else if ended && configured && !t.seen {
                    (
                        Status::Fail,
                        format!(
                            "never measured with enough data during the window ({})",
                            if t.last.is_empty() {
                                "no answer"
                            } else {
                                &t.last
                            }
                        ),
                    )
                } else {
                    match i {
                        Item::CriticalAlerts if !self.limits.alerts => (
                            Status::Warn,
                            "not checked: no alert source ([alerts] kind = \"alertmanager\")"
                                .into(),
                        ),
                        Item::SmokeTests if self.smoke_declared == 0 => (
                            Status::Warn,
                            "no smoke tests declared ([[smoke]] in ship.toml)".into(),
                        ),
                        Item::UserFacing if self.user_facing_declared == 0 => {
                            (Status::Warn, "no smoke test is tagged user-facing".into())
                        }
                        Item::Resources if self.limits.resources.is_empty() => (
                            Status::Warn,
                            "not checked: validation.resource_checks names no [checks.NAME]".into(),
                        ),
                        _ if !t.seen && !ended => (Status::Pass, format!("pending: {}", t.last)),
                        _ => (Status::Pass, t.last.clone()),
                    }
                };
                ItemResult {
                    item: *i,
                    text: i.text().to_string(),
                    status,
                    evidence,
                }
            })
            .collect()
    }

    /// Ticks seen so far.
    pub fn ticks(&self) -> u32 {
        self.ticks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_error_rate: 0.011,
            error_rate_basis: "stable baseline 0.10 % + 1 pp".into(),
            p99_target_secs: 0.3,
            min_samples: 50,
            failure_limit: 2,
            error_limit: 3,
            alerts: true,
            resources: vec![ResourceCheck {
                name: "resource-usage".into(),
                key: "canary/memory_rss_bytes".into(),
                condition: "< 100000000".parse().unwrap(),
                min_samples: 1,
            }],
        }
    }

    fn obs(err: f64, p99: f64, alerts: f64, rss: f64) -> Observation {
        Observation::from([
            (ERROR_RATE.to_string(), Measurement::value(err, 500)),
            (LATENCY.to_string(), Measurement::value(p99, 500)),
            (CRITICAL_ALERTS.to_string(), Measurement::value(alerts, 1)),
            (
                "canary/memory_rss_bytes".to_string(),
                Measurement::value(rss, 1),
            ),
        ])
    }

    fn smoke(ok: bool) -> Vec<SmokeOutcome> {
        vec![SmokeOutcome {
            name: "checkout".into(),
            ok,
            user_facing: true,
            detail: if ok {
                "200".into()
            } else {
                "answered 500".into()
            },
        }]
    }

    #[test]
    fn a_healthy_window_passes_every_item() {
        let mut v = Validator::new(limits(), 1, 1);
        for _ in 0..5 {
            assert_eq!(v.observe(&obs(0.002, 0.05, 0.0, 5e7), &smoke(true)), None);
        }
        let items = v.items(true);
        assert!(items.iter().all(|i| i.status == Status::Pass), "{items:#?}");
        assert!(
            items[0].evidence.contains("0.20 %"),
            "{}",
            items[0].evidence
        );
    }

    #[test]
    fn a_failing_smoke_test_fails_after_the_failure_limit() {
        let mut v = Validator::new(limits(), 1, 1);
        assert_eq!(v.observe(&obs(0.0, 0.05, 0.0, 5e7), &smoke(false)), None);
        let (item, why) = v.observe(&obs(0.0, 0.05, 0.0, 5e7), &smoke(false)).unwrap();
        assert_eq!(item, Item::SmokeTests);
        assert!(why.contains("`checkout` failed: answered 500"), "{why}");
        let items = v.items(false);
        assert_eq!(items[4].status, Status::Fail, "user-facing too");
    }

    #[test]
    fn a_smoke_test_that_recovers_resets_its_count() {
        let mut v = Validator::new(limits(), 1, 1);
        for ok in [false, true, false, true] {
            assert_eq!(v.observe(&obs(0.0, 0.05, 0.0, 5e7), &smoke(ok)), None);
        }
    }

    #[test]
    fn error_rate_latency_resources_fail_and_an_alert_fails_at_once() {
        let mut v = Validator::new(limits(), 1, 1);
        v.observe(&obs(0.05, 0.05, 0.0, 5e7), &smoke(true));
        let (i, why) = v.observe(&obs(0.05, 0.05, 0.0, 5e7), &smoke(true)).unwrap();
        assert_eq!(i, Item::ErrorRate);
        assert!(
            why.contains("5.00 %") && why.contains("limit 1.10 %"),
            "{why}"
        );

        let mut v = Validator::new(limits(), 1, 1);
        v.observe(&obs(0.0, 0.9, 0.0, 5e7), &smoke(true));
        assert_eq!(
            v.observe(&obs(0.0, 0.9, 0.0, 5e7), &smoke(true)).unwrap().0,
            Item::Latency
        );

        let mut v = Validator::new(limits(), 1, 1);
        assert_eq!(
            v.observe(&obs(0.0, 0.05, 1.0, 5e7), &smoke(true))
                .unwrap()
                .0,
            Item::CriticalAlerts
        );

        let mut v = Validator::new(limits(), 1, 1);
        v.observe(&obs(0.0, 0.05, 0.0, 5e8), &smoke(true));
        let (i, why) = v.observe(&obs(0.0, 0.05, 0.0, 5e8), &smoke(true)).unwrap();
        assert_eq!(i, Item::Resources);
        assert!(why.contains("resource-usage"), "{why}");
    }

    #[test]
    fn no_data_fails_only_at_the_end_and_unconfigured_items_warn() {
        let mut l = limits();
        l.alerts = false;
        l.resources.clear();
        let mut v = Validator::new(l, 0, 0);
        let few = Observation::from([(ERROR_RATE.to_string(), Measurement::value(0.0, 3))]);
        assert_eq!(v.observe(&few, &[]), None);
        let now = v.items(false);
        assert!(now.iter().all(|i| i.status != Status::Fail));
        let end = v.items(true);
        assert_eq!(end[0].status, Status::Fail);
        assert!(
            end[0].evidence.contains("only 3 requests"),
            "{}",
            end[0].evidence
        );
        for i in [2, 3, 4, 5] {
            assert_eq!(end[i].status, Status::Warn, "{:?}", end[i]);
        }
    }

    #[test]
    fn a_window_that_ends_during_a_failure_does_not_pass() {
        let mut v = Validator::new(limits(), 1, 1);
        assert_eq!(v.observe(&obs(0.0, 0.05, 0.0, 5e7), &smoke(true)), None);
        // One bad tick, below the failure limit of 2, then the window ends.
        assert_eq!(v.observe(&obs(0.5, 0.05, 0.0, 5e7), &smoke(false)), None);
        let end = v.items(true);
        assert_eq!(end[0].status, Status::Fail, "{:?}", end[0]);
        assert!(
            end[0].evidence.contains("still failing"),
            "{}",
            end[0].evidence
        );
        assert_eq!(end[3].status, Status::Fail, "smoke: {:?}", end[3]);
        assert_eq!(
            v.items(false)[0].status,
            Status::Pass,
            "not yet while it runs"
        );
    }

    #[test]
    fn a_configured_resource_bound_without_data_fails_at_the_end() {
        let mut v = Validator::new(limits(), 1, 1);
        let mut o = obs(0.0, 0.05, 0.0, 5e7);
        o.remove("canary/memory_rss_bytes");
        assert_eq!(v.observe(&o, &smoke(true)), None);
        let end = v.items(true);
        assert_eq!(end[5].status, Status::Fail, "{:?}", end[5]);
        assert!(
            end[5].evidence.contains("never measured"),
            "{}",
            end[5].evidence
        );
    }

    #[test]
    fn a_source_that_keeps_failing_fails_the_item_at_the_error_limit() {
        let mut v = Validator::new(limits(), 0, 0);
        let down = Observation::from([(
            ERROR_RATE.to_string(),
            Measurement::error("connection refused"),
        )]);
        assert_eq!(v.observe(&down, &[]), None);
        assert_eq!(v.observe(&down, &[]), None);
        let (i, why) = v.observe(&down, &[]).unwrap();
        assert_eq!(i, Item::ErrorRate);
        assert!(why.contains("connection refused"));
    }
}
