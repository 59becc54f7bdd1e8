//! The error every artifact parser returns: what is wrong, and where in the file.

use std::fmt;

/// A problem in an artifact's text, located by 1-based line and column within the whole file
/// (frontmatter offsets already applied). The file name is attached by whoever read the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line within the whole file.
    pub line: usize,
    /// 1-based column within that line.
    pub column: usize,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ParseError {
    /// A problem at `line` and `column` (both 1-based, within the whole file).
    pub fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}
