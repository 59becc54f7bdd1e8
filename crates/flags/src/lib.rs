//! The feature-flag registry behind the pre-deployment gate "Feature flags configured and
//! tested in staging" and `ship flags list` / `ship flags stale`.
//!
//! Pure library: time is always passed in (`today`), and the only I/O is [`load`].
//! See README.md for the file format and the rules.

mod error;
mod flag;
mod gate;
mod lifecycle;
mod registry;
mod table;
mod validate;

pub use error::FlagsError;
pub use flag::{is_valid_name, Flag, FlagDef, FlagType, UnknownFlagType};
pub use gate::FlagGateItem;
pub use lifecycle::{Stale, Status, DUE_SOON_DAYS};
pub use registry::{load, Registry, INLINE_SOURCE};
pub use table::render_table;
pub use validate::{Problem, Severity};
