//! Printing: human text or `--json`, and errors as diagnostics that point into files.

use chrono::{DateTime, SubsecRound, Utc};
use miette::{LabeledSpan, MietteDiagnostic, NamedSource, Report};
use serde::Serialize;
use serde_json::json;
use shiploop_workspace::{Error, InitReport};

pub struct Out {
    pub json: bool,
}

/// The current time; `SHIP_NOW` (RFC 3339) overrides it for reproducible runs and tests.
pub fn now() -> Result<DateTime<Utc>, Error> {
    match std::env::var("SHIP_NOW") {
        Ok(v) if !v.trim().is_empty() => DateTime::parse_from_rfc3339(v.trim())
            .map(|t| t.with_timezone(&Utc).trunc_subsecs(0))
            .map_err(|e| Error::Usage(format!("SHIP_NOW={v:?} is not an RFC 3339 time: {e}"))),
        _ => Ok(Utc::now().trunc_subsecs(0)),
    }
}

impl Out {
    pub fn print_json<T: Serialize>(&self, value: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("reports serialise to JSON")
        );
    }

    pub fn init(&self, r: &InitReport) {
        if self.json {
            return self.print_json(r);
        }
        if r.created.is_empty() {
            println!(
                "Workspace in {} is already initialised; nothing changed.",
                r.root
            );
        } else {
            println!("Initialised a shiploop workspace in {}", r.root);
        }
        for c in &r.created {
            println!("  created  {c}");
        }
        for k in &r.kept {
            println!("  kept     {k}");
        }
        if !r.created.is_empty() && !r.next.is_empty() {
            println!("\nNext:");
            for step in &r.next {
                println!("  {step}");
            }
        }
    }

    pub fn error(&self, e: &Error) {
        if self.json {
            let mut err = json!({ "kind": e.kind(), "message": e.to_string() });
            match e {
                Error::Parse {
                    file,
                    line,
                    column,
                    message,
                } => {
                    err["file"] = json!(file.display().to_string());
                    err["line"] = json!(line);
                    err["column"] = json!(column);
                    err["message"] = json!(message);
                }
                Error::Incomplete { file, problems } => {
                    err["file"] = json!(file.display().to_string());
                    err["problems"] = json!(problems);
                }
                _ => {}
            }
            self.print_json(&json!({ "error": err, "exit_code": e.exit_code() }));
            return;
        }
        if let Error::Parse {
            file,
            line,
            column,
            message,
        } = e
        {
            if let Ok(text) = std::fs::read_to_string(file) {
                let offset = offset_of(&text, *line, *column);
                let diag =
                    MietteDiagnostic::new(format!("{}:{line}:{column}: {message}", file.display()))
                        .with_label(LabeledSpan::at(offset..offset, message.clone()));
                let report = Report::new(diag)
                    .with_source_code(NamedSource::new(file.display().to_string(), text));
                eprintln!("{report:?}");
                return;
            }
        }
        eprintln!("error: {e}");
    }
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset + (column.saturating_sub(1)).min(l.len());
        }
        offset += l.len();
    }
    text.len()
}
