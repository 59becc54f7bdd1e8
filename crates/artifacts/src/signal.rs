//! Feedback signals: `work/signals/YYYY-MM-DD-<slug>.md`, production observations that go back
//! into the loop (Step 6 of the Ship loop).

use crate::document::Document;
use crate::error::ParseError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of production observation a signal is (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalType {
    /// How fast or efficient the service is (e.g. outcome targets missed).
    Performance,
    /// What customers said.
    CustomerFeedback,
    /// Friction in the process (e.g. a rollout paused for lack of evidence).
    ProcessFriction,
    /// Behaviour nobody expected.
    UnexpectedBehavior,
    /// An incident (e.g. a rollback).
    Incident,
}

/// How serious a signal is, from low to critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The lowest severity.
    Low,
    /// Medium severity.
    Medium,
    /// High severity.
    High,
    /// The highest severity.
    Critical,
}

/// Where the handling of a signal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalStatus {
    /// Raised, not yet looked at.
    Open,
    /// Someone has seen it.
    Acknowledged,
    /// Dealt with.
    Resolved,
}

/// What a signal came from: a release, a mission, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The release it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The mission it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
}

/// A signal's frontmatter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalMeta {
    /// One line saying what was observed; it also names the file.
    pub title: String,
    /// What kind of observation it is (`type`).
    #[serde(rename = "type")]
    pub kind: SignalType,
    /// How serious it is.
    pub severity: Severity,
    /// The release and mission it came from.
    #[serde(default)]
    pub source: Source,
    /// When it was raised.
    pub created: DateTime<Utc>,
    /// Where its handling stands.
    pub status: SignalStatus,
    /// Identifies the event that raised the signal, so the same event never yields two signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// A feedback signal: its frontmatter and the evidence in its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The frontmatter.
    pub meta: SignalMeta,
    /// The markdown body: the evidence, for people.
    pub body: String,
}

impl Signal {
    /// Parses a signal file.
    pub fn parse(text: &str) -> Result<Signal, ParseError> {
        let (meta, body) = Document::parse_file(text)?;
        Ok(Signal { meta, body })
    }

    /// The signal as file text.
    pub fn render(&self) -> String {
        Document::render_file(&self.meta, &self.body)
    }

    /// File name: `YYYY-MM-DD-<slug>.md`, the slug made from the title.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.md",
            self.meta.created.format("%Y-%m-%d"),
            slug(&self.meta.title)
        )
    }
}

/// Lower-case ASCII words joined by `-`, at most 60 characters; never empty.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "signal".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_and_names_its_file() {
        let s = Signal {
            meta: SignalMeta {
                title: "Canary rolled back: p99 412ms > 2 × 200ms!".into(),
                kind: SignalType::Incident,
                severity: Severity::High,
                source: Source {
                    release: Some("2026-11-27-a".into()),
                    mission: None,
                },
                created: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
                status: SignalStatus::Open,
                event: Some("rollback:2026-11-27-a".into()),
            },
            body: "# Evidence\n".into(),
        };
        let text = s.render();
        assert!(text.contains("type: incident"));
        assert_eq!(Signal::parse(&text).unwrap(), s);
        assert_eq!(
            s.file_name(),
            "2026-11-27-canary-rolled-back-p99-412ms-2-200ms.md"
        );
    }

    #[test]
    fn unknown_type_is_an_error_with_a_line() {
        let e = Signal::parse("---\ntitle: x\ntype: gossip\nseverity: low\ncreated: 2026-11-27T00:00:00Z\nstatus: open\n---\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
