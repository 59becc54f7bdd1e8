//! The hash chain of the event log: each event's hash covers the previous event's hash and the
//! event's columns exactly as stored, so a hand edit anywhere breaks every later link.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and the event's stored columns, one per line.
pub fn event_hash(prev: &str, seq: i64, at: &str, release: &str, kind: &str, data: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev, &seq.to_string(), at, release, kind, data] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Hex SHA-256 of a stored text (the state a decision left).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A time as the store writes it: RFC 3339, milliseconds, `Z`.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored time, read back.
pub fn parse_ts(s: &str) -> crate::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            crate::StoreError::Corrupt(format!("state database: the time {s:?} is unreadable: {e}"))
        })
}
