//! Markdown with YAML frontmatter: split, typed parse with file-relative positions, and join.

use crate::error::ParseError;
use serde::{de::DeserializeOwned, Serialize};

/// A markdown file split into its YAML frontmatter and its body, both kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The YAML between the opening and closing `---` lines, each line ending in `\n`.
    pub yaml: String,
    /// The 1-based line number of the first YAML line in the file, so errors point at the file.
    pub yaml_line: usize,
    /// Everything after the closing `---` line.
    pub body: String,
}

impl Document {
    /// Splits `text` into frontmatter and body. The file must open with a `---` line.
    pub fn split(text: &str) -> Result<Document, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split_inclusive('\n');
        let first = lines.next().unwrap_or("");
        if first.trim_end() != "---" {
            return Err(ParseError::new(
                1,
                1,
                "expected the file to start with a `---` line opening the YAML frontmatter",
            ));
        }
        let mut yaml = String::new();
        let mut consumed = first.len();
        let mut line_no = 1;
        for line in lines {
            line_no += 1;
            consumed += line.len();
            let t = line.trim_end();
            if t == "---" || t == "..." {
                return Ok(Document {
                    yaml: yaml.replace("\r\n", "\n"),
                    yaml_line: 2,
                    body: text[consumed..].to_string(),
                });
            }
            yaml.push_str(line);
        }
        Err(ParseError::new(
            line_no,
            1,
            "the YAML frontmatter opened on line 1 is never closed by a `---` line",
        ))
    }

    /// Deserialises the frontmatter into `T`, with error positions relative to the whole file.
    pub fn parse_meta<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        parse_yaml(&self.yaml, self.yaml_line)
    }

    /// Builds a document from typed frontmatter and a body.
    pub fn from_meta<T: Serialize>(meta: &T, body: impl Into<String>) -> Document {
        Document {
            yaml: render_yaml(meta),
            yaml_line: 2,
            body: body.into(),
        }
    }

    /// A whole file's typed frontmatter and its body, for an artifact that has no rule beyond
    /// its types.
    pub fn parse_file<T: DeserializeOwned>(text: &str) -> Result<(T, String), ParseError> {
        let doc = Document::split(text)?;
        Ok((doc.parse_meta()?, doc.body))
    }

    /// The file text of typed frontmatter `meta` followed by `body`.
    pub fn render_file<T: Serialize>(meta: &T, body: &str) -> String {
        Document::from_meta(meta, body).render()
    }

    /// Replaces the frontmatter with `meta`, keeping the body untouched.
    pub fn set_meta<T: Serialize>(&mut self, meta: &T) {
        self.yaml = render_yaml(meta);
    }

    /// The file line where top-level frontmatter key `key` is set (the first YAML line if absent).
    pub fn key_line(&self, key: &str) -> usize {
        self.yaml
            .lines()
            .position(|l| l.starts_with(&format!("{key}:")))
            .map(|i| i + self.yaml_line)
            .unwrap_or(self.yaml_line)
    }

    /// The file's text: the frontmatter between `---` lines, then the body.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.yaml.len() + self.body.len() + 8);
        out.push_str("---\n");
        out.push_str(&self.yaml);
        if !self.yaml.is_empty() && !self.yaml.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("---\n");
        out.push_str(&self.body);
        out
    }
}

/// Parses YAML whose first line is line `first_line` of some file.
pub fn parse_yaml<T: DeserializeOwned>(yaml: &str, first_line: usize) -> Result<T, ParseError> {
    parse_yaml_text(yaml).map_err(|e| {
        // A bad value's message (a duration, a number) does not say whose it is.
        let message = match key_at(yaml, e.line, e.column) {
            Some(key) if !e.message.starts_with(key) => format!("{key}: {}", e.message),
            _ => e.message,
        };
        ParseError::new(e.line + first_line - 1, e.column, message)
    })
}

/// Parses a YAML text on its own: error positions are 1-based within `yaml`, and the message
/// is serde-saphyr's without its position prefix. The feature-flag registry parses with it too.
pub fn parse_yaml_text<T: DeserializeOwned>(yaml: &str) -> Result<T, ParseError> {
    // An empty text is an empty mapping, not "no document": report missing fields instead.
    let src = if yaml.trim().is_empty() { "{}" } else { yaml };
    serde_saphyr::from_str::<T>(src).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((1, 1));
        let message = clean_message(&e.without_snippet().to_string());
        ParseError::new(line.max(1), column.max(1), message)
    })
}

/// The key of a one-line `key: value` when (line, column) falls in its value, where a value
/// error points; none for errors on a key or elsewhere.
fn key_at(yaml: &str, line: usize, column: usize) -> Option<&str> {
    let text = yaml.lines().nth(line.checked_sub(1)?)?;
    let before = text.get(..column.checked_sub(1)?)?;
    let (key, _) = before.split_once(": ")?;
    let key = key.trim().trim_start_matches("- ").trim();
    (!key.is_empty() && !key.contains(' ')).then_some(key)
}

/// serde-saphyr prefixes its messages with "error: line N column M: "; positions are carried
/// separately, so keep only the message itself.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Some messages end with a YAML-relative " at line N, column M"; ours are file-relative.
    let first = match first.rfind(" at line ") {
        Some(i)
            if first[i + 9..]
                .split(", column ")
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) =>
        {
            &first[..i]
        }
        _ => first,
    };
    if let Some(rest) = first.strip_prefix("line ") {
        if let Some(idx) = rest.find(": ") {
            let head = &rest[..idx];
            if head
                .split(" column ")
                .all(|p| p.chars().all(|c| c.is_ascii_digit()))
            {
                return rest[idx + 2..].to_string();
            }
        }
    }
    first.to_string()
}

/// Renders typed frontmatter as YAML (this crate's artifact types always serialise).
pub fn render_yaml<T: Serialize>(meta: &T) -> String {
    // Serialising our own plain data types cannot fail; a failure here is a bug in this crate.
    serde_saphyr::to_string(meta).expect("artifact frontmatter serialises to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Meta {
        id: String,
        n: u32,
    }

    #[test]
    fn splits_and_rejoins_verbatim() {
        let text = "---\nid: a\nn: 1\n---\n# Title\n\nbody --- text\n";
        let doc = Document::split(text).unwrap();
        assert_eq!(doc.yaml, "id: a\nn: 1\n");
        assert_eq!(doc.body, "# Title\n\nbody --- text\n");
        assert_eq!(doc.render(), text);
        let m: Meta = doc.parse_meta().unwrap();
        assert_eq!(
            m,
            Meta {
                id: "a".into(),
                n: 1
            }
        );
    }

    #[test]
    fn errors_point_at_file_lines() {
        let doc = Document::split("---\nid: a\nn: five\n---\nbody\n").unwrap();
        let e = doc.parse_meta::<Meta>().unwrap_err();
        assert_eq!((e.line, e.column), (3, 4));
        assert!(e.message.contains("u32"), "{}", e.message);

        let doc = Document::split("---\nid: a\nbogus: 1\nn: 1\n---\n").unwrap();
        let e = doc.parse_meta::<Meta>().unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);
    }

    #[test]
    fn missing_or_unclosed_frontmatter_is_an_error() {
        assert_eq!(Document::split("# no frontmatter\n").unwrap_err().line, 1);
        let e = Document::split("---\nid: a\n\nbody\n").unwrap_err();
        assert!(e.message.contains("never closed"));
    }

    #[test]
    fn crlf_files_parse() {
        let doc = Document::split("---\r\nid: a\r\nn: 2\r\n---\r\nbody\r\n").unwrap();
        let m: Meta = doc.parse_meta().unwrap();
        assert_eq!(m.n, 2);
    }
}
