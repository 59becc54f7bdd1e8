//! Webhooks: rollout events from the event log, POSTed to `[[webhooks]]` as CloudEvents 1.0
//! (structured JSON) or Slack messages, signed with HMAC-SHA256.
//!
//! Delivery reads the hash-chained event log after a per-release cursor, so it is at least
//! once: a crash between a POST and moving the cursor sends that event again with the same
//! CloudEvents `id`, which receivers use to drop duplicates. Delivery runs beside the rollout,
//! never in its way: a receiver that fails is retried with backoff, then recorded as a
//! `webhook-failed` event, and the rollout never waits for it.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use shiploop_config::WebhookCfg;
use shiploop_providers::http::{Auth, Http};
use shiploop_rollout::criteria::Outcome;
use shiploop_rollout::{Decision, DecisionKind};
use shiploop_store::event::{DecisionEvent, Event, WebhookFailed};
use shiploop_store::{LoggedEvent, StateStore};
use std::time::Duration;

/// CloudEvents `type` prefix; the config names types without it.
pub const TYPE_PREFIX: &str = "dev.shiploop.";

/// An event as it leaves ship.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Without the prefix: `rollout.rolled-back`.
    pub kind: String,
    /// `<release>-<seq>`: the event's place in the log, the same on every retry (CloudEvents `id`).
    pub id: String,
    /// The release the event is about.
    pub release: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// One line for people (chat messages).
    pub summary: String,
    /// The event's details as JSON.
    pub data: Value,
}

fn failing(decision: &Decision) -> Vec<String> {
    decision
        .findings
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Fail | Outcome::Error))
        .map(|f| f.name.clone())
        .collect()
}

/// What one logged event means to the outside, if anything. `previous_failing` is the failing
/// findings of the previous hold, so "check failed" is sent when a failure starts, not every tick.
pub fn outgoing(ev: &LoggedEvent, previous_failing: &mut Vec<String>) -> Option<Outgoing> {
    let make = |kind: &str, summary: String, data: Value| Outgoing {
        kind: kind.into(),
        id: format!("{}-{}", ev.release, ev.seq),
        release: ev.release.clone(),
        time: ev.at,
        summary,
        data,
    };
    // The event's fields as the log has them.
    let data = || ev.event.data().unwrap_or_default();
    match &ev.event {
        Event::ApprovalNeeded(_) => Some(make(
            "release.approval-needed",
            format!("{} waits for a human approval", ev.release),
            data(),
        )),
        Event::OncallNotification(n) => Some(make("oncall.notified", n.message.clone(), data())),
        Event::ValidationPassed(_) => Some(make(
            "validation.passed",
            format!("{}: validation passed", ev.release),
            data(),
        )),
        Event::ValidationFailed(_) => Some(make(
            "validation.failed",
            format!("{}: validation failed", ev.release),
            data(),
        )),
        Event::Decision(DecisionEvent { decision: d, .. }) => {
            let (stage, weight, reason) = (&d.stage_name, d.weight, &d.reason);
            let data = json!({
                "stage": stage,
                "weight": weight,
                "reason": reason,
                "findings": d.findings,
            });
            // A rollback or completion the router refused is decided again on each retry; the
            // outside hears of it once.
            let retried = match d.kind {
                DecisionKind::Rollback => Some("<rollback>"),
                DecisionKind::Complete => Some("<complete>"),
                _ => None,
            };
            if retried.is_some() && previous_failing.last().map(String::as_str) == retried {
                return None;
            }
            let now_failing = failing(d);
            let summary =
                |what: &str| format!("{}: {what} — {stage} at {weight} %: {reason}", ev.release);
            let out = match d.kind {
                DecisionKind::Start => {
                    Some(make("rollout.started", summary("rollout started"), data))
                }
                DecisionKind::Promote | DecisionKind::Complete => Some(make(
                    "rollout.stage-entered",
                    summary("stage entered"),
                    data,
                )),
                DecisionKind::Hold
                    if !now_failing.is_empty() && now_failing != *previous_failing =>
                {
                    Some(make("rollout.check-failed", summary("check failed"), data))
                }
                DecisionKind::Rollback => Some(make(
                    "rollout.rollback-triggered",
                    summary("rollback triggered"),
                    data,
                )),
                DecisionKind::RolledBack => {
                    Some(make("rollout.rolled-back", summary("rolled back"), data))
                }
                DecisionKind::Pause => Some(make("rollout.paused", summary("paused"), data)),
                DecisionKind::Resume => Some(make("rollout.resumed", summary("resumed"), data)),
                DecisionKind::Completed => {
                    Some(make("rollout.completed", summary("completed"), data))
                }
                DecisionKind::Failed => Some(make("rollout.failed", summary("FAILED"), data)),
                _ => None,
            };
            if matches!(
                d.kind,
                DecisionKind::Hold | DecisionKind::Promote | DecisionKind::Start
            ) {
                *previous_failing = now_failing;
            }
            if let Some(marker) = retried {
                // Remembered after the failing findings, so a retry of the same step is known.
                previous_failing.push(marker.to_string());
            }
            out
        }
        _ => None,
    }
}

/// The CloudEvents 1.0 structured-mode body.
pub fn cloud_event(o: &Outgoing, service: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": o.id,
        "source": format!("shiploop/{service}"),
        "type": format!("{TYPE_PREFIX}{}", o.kind),
        "subject": o.release,
        "time": o.time.to_rfc3339(),
        "datacontenttype": "application/json",
        "data": o.data,
    })
}

/// `sha256=<hex>` of HMAC-SHA256(key, body).
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why webhooks could not be set up or delivered.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A receiver's `secret_env` names a variable that is not set.
    #[error("webhook {url}: ${var} (its secret_env) is not set")]
    SecretMissing {
        /// The receiver.
        url: String,
        /// The environment variable.
        var: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] shiploop_providers::ProviderError),
    /// A receiver failed every attempt.
    #[error("{attempts} attempt(s), last: {last}")]
    Undelivered {
        /// How many POSTs were tried.
        attempts: u32,
        /// The last one's problem.
        last: String,
    },
    /// The event log or the delivery cursor could not be read or written.
    #[error(transparent)]
    Store(#[from] shiploop_store::StoreError),
}

/// One receiver, ready to send.
pub struct Hook {
    /// The receiver's `[[webhooks]]` settings.
    pub cfg: WebhookCfg,
    /// The key that signs each body (`x-ship-signature`); None without `secret_env`.
    pub secret: Option<Vec<u8>>,
    http: Http,
}

impl Hook {
    /// A hook for one `[[webhooks]]` entry, its signing key read from `secret_env`.
    pub fn new(cfg: &WebhookCfg) -> Result<Hook, WebhookError> {
        let secret = match cfg.secret_env.as_str() {
            "" => None,
            var => Some(
                std::env::var(var)
                    .map_err(|_| WebhookError::SecretMissing {
                        url: cfg.url.clone(),
                        var: var.to_string(),
                    })?
                    .into_bytes(),
            ),
        };
        Ok(Hook {
            cfg: cfg.clone(),
            secret,
            http: Http::new(cfg.timeout.0, Auth::None, None)?,
        })
    }

    fn wants(&self, kind: &str) -> bool {
        self.cfg.events.is_empty() || self.cfg.events.iter().any(|e| e == kind)
    }

    fn body(&self, o: &Outgoing, service: &str) -> (Vec<u8>, &'static str) {
        if self.cfg.format == shiploop_config::WebhookFormat::Slack {
            let text = format!("*{service}* {}", o.summary);
            (
                json!({ "text": text }).to_string().into_bytes(),
                "application/json",
            )
        } else {
            (
                cloud_event(o, service).to_string().into_bytes(),
                "application/cloudevents+json",
            )
        }
    }

    /// POSTs with retries and exponential backoff; Err(last problem) after the last attempt.
    pub async fn deliver(
        &self,
        o: &Outgoing,
        service: &str,
        backoff: Duration,
        attempts: u32,
    ) -> Result<(), WebhookError> {
        let (body, content_type) = self.body(o, service);
        let mut headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("x-ship-event-id".to_string(), o.id.clone()),
        ];
        if let Some(key) = &self.secret {
            headers.push(("x-ship-signature".to_string(), signature(key, &body)));
        }
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = crate::backoff::doubling(backoff, attempt - 1, Duration::from_secs(30));
                tokio::time::sleep(wait).await;
            }
            match self.http.post(&self.cfg.url, body.clone(), &headers).await {
                Ok(status) if (200..300).contains(&status) => return Ok(()),
                Ok(status) => last = format!("answered {status}"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(WebhookError::Undelivered { attempts, last })
    }
}

/// Delivers one release's events to every hook.
pub struct Notifier {
    /// The state database whose event log is delivered.
    pub db: shiploop_store::Location,
    /// The release whose events are sent.
    pub release: String,
    /// The service's name, sent with each event.
    pub service: String,
    /// The receivers.
    pub hooks: Vec<Hook>,
    /// The first retry's delay; doubled each time.
    pub backoff: Duration,
    /// The time of day, for the `webhook-failed` events: the caller's clock reading when the
    /// notifier was made, moved on by tokio's clock (which a test can pause).
    clock: crate::drive::Moment,
}

impl Notifier {
    /// A notifier for the release's `[[webhooks]]`; one whose secret is missing is left out.
    pub fn new(
        db: shiploop_store::Location,
        release: &str,
        service: &str,
        cfgs: &[WebhookCfg],
        now: DateTime<Utc>,
    ) -> Notifier {
        Notifier {
            db,
            release: release.into(),
            service: service.into(),
            // A receiver whose secret is missing is left out with a warning: webhooks must never
            // stop a rollout (or its rollback) from being driven.
            hooks: cfgs
                .iter()
                .filter_map(|c| match Hook::new(c) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        // Never eprintln!: under `ship serve` stderr may be a closed pipe.
                        use std::io::Write;
                        let _ = writeln!(
                            std::io::stderr(),
                            "warning: {e}; that receiver gets nothing"
                        );
                        None
                    }
                })
                .collect(),
            backoff: Duration::from_millis(500),
            clock: crate::drive::Moment::new(now),
        }
    }

    fn cursor_name(&self) -> String {
        format!("webhooks:{}", self.release)
    }

    /// Sends everything logged since the last call; returns how many events went out.
    pub async fn flush(&self) -> Result<usize, WebhookError> {
        if self.hooks.is_empty() {
            return Ok(0);
        }
        let (from, events) = {
            let store = shiploop_store::open(&self.db)?;
            let from = store.cursor(&self.cursor_name())?;
            // Called every half second while a rollout runs: when nothing was logged since the
            // last flush, do not read and decode the whole log again.
            if store.last_seq(Some(&self.release))? <= from {
                return Ok(0);
            }
            // Every earlier event, for the hold-to-failure transitions; only new ones are sent.
            (from, store.events(Some(&self.release))?)
        };
        let mut failing = Vec::new();
        let mut sent = 0;
        let mut failures = Vec::new();
        // A receiver that failed every attempt once in this flush gets one attempt per later
        // event, so a dead receiver cannot hold a process for minutes.
        let mut down = std::collections::BTreeSet::new();
        let mut last = from;
        for ev in &events {
            let out = outgoing(ev, &mut failing);
            if ev.seq <= from {
                continue;
            }
            last = ev.seq;
            let Some(o) = out else { continue };
            sent += 1;
            for hook in self.hooks.iter().filter(|h| h.wants(&o.kind)) {
                let attempts = if down.contains(&hook.cfg.url) {
                    1
                } else {
                    hook.cfg.max_attempts
                };
                if let Err(problem) = hook
                    .deliver(&o, &self.service, self.backoff, attempts)
                    .await
                {
                    down.insert(hook.cfg.url.clone());
                    failures.push(Event::WebhookFailed(WebhookFailed {
                        url: hook.cfg.url.clone(),
                        event: o.id.clone(),
                        kind: format!("{TYPE_PREFIX}{}", o.kind),
                        error: problem.to_string(),
                    }));
                }
            }
        }
        if last > from {
            let mut store = shiploop_store::open(&self.db)?;
            // The failures are recorded first: a crash after them re-sends, never forgets.
            for f in &failures {
                store.append(&self.release, f, self.clock.now())?;
            }
            // Another process that delivered the same events first is fine (at least once).
            store.advance_cursor(&self.cursor_name(), from, last)?;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, kind: &str, data: Value) -> LoggedEvent {
        LoggedEvent {
            seq,
            at: "2026-11-27T10:00:00Z".parse().unwrap(),
            release: "r1".into(),
            event: Event::from_parts(kind, data),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// A decision's data as the log stores it.
    fn decision(kind: &str, failing: &[&str]) -> Value {
        let findings: Vec<Value> = failing
            .iter()
            .map(|n| json!({"name": n, "outcome": "fail", "detail": "x"}))
            .collect();
        json!({"at": "2026-11-27T10:00:00Z", "kind": kind, "stage": 0, "stage_name": "canary", "weight": 5, "reason": "because", "findings": findings})
    }

    #[test]
    fn decisions_map_to_event_types_and_holds_only_on_new_failures() {
        let mut f = Vec::new();
        let kinds: Vec<Option<String>> = [
            ev(1, "rollout-created", json!({})),
            ev(2, "decision", decision("start", &[])),
            ev(3, "decision", decision("hold", &[])),
            ev(4, "decision", decision("hold", &["check:latency"])),
            ev(5, "decision", decision("hold", &["check:latency"])),
            ev(6, "decision", decision("rollback", &["trigger:error-rate"])),
            ev(6, "decision", decision("rollback", &["trigger:error-rate"])),
            ev(7, "router", json!({})),
            ev(8, "decision", decision("rolled-back", &[])),
        ]
        .iter()
        .map(|e| outgoing(e, &mut f).map(|o| o.kind))
        .collect();
        let kinds: Vec<&str> = kinds.iter().flatten().map(String::as_str).collect();
        assert_eq!(
            kinds,
            [
                "rollout.started",
                "rollout.check-failed",
                "rollout.rollback-triggered",
                "rollout.rolled-back"
            ]
        );
    }

    #[test]
    fn cloud_events_are_structured_and_signed() {
        let mut f = Vec::new();
        let o = outgoing(&ev(2, "decision", decision("start", &[])), &mut f).unwrap();
        let ce = cloud_event(&o, "checkout");
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["type"], "dev.shiploop.rollout.started");
        assert_eq!(ce["id"], "r1-2");
        assert_eq!(ce["source"], "shiploop/checkout");
        assert_eq!(ce["data"]["weight"], 5);
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
