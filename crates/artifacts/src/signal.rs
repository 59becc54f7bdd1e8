//! Feedback signals: `work/signals/YYYY-MM-DD-<slug>.md`, production observations that go back
//! into the loop (Step 6 of the Ship loop).

use crate::document::Document;
use crate::error::ParseError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalType {
    Performance,
    CustomerFeedback,
    ProcessFriction,
    UnexpectedBehavior,
    Incident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalStatus {
    Open,
    Acknowledged,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalMeta {
    pub title: String,
    #[serde(rename = "type")]
    pub kind: SignalType,
    pub severity: Severity,
    #[serde(default)]
    pub source: Source,
    pub created: DateTime<Utc>,
    pub status: SignalStatus,
    /// Identifies the event that raised the signal, so the same event never yields two signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub meta: SignalMeta,
    pub body: String,
}

impl Signal {
    pub fn parse(text: &str) -> Result<Signal, ParseError> {
        let doc = Document::split(text)?;
        Ok(Signal {
            meta: doc.parse_meta()?,
            body: doc.body,
        })
    }

    pub fn render(&self) -> String {
        Document::from_meta(&self.meta, self.body.clone()).render()
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
