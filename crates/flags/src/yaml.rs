//! YAML parsing with 1-based, file-relative error positions (the approach of
//! `shiploop-artifacts`, copied rather than depended on to keep this crate standalone).

use serde::de::DeserializeOwned;

/// A YAML error position and a message without serde-saphyr's own position prefix.
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub(crate) fn parse_yaml<T: DeserializeOwned>(yaml: &str) -> Result<T, YamlError> {
    // An empty file is an empty mapping, not "no document": an empty registry is valid.
    let src = if yaml.trim().is_empty() { "{}" } else { yaml };
    serde_saphyr::from_str::<T>(src).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((1, 1));
        YamlError {
            line: line.max(1),
            column: column.max(1),
            message: clean_message(&e.without_snippet().to_string()),
        }
    })
}

/// serde-saphyr prefixes its messages with "error: line N column M: " and sometimes ends them
/// with " at line N, column M"; positions are carried separately, so keep only the message.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.rfind(" at line ") {
        Some(i) if is_position(&first[i + 9..], ", column ") => &first[..i],
        _ => first,
    };
    if let Some(rest) = first.strip_prefix("line ") {
        if let Some(idx) = rest.find(": ") {
            if is_position(&rest[..idx], " column ") {
                return rest[idx + 2..].to_string();
            }
        }
    }
    first.to_string()
}

fn is_position(text: &str, separator: &str) -> bool {
    text.split(separator)
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
