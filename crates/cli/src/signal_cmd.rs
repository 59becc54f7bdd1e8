//! `ship signal new` and `ship signal list`: the feedback loop's signals (Step 6), for people;
//! the engine writes its own (rollbacks, validation failures, hotfixes).

use crate::output::Out;
use chrono::{DateTime, Utc};
use serde_json::json;
use shiploop_artifacts::signal::{Severity, Signal, SignalMeta, SignalStatus, SignalType, Source};
use shiploop_workspace::{Error, Workspace};

fn parse_enum<T: serde::de::DeserializeOwned>(
    what: &str,
    v: &str,
    valid: &str,
) -> Result<T, Error> {
    serde_json::from_value(json!(v))
        .map_err(|_| Error::Usage(format!("{what} {v:?}: use one of {valid}")))
}

pub const TYPES: &str =
    "performance, customer-feedback, process-friction, unexpected-behavior, incident";
pub const SEVERITIES: &str = "low, medium, high, critical";

pub struct NewSignal<'a> {
    pub kind: &'a str,
    pub severity: &'a str,
    pub title: &'a str,
    pub release: Option<&'a str>,
    pub mission: Option<&'a str>,
    pub body: Option<&'a str>,
}

pub fn new(ws: &Workspace, out: &Out, s: &NewSignal<'_>, now: DateTime<Utc>) -> Result<u8, Error> {
    let kind: SignalType = parse_enum("--type", s.kind, TYPES)?;
    let severity: Severity = parse_enum("--severity", s.severity, SEVERITIES)?;
    let title = s.title.trim();
    if title.is_empty() || title.chars().any(char::is_control) {
        return Err(Error::Usage("--title needs a one-line title".into()));
    }
    // A signal names what it is about; an unknown release is a typo, not a new fact.
    let release = match s.release {
        Some(r) => Some(ws.resolve(r)?.contract.meta.id),
        None => None,
    };
    if let Some(m) = s.mission {
        shiploop_workspace::validate_name("mission", m)?;
    }
    let body = s.body.map(str::to_string).unwrap_or_else(|| {
        format!("# {title}\n\n<!-- What was observed, the evidence and links. -->\n")
    });
    let signal = Signal {
        meta: SignalMeta {
            title: title.to_string(),
            kind,
            severity,
            source: Source {
                release,
                mission: s.mission.map(str::to_string),
            },
            created: now,
            status: SignalStatus::Open,
            event: None,
        },
        body,
    };
    let (path, _) = ws.write_signal(&signal)?;
    let rel = ws.rel(&path);
    if out.json {
        out.print_json(&json!({ "file": rel, "signal": signal.meta }));
    } else {
        println!("Wrote {rel}");
    }
    Ok(0)
}

pub fn list(
    ws: &Workspace,
    out: &Out,
    kind: Option<&str>,
    status: Option<&str>,
) -> Result<u8, Error> {
    let kind: Option<SignalType> = kind.map(|k| parse_enum("--type", k, TYPES)).transpose()?;
    let status: Option<SignalStatus> = status
        .map(|s| parse_enum("--status", s, "open, acknowledged, resolved"))
        .transpose()?;
    let signals: Vec<_> = ws
        .signals()?
        .into_iter()
        .filter(|(_, s)| kind.is_none_or(|k| s.meta.kind == k))
        .filter(|(_, s)| status.is_none_or(|st| s.meta.status == st))
        .collect();
    let broken = ws.broken_signals()?;
    if out.json {
        let items: Vec<_> = signals
            .iter()
            .map(|(p, s)| json!({ "file": ws.rel(p), "meta": s.meta }))
            .collect();
        let bad: Vec<_> = broken
            .iter()
            .map(|(p, e)| json!({ "file": ws.rel(p), "error": e }))
            .collect();
        out.print_json(&json!({ "signals": items, "unreadable": bad }));
    } else {
        if signals.is_empty() {
            println!(
                "No signals{}.",
                if kind.is_some() || status.is_some() {
                    " match"
                } else {
                    ""
                }
            );
        }
        for (p, s) in &signals {
            let m = &s.meta;
            let source = [m.source.release.as_deref(), m.source.mission.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{:<19} {:<8} {:<8} {}  [{}]  {}",
                serde_json::to_value(m.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                serde_json::to_value(m.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                serde_json::to_value(m.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                m.title,
                source,
                ws.rel(p)
            );
        }
        for (p, e) in &broken {
            eprintln!("warning: {} cannot be read: {e}", ws.rel(p));
        }
    }
    Ok(0)
}
