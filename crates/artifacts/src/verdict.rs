//! Evaluation verdicts written by the Build loop into `work/evaluations/*.md`.
//!
//! Frontmatter: `id`, `verdict` (PASS | FAIL | NEEDS_WORK | …), `mission`, `summary`,
//! `evaluated_at`, `evaluator`; the body is the evaluation itself. Only `PASS` ships.

use crate::document::Document;
use crate::error::ParseError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An evaluation verdict's frontmatter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictMeta {
    /// The verdict's id (non-empty, without `/`, `\`, `|` or `..`).
    pub id: String,
    /// PASS, FAIL, NEEDS_WORK, …: only PASS ships.
    pub verdict: String,
    /// The mission the change belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// One line saying what the change does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A date or a timestamp, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// Who evaluated the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<String>,
    /// The security evaluation's verdict. A hotfix ships only changes whose security checks
    /// passed: the Ship loop keeps them mandatory even when testing is abbreviated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
}

/// An evaluation verdict from the Build loop, as a release contract includes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The frontmatter.
    pub meta: VerdictMeta,
    /// The evaluation itself.
    pub body: String,
    /// `sha256:<hex>` of the file's exact bytes, so a contract can tell if the verdict changed.
    pub digest: String,
}

impl Verdict {
    /// Parses a verdict; an empty or unsafe `id` and an empty `verdict` are errors at their line.
    pub fn parse(text: &str) -> Result<Verdict, ParseError> {
        let doc = Document::split(text)?;
        let meta: VerdictMeta = doc.parse_meta()?;
        let bad_id = meta.id.trim().is_empty()
            || meta.id.contains(['/', '\\', '|', '\n'])
            || meta.id.contains("..");
        if bad_id {
            return Err(ParseError::new(
                doc.key_line("id"),
                1,
                format!(
                    "`id` {:?} must be non-empty, without `/`, `\\`, `|` or `..`",
                    meta.id
                ),
            ));
        }
        if meta.verdict.trim().is_empty() {
            return Err(ParseError::new(
                doc.key_line("verdict"),
                1,
                "`verdict` is empty (expected PASS, FAIL, NEEDS_WORK, …)",
            ));
        }
        Ok(Verdict {
            meta,
            body: doc.body,
            digest: sha256_digest(text.as_bytes()),
        })
    }

    /// Only an exact `PASS` (any case) passes; anything else — FAIL, NEEDS_WORK, a typo — does not.
    pub fn passed(&self) -> bool {
        self.meta.verdict.trim().eq_ignore_ascii_case("PASS")
    }

    /// Whether the security evaluation's verdict is PASS (a hotfix needs it).
    pub fn security_passed(&self) -> bool {
        self.meta
            .security
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("PASS"))
    }

    /// The verdict normalised for display (upper case).
    pub fn verdict(&self) -> String {
        self.meta.verdict.trim().to_ascii_uppercase()
    }

    /// The summary, or the first non-empty body line when the evaluator left none.
    pub fn summary(&self) -> String {
        if let Some(s) = self
            .meta
            .summary
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            return s.trim().to_string();
        }
        self.body
            .lines()
            .map(|l| l.trim_start_matches('#').trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    }
}

/// `sha256:<hex>` of some bytes, as verdict digests are written.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_verdict() {
        let text = "---\nid: v1\nverdict: pass\nmission: checkout\nsummary: Faster checkout\nevaluated_at: 2026-11-20\nevaluator: quality-layer\nrubric: 3\n---\n# Evaluation\nok\n";
        let v = Verdict::parse(text).unwrap();
        assert!(v.passed());
        assert_eq!(v.verdict(), "PASS");
        assert_eq!(v.summary(), "Faster checkout");
        assert_eq!(v.meta.evaluated_at.as_deref(), Some("2026-11-20"));
        assert!(v.digest.starts_with("sha256:") && v.digest.len() == 71);
    }

    #[test]
    fn only_pass_passes() {
        for word in ["FAIL", "NEEDS_WORK", "PASSED", "pass?"] {
            let v = Verdict::parse(&format!("---\nid: v\nverdict: {word}\n---\n")).unwrap();
            assert!(!v.passed(), "{word}");
        }
    }

    #[test]
    fn summary_falls_back_to_the_body() {
        let v = Verdict::parse("---\nid: v\nverdict: PASS\n---\n\n# Saved cards work\n").unwrap();
        assert_eq!(v.summary(), "Saved cards work");
    }

    #[test]
    fn missing_and_bad_ids_are_errors_with_lines() {
        let e = Verdict::parse("---\nverdict: PASS\n---\n").unwrap_err();
        assert!(e.message.contains("id"), "{e}");
        let e = Verdict::parse("---\nverdict: PASS\nid: ../x\n---\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
