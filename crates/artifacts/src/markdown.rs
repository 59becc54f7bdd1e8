//! Just enough markdown structure for the tool to own parts of a body and leave the rest alone:
//! top-level sections (`#` and `##` headings outside code fences) and named blocks delimited by
//! `<!-- ship:begin NAME -->` / `<!-- ship:end NAME -->`.

/// One top-level section of a body: its heading (None for the text before the first heading)
/// and its full text, heading line included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// The heading's text without its `#` marks; None for the text before the first heading.
    pub heading: Option<&'a str>,
    /// 1-based line of the heading (or of the first line, for the preamble) within the body.
    pub line: usize,
    /// The section's full text, heading line included.
    pub text: &'a str,
    /// The text after the heading line.
    pub content: &'a str,
}

fn heading_of(line: &str) -> Option<&str> {
    let t = line.trim_end_matches(['\n', '\r']);
    for prefix in ["## ", "# "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            return Some(rest.trim().trim_end_matches('#').trim());
        }
    }
    None
}

fn fence_marker(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    if t.starts_with("```") {
        Some("```")
    } else if t.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

/// Splits a body into top-level sections, in order. Concatenating their texts gives the body.
pub fn sections(body: &str) -> Vec<Section<'_>> {
    // Where each section starts: (offset, 1-based line, heading, length of the heading line),
    // the text before the first heading first; each ends where the next starts.
    let mut starts: Vec<(usize, usize, Option<&str>, usize)> = vec![(0, 1, None, 0)];
    let mut offset = 0usize;
    let mut fence: Option<&str> = None;
    for (idx, line) in body.split_inclusive('\n').enumerate() {
        if let Some(f) = fence {
            if line.trim_start().starts_with(f) {
                fence = None;
            }
        } else if let Some(f) = fence_marker(line) {
            fence = Some(f);
        } else if let Some(h) = heading_of(line) {
            starts.push((offset, idx + 1, Some(h), line.len()));
        }
        offset += line.len();
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain([body.len()]);
    starts
        .iter()
        .zip(ends)
        // An empty preamble is no section; a heading always is one.
        .filter(|((start, _, heading, _), end)| end > start || heading.is_some())
        .map(|(&(start, line, heading, heading_len), end)| Section {
            heading,
            line,
            text: &body[start..end],
            content: &body[start + heading_len..end],
        })
        .collect()
}

fn same_heading(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The content of the first section whose heading is `heading` (case-insensitive).
pub fn section_content<'a>(body: &'a str, heading: &str) -> Option<&'a str> {
    sections(body)
        .into_iter()
        .find(|s| s.heading.is_some_and(|h| same_heading(h, heading)))
        .map(|s| s.content)
}

/// Replaces the content of the `## heading` section, or appends that section at the end.
pub fn set_section(body: &str, heading: &str, content: &str) -> String {
    let content = normalise_block(content);
    let secs = sections(body);
    let mut out = String::with_capacity(body.len() + content.len());
    let mut replaced = false;
    for s in &secs {
        if !replaced && s.heading.is_some_and(|h| same_heading(h, heading)) {
            out.push_str(&s.text[..s.text.len() - s.content.len()]);
            out.push('\n');
            out.push_str(&content);
            out.push('\n');
            replaced = true;
        } else {
            out.push_str(s.text);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&format!("## {heading}\n\n{content}"));
    }
    out
}

fn normalise_block(content: &str) -> String {
    let mut c = content.trim_end_matches(['\n', '\r', ' ']).to_string();
    c.push('\n');
    c
}

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- ship:begin {name} -->"),
        format!("<!-- ship:end {name} -->"),
    )
}

/// The text between a block's begin and end markers, if both are present.
pub fn block<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let (begin, end) = markers(name);
    let b = body.find(&begin)?;
    let after = b + begin.len();
    let e = body[after..].find(&end)? + after;
    Some(
        body[after..e]
            .trim_start_matches(['\r'])
            .trim_start_matches('\n'),
    )
}

/// Replaces a block's content; None when the markers are missing.
pub fn set_block(body: &str, name: &str, content: &str) -> Option<String> {
    let (begin, end) = markers(name);
    let b = body.find(&begin)?;
    let after = b + begin.len();
    let e = body[after..].find(&end)? + after;
    let mut out = String::with_capacity(body.len() + content.len());
    out.push_str(&body[..after]);
    out.push('\n');
    out.push_str(&normalise_block(content));
    out.push_str(&body[e..]);
    Some(out)
}

/// How many times a block's begin and end markers occur: (begins, ends).
pub fn block_count(body: &str, name: &str) -> (usize, usize) {
    let (begin, end) = markers(name);
    (body.matches(&begin).count(), body.matches(&end).count())
}

/// Whether a block holds exactly `content` as `set_block` would write it.
pub fn block_is(body: &str, name: &str, content: &str) -> bool {
    block(body, name).map(|b| b.replace("\r\n", "\n")) == Some(normalise_block(content))
}

/// Wraps content in a named block.
pub fn wrap_block(name: &str, content: &str) -> String {
    let (begin, end) = markers(name);
    format!("{begin}\n{}{end}\n", normalise_block(content))
}

/// True when the text has nothing but whitespace and HTML comments (template guidance).
pub fn is_blank(text: &str) -> bool {
    let mut rest = text;
    loop {
        let t = rest.trim_start();
        if t.is_empty() {
            return true;
        }
        if let Some(after) = t.strip_prefix("<!--") {
            match after.find("-->") {
                Some(i) => rest = &after[i + 3..],
                None => return true,
            }
        } else {
            return false;
        }
    }
}

/// Escapes text for a markdown table cell: no column breaks, no line breaks, no HTML.
pub fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(|c: char| c.is_control(), " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "intro\n# Title\n\n## A\none\n```\n## not a heading\n```\n## B\ntwo\n";

    #[test]
    fn sections_cover_the_body_and_ignore_fenced_headings() {
        let s = sections(BODY);
        let heads: Vec<_> = s.iter().map(|s| s.heading).collect();
        assert_eq!(heads, vec![None, Some("Title"), Some("A"), Some("B")]);
        assert_eq!(s.iter().map(|s| s.text).collect::<String>(), BODY);
        assert_eq!(s[2].content, "one\n```\n## not a heading\n```\n");
        assert_eq!(s[3].line, 9);
    }

    #[test]
    fn set_section_replaces_only_that_section() {
        let out = set_section(BODY, "a", "new");
        assert_eq!(out, "intro\n# Title\n\n## A\n\nnew\n\n## B\ntwo\n");
        assert_eq!(section_content(&out, "B"), Some("two\n"));
    }

    #[test]
    fn set_section_appends_when_missing() {
        let out = set_section("# T\n\ntext\n", "Log", "- x");
        assert_eq!(out, "# T\n\ntext\n\n## Log\n\n- x\n");
        // Idempotent: setting it again replaces, never duplicates.
        let again = set_section(&out, "Log", "- x");
        assert_eq!(again.matches("## Log").count(), 1);
    }

    #[test]
    fn blocks_are_replaced_between_markers() {
        let body = format!("before\n{}after\n", wrap_block("t", "old"));
        assert_eq!(block(&body, "t"), Some("old\n"));
        let out = set_block(&body, "t", "new\nlines").unwrap();
        assert_eq!(
            out,
            "before\n<!-- ship:begin t -->\nnew\nlines\n<!-- ship:end t -->\nafter\n"
        );
        assert!(set_block("no markers", "t", "x").is_none());
    }

    #[test]
    fn blank_means_only_whitespace_and_comments() {
        assert!(is_blank("  \n<!-- write here -->\n"));
        assert!(!is_blank("<!-- c -->\n- a note\n"));
    }
}
