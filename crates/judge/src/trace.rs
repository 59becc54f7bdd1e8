//! A trace of per-interval counts, as `ship judge replay` reads it: CSV with a header naming
//! `t` (seconds since the stage began, increasing), `stable_requests`, `stable_errors`,
//! `canary_requests`, `canary_errors`, and optionally `stable_slow`, `canary_slow` (requests
//! slower than the p99 trigger's limit) and `canary_slow_target` (slower than the latency
//! target). Blank lines and lines starting with `#` are skipped.

use std::fmt;

/// One interval of the trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The line it came from (1-based).
    pub line: usize,
    /// Seconds since the trace began.
    pub t: f64,
    /// Stable requests in the interval.
    pub stable_requests: u64,
    /// Stable errors in the interval.
    pub stable_errors: u64,
    /// Canary requests in the interval.
    pub canary_requests: u64,
    /// Canary errors in the interval.
    pub canary_errors: u64,
    /// Stable requests slower than the p99 limit, when counted.
    pub stable_slow: Option<u64>,
    /// Canary requests slower than the p99 limit, when counted.
    pub canary_slow: Option<u64>,
    /// Canary requests slower than the latency target, when counted.
    pub canary_slow_target: Option<u64>,
}

/// A malformed trace: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line.
    pub line: usize,
    /// 1-based field number; 0 when the whole line is at fault.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for TraceError {}

const REQUIRED: [&str; 5] = [
    "t",
    "stable_requests",
    "stable_errors",
    "canary_requests",
    "canary_errors",
];
const OPTIONAL: [&str; 3] = ["stable_slow", "canary_slow", "canary_slow_target"];

fn err(line: usize, column: usize, message: String) -> TraceError {
    TraceError {
        line,
        column,
        message,
    }
}

/// Parses a trace; every problem names its line and column.
pub fn parse(text: &str) -> Result<Vec<Row>, TraceError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (hline, header) = lines
        .next()
        .ok_or_else(|| err(1, 0, "the trace is empty: expected a header line".into()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    for (i, n) in names.iter().enumerate() {
        if !REQUIRED.contains(n) && !OPTIONAL.contains(n) {
            return Err(err(
                hline,
                i + 1,
                format!(
                    "unknown column {n:?}: expected {} and optionally {}",
                    REQUIRED.join(", "),
                    OPTIONAL.join(", ")
                ),
            ));
        }
        if names[..i].contains(n) {
            return Err(err(hline, i + 1, format!("column {n:?} appears twice")));
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|r| !names.contains(r)) {
        return Err(err(
            hline,
            0,
            format!("the header lacks the column {missing:?}"),
        ));
    }
    let col = |name: &str| names.iter().position(|n| *n == name);
    let mut rows: Vec<Row> = vec![];
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(err(
                line,
                0,
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let count = |name: &str| -> Result<Option<u64>, TraceError> {
            let Some(i) = col(name) else {
                return Ok(None);
            };
            fields[i].parse::<u64>().map(Some).map_err(|_| {
                err(
                    line,
                    i + 1,
                    format!("{name} {:?} is not a count (a whole number ≥ 0)", fields[i]),
                )
            })
        };
        let need = |name: &str| count(name).map(|c| c.unwrap_or(0));
        let ti = col("t").unwrap_or(0);
        let t: f64 = fields[ti]
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| {
                err(
                    line,
                    ti + 1,
                    format!("t {:?} is not a number of seconds ≥ 0", fields[ti]),
                )
            })?;
        if let Some(prev) = rows.last() {
            if t <= prev.t {
                return Err(err(
                    line,
                    ti + 1,
                    format!("t must increase: {t} after {} (line {})", prev.t, prev.line),
                ));
            }
        }
        let row = Row {
            line,
            t,
            stable_requests: need("stable_requests")?,
            stable_errors: need("stable_errors")?,
            canary_requests: need("canary_requests")?,
            canary_errors: need("canary_errors")?,
            stable_slow: count("stable_slow")?,
            canary_slow: count("canary_slow")?,
            canary_slow_target: count("canary_slow_target")?,
        };
        for (part, whole, pname, wname) in [
            (
                row.stable_errors,
                row.stable_requests,
                "stable_errors",
                "stable_requests",
            ),
            (
                row.canary_errors,
                row.canary_requests,
                "canary_errors",
                "canary_requests",
            ),
            (
                row.canary_slow.unwrap_or(0),
                row.canary_requests,
                "canary_slow",
                "canary_requests",
            ),
            (
                row.stable_slow.unwrap_or(0),
                row.stable_requests,
                "stable_slow",
                "stable_requests",
            ),
            (
                row.canary_slow_target.unwrap_or(0),
                row.canary_requests,
                "canary_slow_target",
                "canary_requests",
            ),
        ] {
            if part > whole {
                return Err(err(
                    line,
                    col(pname).map_or(0, |i| i + 1),
                    format!("{pname} {part} is more than {wname} {whole}"),
                ));
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(err(
            hline,
            0,
            "the trace has a header but no intervals".into(),
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_parses_with_optional_columns_in_any_order() {
        let rows = parse(
            "# exported from Prometheus\nt,canary_requests,canary_errors,stable_requests,stable_errors,canary_slow\n10,5,0,95,1,0\n\n20, 6, 1, 94, 0, 2\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 5);
        assert_eq!((rows[1].canary_requests, rows[1].canary_errors), (6, 1));
        assert_eq!(rows[1].canary_slow, Some(2));
        assert_eq!(rows[0].canary_slow_target, None);
    }

    #[test]
    fn every_problem_names_its_line_and_column() {
        let h = "t,stable_requests,stable_errors,canary_requests,canary_errors\n";
        let e = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(e(""), "line 1: the trace is empty: expected a header line");
        assert!(e("t,stable_requests\n1,2\n").contains("lacks the column \"stable_errors\""));
        assert!(
            e("t,stable_requests,oops\n").starts_with("line 1, column 3: unknown column \"oops\"")
        );
        assert_eq!(
            e(&format!("{h}10,100,1,5,x\n")),
            "line 2, column 5: canary_errors \"x\" is not a count (a whole number ≥ 0)"
        );
        assert_eq!(
            e(&format!("{h}10,100,1,5,0\n10,100,1,5,0\n")),
            "line 3, column 1: t must increase: 10 after 10 (line 2)"
        );
        assert_eq!(
            e(&format!("{h}10,100,1,5,6\n")),
            "line 2, column 5: canary_errors 6 is more than canary_requests 5"
        );
        assert_eq!(
            e(&format!("{h}10,100\n")),
            "line 2: 2 fields where the header has 5"
        );
        assert_eq!(e(h), "line 1: the trace has a header but no intervals");
        assert_eq!(
            e(&format!("{h}-1,1,0,1,0\n")),
            "line 2, column 1: t \"-1\" is not a number of seconds ≥ 0"
        );
    }
}
