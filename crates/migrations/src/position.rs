//! Byte offsets (what squawk reports) to 1-based line/column (what humans
//! and editors expect).

/// Line starts of one source text.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    /// 1-based line and column of a byte offset. The column counts
    /// characters, not bytes, so non-ASCII identifiers do not skew it.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line + 1, column + 1)
    }

    /// 1-based line number of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_col(offset).0
    }

    /// Text of a 1-based line without its line ending, or `None` past the end.
    pub(crate) fn line_text(&self, line: usize) -> Option<&'a str> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let end = self.starts.get(line).map_or(self.text.len(), |&next| next);
        let text = &self.text[start..end];
        Some(text.trim_end_matches(['\n', '\r']))
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn maps_offsets_to_one_based_line_and_column() {
        let text = "select 1;\n  drop table t;\r\nselect 'é', x;";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(0), (1, 1));
        assert_eq!(index.line_col(7), (1, 8));
        assert_eq!(index.line_col(9), (1, 10)); // the newline itself
        assert_eq!(index.line_col(10), (2, 1));
        assert_eq!(index.line_col(12), (2, 3));
        let x = text.find("x;").unwrap();
        // 'é' is two bytes but one column
        assert_eq!(index.line_col(x), (3, 13));
        assert_eq!(index.line_col(text.len()), (3, 15));
        assert_eq!(index.line_col(text.len() + 10), (3, 15));
    }

    #[test]
    fn returns_line_text_without_line_endings() {
        let index = LineIndex::new("a\r\nb\n\nc");
        assert_eq!(index.line_text(1), Some("a"));
        assert_eq!(index.line_text(2), Some("b"));
        assert_eq!(index.line_text(3), Some(""));
        assert_eq!(index.line_text(4), Some("c"));
        assert_eq!(index.line_text(5), None);
        assert_eq!(index.line_text(0), None);
    }
}
