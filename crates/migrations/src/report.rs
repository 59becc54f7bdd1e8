//! Findings and the report handed to the CLI and the deployment gate.

use std::fmt::Write as _;

use serde::Serialize;

use crate::severity::Severity;

/// One rule hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id, e.g. `ban-drop-column` (see [`crate::rules`]).
    pub rule: String,
    /// How much the rule's hit matters.
    pub severity: Severity,
    /// The migration file.
    pub file: String,
    /// 1-based position of the offending part of the statement.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// 1-based first line of the statement containing the finding, when the
    /// finding belongs to a statement (comment findings do not).
    pub statement_line: Option<usize>,
    /// What the rule found.
    pub message: String,
    /// The safe alternative.
    pub help: String,
    /// Reason from the `-- ship:allow` comment that accepted this finding.
    /// Allowed findings never fail the gate but must be recorded.
    pub allowed: Option<String>,
}

impl Finding {
    /// True when this finding fails the gate.
    pub fn is_blocking(&self) -> bool {
        self.allowed.is_none() && self.severity == Severity::Error
    }
}

/// Result of linting one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The migration file.
    pub file: String,
    /// Number of top-level SQL statements in the file.
    pub statements: usize,
    /// Sorted by position, then rule id.
    pub findings: Vec<Finding>,
}

/// Result of linting a set of files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One report per file, in the order given.
    pub files: Vec<FileReport>,
}

impl Report {
    /// Every finding, allowed or not, in file order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.files.iter().flat_map(|file| file.findings.iter())
    }

    /// Errors not accepted by an allow comment; any of these fails the gate.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| f.is_blocking())
    }

    /// Warnings not accepted by an allow comment.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings()
            .filter(|f| f.allowed.is_none() && f.severity == Severity::Warning)
    }

    /// Findings accepted by an allow comment (with their reason).
    pub fn allowed(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| f.allowed.is_some())
    }

    /// Total number of top-level statements linted.
    pub fn statements(&self) -> usize {
        self.files.iter().map(|file| file.statements).sum()
    }

    /// 1 when any error is not allowed, 0 otherwise (warnings never fail).
    /// Unreadable or unparsable files never produce a report; the caller
    /// maps those to 2.
    pub fn exit_code(&self) -> i32 {
        if self.errors().next().is_some() {
            1
        } else {
            0
        }
    }

    /// One line per finding plus a summary line, e.g.
    /// `db/001.sql:3:31: error[adding-not-nullable-field] … → help: …`.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for f in self.findings() {
            let _ = write!(out, "{}:{}:{}: ", f.file, f.line, f.column);
            match &f.allowed {
                Some(reason) => {
                    let _ = writeln!(out, "allowed[{}] {} (reason: {reason})", f.rule, f.message);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{}[{}] {} → help: {}",
                        f.severity.as_str(),
                        f.rule,
                        f.message,
                        f.help
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "{} file(s), {} statement(s): {} error(s), {} warning(s), {} allowed",
            self.files.len(),
            self.statements(),
            self.errors().count(),
            self.warnings().count(),
            self.allowed().count()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, severity: Severity, allowed: Option<&str>) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            file: "db/001.sql".into(),
            line: 3,
            column: 1,
            statement_line: Some(3),
            message: "msg".into(),
            help: "do this".into(),
            allowed: allowed.map(Into::into),
        }
    }

    #[test]
    fn counts_and_exit_code() {
        let mut report = Report {
            files: vec![FileReport {
                file: "db/001.sql".into(),
                statements: 2,
                findings: vec![
                    finding("ban-drop-column", Severity::Error, Some("contract")),
                    finding("prefer-identity", Severity::Warning, None),
                ],
            }],
        };
        assert_eq!(report.errors().count(), 0);
        assert_eq!(report.warnings().count(), 1);
        assert_eq!(report.allowed().count(), 1);
        assert_eq!(report.exit_code(), 0);
        report.files[0]
            .findings
            .push(finding("renaming-table", Severity::Error, None));
        assert_eq!(report.exit_code(), 1);

        let human = report.render_human();
        assert!(human.contains("db/001.sql:3:1: allowed[ban-drop-column] msg (reason: contract)\n"));
        assert!(human.contains("db/001.sql:3:1: error[renaming-table] msg → help: do this\n"));
        assert!(human.ends_with("1 file(s), 2 statement(s): 1 error(s), 1 warning(s), 1 allowed\n"));
    }
}
