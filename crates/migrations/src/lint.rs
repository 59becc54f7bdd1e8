//! Linting one SQL text with squawk and turning its violations into findings.

use squawk_linter::Linter;
use squawk_syntax::{ast::AstNode, SourceFile, SyntaxKind, SyntaxNode, SyntaxToken};

use crate::allow::{comment_body, parse_allow, zone_top, Directive};
use crate::error::ParseFailure;
use crate::position::LineIndex;
use crate::report::{FileReport, Finding};
use crate::severity::{
    spec_for_id, spec_for_squawk, squawk_rules, ALLOW_INVALID, ALLOW_UNUSED, SQUAWK_IGNORE,
};

/// Text squawk looks for; we rewrite it to `squawk_ignore` (same length, so
/// offsets stay valid) because squawk applies ignores inside `lint()` and
/// offers no switch to turn that off.
const SQUAWK_IGNORE_TEXT: &str = "squawk-ignore";

/// Where a top-level statement sits, in 1-based lines.
struct StmtSpan {
    /// Byte range of the statement node (may include leading comments).
    range: std::ops::Range<usize>,
    start_line: usize,
    /// First line an allow comment for this statement may be on.
    zone_top: usize,
    /// Last line, including a `;` that follows on the same line.
    end_line: usize,
}

/// Lints one migration. `file` is only used to label findings.
pub fn lint_sql(file: &str, sql: &str) -> Result<FileReport, ParseFailure> {
    let index = LineIndex::new(sql);
    let parse = SourceFile::parse(sql);
    if let Some(error) = parse.errors().into_iter().min_by_key(|e| e.range().start()) {
        let (line, column) = index.line_col(usize::from(error.range().start()));
        return Err(ParseFailure {
            file: file.to_string(),
            line,
            column,
            message: error.message().to_string(),
        });
    }
    let root = parse.syntax_node();
    let stmts = statement_spans(&root, &index);

    let mut findings = Vec::new();
    let mut directives = Vec::new();
    let mut neutralised: Option<String> = None;
    for comment in comments(&root) {
        let offset = usize::from(comment.text_range().start());
        let (line, column) = index.line_col(offset);
        let body = comment_body(comment.text());
        let mut comment_finding = |rule: &str, message: String| {
            findings.push(own_finding(file, rule, line, column, message));
        };
        if body.trim_start().starts_with(SQUAWK_IGNORE_TEXT) {
            let text = neutralised.get_or_insert_with(|| sql.to_string());
            let at = offset + comment.text().find(SQUAWK_IGNORE_TEXT).unwrap_or(0);
            // "squawk-" is ASCII, so replacing one byte keeps the string valid.
            text.replace_range(at + 6..at + 7, "_");
            comment_finding(
                SQUAWK_IGNORE,
                "`squawk-ignore` is not honoured by ship; it records no reason".to_string(),
            );
            continue;
        }
        match parse_allow(body) {
            None => {}
            Some(Err(message)) => comment_finding(ALLOW_INVALID, message),
            Some(Ok((rule, reason))) => directives.push(Directive {
                line,
                column,
                rule,
                reason,
                used: false,
            }),
        }
    }

    // A Linter accumulates violations across `lint` calls, so use a fresh
    // one per file. Default settings: PostgreSQL 15, not assumed to run
    // inside a transaction (BEGIN/COMMIT in the file are still tracked).
    let mut linter = Linter::from(squawk_rules());
    let violations = match &neutralised {
        Some(text) => linter.lint(&SourceFile::parse(text), text),
        None => linter.lint(&parse, sql),
    };

    for violation in violations {
        // `unused-ignore` and friends are not in our table; nothing else is
        // enabled, but stay defensive rather than panic on a squawk change.
        let Some(spec) = spec_for_squawk(violation.code) else {
            continue;
        };
        let offset = usize::from(violation.text_range.start());
        let (line, column) = index.line_col(offset);
        let stmt = stmts.iter().find(|s| s.range.contains(&offset));
        let (top, bottom) = match stmt {
            Some(s) => (s.zone_top, s.end_line),
            None => (zone_top(&index, line), line),
        };
        let allowed = directives
            .iter_mut()
            .find(|d| d.rule == spec.id && (top..=bottom).contains(&d.line))
            .map(|d| {
                d.used = true;
                d.reason.clone()
            });
        findings.push(Finding {
            rule: spec.id.to_string(),
            severity: spec.severity,
            file: file.to_string(),
            line,
            column,
            statement_line: stmt.map(|s| s.start_line),
            message: violation.message,
            help: violation.help.unwrap_or_else(|| spec.help.to_string()),
            allowed,
        });
    }

    for d in directives.iter().filter(|d| !d.used) {
        let message = format!(
            "`ship:allow {}` does not match any `{}` finding of the statement it annotates",
            d.rule, d.rule
        );
        findings.push(own_finding(file, ALLOW_UNUSED, d.line, d.column, message));
    }

    findings.sort_by(|a, b| (a.line, a.column, &a.rule).cmp(&(b.line, b.column, &b.rule)));
    Ok(FileReport {
        file: file.to_string(),
        statements: stmts.len(),
        findings,
    })
}

fn own_finding(file: &str, rule: &str, line: usize, column: usize, message: String) -> Finding {
    // Only called with ids from our own table.
    let spec = spec_for_id(rule).expect("own rule ids are in the rule table");
    Finding {
        rule: spec.id.to_string(),
        severity: spec.severity,
        file: file.to_string(),
        line,
        column,
        statement_line: None,
        message,
        help: spec.help.to_string(),
        allowed: None,
    }
}

fn comments(root: &SyntaxNode) -> impl Iterator<Item = SyntaxToken> {
    root.descendants_with_tokens()
        .filter_map(|element| element.into_token())
        .filter(|token| token.kind() == SyntaxKind::COMMENT)
}

fn statement_spans(root: &SyntaxNode, index: &LineIndex<'_>) -> Vec<StmtSpan> {
    let Some(file) = SourceFile::cast(root.clone()) else {
        return Vec::new();
    };
    file.stmts()
        .filter_map(|stmt| {
            let node = stmt.syntax();
            // The parser attaches leading comments to the statement node, so
            // position by the first and last real tokens instead.
            let mut tokens = node
                .descendants_with_tokens()
                .filter_map(|element| element.into_token())
                .filter(|token| !token.kind().is_trivia());
            let first = tokens.next()?;
            let last = tokens.last().unwrap_or_else(|| first.clone());
            let mut end = usize::from(last.text_range().end());
            if let Some(semicolon) = following_semicolon(node) {
                end = usize::from(semicolon.text_range().end());
            }
            let start_line = index.line(usize::from(first.text_range().start()));
            let range = node.text_range();
            Some(StmtSpan {
                range: usize::from(range.start())..usize::from(range.end()),
                start_line,
                zone_top: zone_top(index, start_line),
                end_line: index.line(end.saturating_sub(1)),
            })
        })
        .collect()
}

/// The `;` terminating a statement, so a trailing allow comment after it on
/// the same line belongs to the statement even when the statement spans lines.
fn following_semicolon(node: &SyntaxNode) -> Option<SyntaxToken> {
    let mut next = node.next_sibling_or_token();
    while let Some(element) = next {
        match element.into_token() {
            Some(token) if token.kind() == SyntaxKind::SEMICOLON => return Some(token),
            Some(token)
                if token.kind() == SyntaxKind::WHITESPACE && !token.text().contains('\n') =>
            {
                next = token.next_sibling_or_token();
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_at(report: &FileReport) -> Vec<(usize, usize, &str)> {
        report
            .findings
            .iter()
            .map(|f| (f.line, f.column, f.rule.as_str()))
            .collect()
    }

    #[test]
    fn parse_failure_points_at_the_offending_token() {
        let err = lint_sql("db/002.sql", "select 1;\n\nalter table t add column;\n").unwrap_err();
        assert_eq!(
            err,
            ParseFailure {
                file: "db/002.sql".into(),
                line: 3,
                column: 25,
                message: "expected name".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "db/002.sql:3:25: cannot parse SQL: expected name"
        );
    }

    #[test]
    fn findings_carry_line_column_and_statement_line_with_crlf() {
        let sql = "set lock_timeout = '1s';\r\nset statement_timeout = '1s';\r\n\r\nalter table users\r\n  rename column a to b;\r\n";
        let report = lint_sql("x.sql", sql).unwrap();
        let rename = report
            .findings
            .iter()
            .find(|f| f.rule == "renaming-column")
            .unwrap();
        assert_eq!(
            (rename.line, rename.column, rename.statement_line),
            (5, 3, Some(4))
        );
        assert_eq!(report.statements, 3);
    }

    #[test]
    fn trailing_allow_covers_a_multi_line_statement_only() {
        let sql = "alter table t\n  drop column a; -- ship:allow ban-drop-column unused since v3\nalter table t drop column b;\n";
        let report = lint_sql("x.sql", sql).unwrap();
        let drops: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == "ban-drop-column")
            .map(|f| (f.line, f.allowed.as_deref()))
            .collect();
        assert_eq!(drops, [(2, Some("unused since v3")), (3, None)]);
    }

    #[test]
    fn squawk_ignore_is_reported_and_not_honoured() {
        let sql = "-- squawk-ignore-file\n-- squawk-ignore ban-drop-table, nonsense\ndrop table if exists t;\n";
        let report = lint_sql("x.sql", sql).unwrap();
        let found = rules_at(&report);
        assert!(found.contains(&(1, 1, SQUAWK_IGNORE)), "{found:?}");
        assert!(found.contains(&(2, 1, SQUAWK_IGNORE)), "{found:?}");
        assert!(found.contains(&(3, 1, "ban-drop-table")), "{found:?}");
        assert!(!found.iter().any(|(_, _, rule)| *rule == "unused-ignore"));
    }

    #[test]
    fn empty_and_comment_only_files_are_clean() {
        for sql in ["", "-- nothing yet\n", "/* block */"] {
            let report = lint_sql("x.sql", sql).unwrap();
            assert_eq!(
                (report.statements, report.findings.len()),
                (0, 0),
                "{sql:?}"
            );
        }
    }
}
