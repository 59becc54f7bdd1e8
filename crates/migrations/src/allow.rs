//! `-- ship:allow <rule> <reason>` comments.
//!
//! Squawk's own `-- squawk-ignore` needs no reason, so a gate that honoured
//! it could not record *why* an unsafe statement was accepted. We therefore
//! neutralise squawk-ignore comments (see `lint.rs`) and accept a statement
//! only through an allow comment carrying a reason, which ends up in the
//! report.

use crate::position::LineIndex;
use crate::severity::allowable_rule_id;

pub(crate) const ALLOW_PREFIX: &str = "ship:allow";

/// A well-formed allow comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// 1-based position of the comment.
    pub line: usize,
    pub column: usize,
    /// Canonical rule id.
    pub rule: &'static str,
    pub reason: String,
    /// Set once a finding has been accepted by this comment.
    pub used: bool,
}

/// The comment body without its `--` or `/* */` markers.
pub(crate) fn comment_body(comment: &str) -> &str {
    if let Some(body) = comment.strip_prefix("--") {
        body
    } else if let Some(body) = comment.strip_prefix("/*") {
        body.strip_suffix("*/").unwrap_or(body)
    } else {
        comment
    }
}

/// Parses one comment body. `None`: not an allow comment at all.
/// `Some(Err(message))`: an allow comment that must be reported as invalid.
pub(crate) fn parse_allow(body: &str) -> Option<Result<(&'static str, String), String>> {
    let body = body.trim();
    let first = body.split_whitespace().next()?;
    if !first.starts_with(ALLOW_PREFIX) {
        return None;
    }
    if first != ALLOW_PREFIX {
        // `ship:allow:` or `ship:allowed` is almost certainly meant as an
        // allow comment; silently ignoring it would surprise the author.
        return Some(Err(format!(
            "malformed allow comment `{first}`; expected `{ALLOW_PREFIX} <rule> <reason>`"
        )));
    }
    let rest = body[first.len()..].trim_start();
    let Some(name) = rest.split_whitespace().next() else {
        return Some(Err(format!(
            "`{ALLOW_PREFIX}` needs a rule id and a reason"
        )));
    };
    let Some(rule) = allowable_rule_id(name) else {
        return Some(Err(format!("`{ALLOW_PREFIX}` names unknown rule `{name}`")));
    };
    let reason = rest[name.len()..].trim();
    if reason.is_empty() {
        return Some(Err(format!(
            "`{ALLOW_PREFIX} {rule}` has no reason; the reason is recorded with the release"
        )));
    }
    Some(Ok((rule, reason.to_string())))
}

/// First line of the block of comment-only lines directly above `line`
/// (or `line` itself when there is none). A blank line ends the block, so an
/// allow comment must sit right above the statement it accepts.
pub(crate) fn zone_top(index: &LineIndex<'_>, line: usize) -> usize {
    let mut top = line;
    while top > 1
        && index
            .line_text(top - 1)
            .is_some_and(|text| text.trim_start().starts_with("--"))
    {
        top -= 1;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rule_and_reason() {
        assert_eq!(
            parse_allow(" ship:allow ban-drop-column  contract phase of #42 "),
            Some(Ok(("ban-drop-column", "contract phase of #42".to_string())))
        );
        assert_eq!(
            parse_allow(" ship:allow prefer-timestamptz legacy"),
            Some(Ok(("prefer-timestamp-tz", "legacy".to_string())))
        );
    }

    #[test]
    fn rejects_missing_reason_unknown_rule_and_typos() {
        assert!(matches!(
            parse_allow(" ship:allow ban-drop-column"),
            Some(Err(_))
        ));
        assert!(matches!(parse_allow(" ship:allow"), Some(Err(_))));
        assert!(matches!(
            parse_allow(" ship:allow nope because"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse_allow(" ship:allowed ban-drop-column x"),
            Some(Err(_))
        ));
        assert_eq!(parse_allow(" just a comment about ship:allow"), None);
    }

    #[test]
    fn strips_comment_markers() {
        assert_eq!(comment_body("-- x"), " x");
        assert_eq!(comment_body("/* x */"), " x ");
    }

    #[test]
    fn zone_extends_over_comment_lines_only() {
        let text = "select 1;\n\n-- a\n  -- b\nselect 2;";
        let index = LineIndex::new(text);
        assert_eq!(zone_top(&index, 5), 3);
        assert_eq!(zone_top(&index, 1), 1);
        assert_eq!(zone_top(&index, 3), 3);
    }
}
