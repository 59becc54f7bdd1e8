//! Backward-compatibility linter for SQL migrations.
//!
//! Backs the "Database migrations backward-compatible" gate: migrations run
//! against a live PostgreSQL database while the previous release is still
//! serving (expand/contract), so anything that breaks that release or holds
//! a long blocking lock is an error. Detection is squawk's
//! ([`squawk_linter`]); this crate decides severity, adds the safe
//! alternative, and implements `-- ship:allow <rule> <reason>`.
//!
//! ```
//! let report = shiploop_migrations::lint_sql(
//!     "db/001.sql",
//!     "alter table users drop column email;",
//! )
//! .unwrap();
//! let drop = report.findings.iter().find(|f| f.rule == "ban-drop-column").unwrap();
//! assert_eq!((drop.line, drop.column), (1, 19));
//! assert_eq!(drop.severity, shiploop_migrations::Severity::Error);
//! ```

mod allow;
mod error;
mod lint;
mod position;
mod report;
mod severity;
mod walk;

use std::path::PathBuf;

pub use error::{LintError, ParseFailure};
pub use lint::lint_sql;
pub use report::{FileReport, Finding, Report};
pub use severity::{RuleInfo, Severity};

/// Lints files and directories (every `*.sql` below a directory, sorted by
/// path). Stops at the first unreadable path, directory without SQL files,
/// or file that does not parse: the gate cannot pass a migration it could
/// not check.
pub fn lint_paths(paths: &[PathBuf]) -> Result<Report, LintError> {
    let mut report = Report::default();
    for path in walk::sql_files(paths)? {
        let sql = std::fs::read_to_string(&path).map_err(|source| LintError::Read {
            path: path.clone(),
            source,
        })?;
        report
            .files
            .push(lint_sql(&path.display().to_string(), &sql)?);
    }
    Ok(report)
}

/// Every rule that can appear in a report, with its severity.
pub fn rules() -> Vec<RuleInfo> {
    severity::RULES
        .iter()
        .map(|spec| RuleInfo {
            id: spec.id,
            severity: spec.severity,
            summary: spec.summary,
        })
        .collect()
}
