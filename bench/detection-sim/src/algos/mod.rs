//! The algorithms compared, each a faithful reimplementation of its documented rule.

pub mod argo;
pub mod flagger;
pub mod kayenta;
pub mod ship;
pub mod threshold;

pub const NAMES: [&str; 6] = [
    "ship judge",
    "ship, inconclusive → promote",
    "old rule",
    "Flagger",
    "Argo",
    "Kayenta",
];
