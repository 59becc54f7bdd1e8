//! Acceptance corpus: every `tests/corpus/*.sql` file declares its exact
//! findings in a sibling `.expected` file (`line:column rule severity
//! [allowed]`, or `parse-error line:column` for a file that must not parse).

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use shiploop_migrations::{lint_paths, lint_sql, rules, LintError, Severity};

/// (line, column, rule, severity, allowed)
type Row = (usize, usize, String, String, bool);

enum Expected {
    Findings(Vec<Row>),
    ParseError(usize, usize),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    files
}

fn position(text: &str) -> (usize, usize) {
    let (line, column) = text.split_once(':').expect("line:column");
    (line.parse().unwrap(), column.parse().unwrap())
}

fn expected(sql: &Path) -> Expected {
    let path = sql.with_extension("expected");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} needs {}: {e}", sql.display(), path.display()));
    let mut rows = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields[0] == "parse-error" {
            let (line, column) = position(fields[1]);
            return Expected::ParseError(line, column);
        }
        assert!(
            matches!(fields.len(), 3 | 4),
            "bad line in {}: {line}",
            path.display()
        );
        let (line, column) = position(fields[0]);
        assert!(
            fields.len() == 3 || fields[3] == "allowed",
            "bad flag: {line}"
        );
        rows.push((
            line,
            column,
            fields[1].to_string(),
            fields[2].to_string(),
            fields.len() == 4,
        ));
    }
    rows.sort();
    Expected::Findings(rows)
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_corpus_file_produces_exactly_its_expected_findings() {
    let mut statements = 0;
    let mut seen_rules = BTreeSet::new();
    let files = corpus_files();
    assert!(files.len() >= 5, "corpus went missing: {files:?}");
    for path in &files {
        let sql = std::fs::read_to_string(path).unwrap();
        let result = lint_sql(&name(path), &sql);
        match expected(path) {
            Expected::ParseError(line, column) => {
                let failure = result.expect_err("file must fail to parse");
                assert_eq!(
                    (failure.file.as_str(), failure.line, failure.column),
                    (name(path).as_str(), line, column),
                    "{failure}"
                );
            }
            Expected::Findings(want) => {
                let report = result.unwrap_or_else(|e| panic!("{e}"));
                statements += report.statements;
                let mut got: Vec<Row> = report
                    .findings
                    .iter()
                    .map(|f| {
                        (
                            f.line,
                            f.column,
                            f.rule.clone(),
                            f.severity.as_str().to_string(),
                            f.allowed.is_some(),
                        )
                    })
                    .collect();
                got.sort();
                assert_eq!(got, want, "findings of {}", path.display());
                for f in &report.findings {
                    assert_eq!(f.file, name(path));
                    assert!(!f.help.is_empty(), "{} has no help", f.rule);
                    if let Some(reason) = &f.allowed {
                        assert!(!reason.trim().is_empty());
                    }
                }
                seen_rules.extend(want.into_iter().map(|row| row.2));
            }
        }
    }
    assert!(statements >= 40, "corpus has only {statements} statements");

    let missing: Vec<_> = rules()
        .into_iter()
        .map(|rule| rule.id)
        .filter(|id| !seen_rules.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a corpus example: {missing:?}"
    );
}

#[test]
fn safe_expand_contract_alternatives_produce_no_errors() {
    let files = [
        corpus_dir().join("001_safe_expand.sql"),
        corpus_dir().join("002_new_table_in_transaction.sql"),
    ];
    let report = lint_paths(&files).unwrap();
    let errors: Vec<_> = report.errors().collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.exit_code(), 0);
    assert!(report.statements() >= 20);
}

#[test]
fn directory_with_unparsable_file_is_a_parse_error() {
    match lint_paths(&[corpus_dir()]) {
        Err(LintError::Parse(failure)) => {
            assert!(failure.file.ends_with("008_parse_failure.sql"), "{failure}");
            assert_eq!((failure.line, failure.column), (2, 29));
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn report_over_corpus_counts_exit_code_and_renders() {
    let files: Vec<_> = corpus_files()
        .into_iter()
        .filter(|p| !name(p).contains("parse_failure"))
        .collect();
    let report = lint_paths(&files).unwrap();
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.allowed().count(), 5);
    assert!(report.errors().all(|f| f.severity == Severity::Error));
    assert!(report.warnings().all(|f| f.severity == Severity::Warning));

    let human = report.render_human();
    assert!(human.contains(
        "004_blocking_locks.sql:15:38: error[adding-not-nullable-field] Setting a column `NOT NULL` blocks reads while the table is scanned. → help: "
    ));
    assert!(human.contains(
        "007_allow_comments.sql:4:19: allowed[ban-drop-column] Dropping a column may break existing clients. (reason: contract phase: v41 no longer reads legacy_flag)"
    ));
    let summary = human.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!("{} file(s), ", files.len())),
        "{summary}"
    );

    let json = serde_json::to_value(&report).unwrap();
    let finding = &json["files"][0]["findings"][0];
    for key in [
        "rule",
        "severity",
        "file",
        "line",
        "column",
        "statement_line",
        "message",
        "help",
        "allowed",
    ] {
        assert!(finding.get(key).is_some(), "missing {key} in {finding}");
    }
    assert_eq!(finding["severity"], "warning");
}

#[test]
fn warnings_only_exit_zero() {
    let report = lint_paths(&[corpus_dir().join("005_hygiene.sql")]).unwrap();
    assert!(report.warnings().count() > 0);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn readme_documents_every_rule_with_its_severity() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for rule in rules() {
        let row = format!("| `{}` | {} |", rule.id, rule.severity.as_str());
        assert!(readme.contains(&row), "README lacks row {row}");
    }
}
