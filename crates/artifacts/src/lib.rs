//! The Ship loop's artifacts as plain data: evaluation verdicts, release contracts, signals,
//! outcome contracts and `STATUS.md`.
//!
//! Every artifact is a markdown file with YAML frontmatter. This crate parses and renders them
//! from and to strings and never touches the file system or the clock: callers pass file
//! contents in and the current time as an argument, so everything here is deterministic.
//!
//! The tool owns the frontmatter and a few named places in the body (sections such as
//! "## Rollout log" and `<!-- ship:begin NAME -->` blocks); everything else in the body belongs to
//! people, and the tool's updates leave it alone.

pub mod criteria;
pub mod digest;
pub mod document;
pub mod duration;
pub mod error;
pub mod markdown;
pub mod outcome;
pub mod release;
pub mod report;
pub mod signal;
pub mod status;
pub mod verdict;

pub use document::Document;
pub use duration::Dur;
pub use error::ParseError;
