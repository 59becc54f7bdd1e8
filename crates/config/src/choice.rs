//! Settings that take one of a few spellings (`judge.inconclusive = "pause"`): typed enums in
//! the configuration, read with a message that names the key and lists the spellings, as the
//! hand-written checks they replace did.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Reads one of `all`'s spellings; anything else is an error saying `problem(written)`.
pub(crate) fn one_of<'de, D, T>(
    d: D,
    all: &[(&'static str, T)],
    problem: impl FnOnce(&str) -> String,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let written = String::deserialize(d)?;
    all.iter()
        .find(|(name, _)| *name == written)
        .map(|(_, v)| *v)
        .ok_or_else(|| D::Error::custom(problem(&written)))
}
