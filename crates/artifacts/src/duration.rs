//! Durations as people write them in config and contracts: `30s`, `10m`, `1h`, `1h 30m`, `250ms`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest duration ship accepts: 10 years (humantime's `10y`, 365.25 days each). Longer
/// than any stage, hold, window, timeout or outcome period could mean, and so far from every
/// limit (u64 seconds, chrono's ±262,000 years and i64 milliseconds, Instant) that adding a
/// parsed duration to a timestamp, or summing thousands of them, can neither panic nor wrap.
pub const MAX: Dur = Dur(Duration::from_secs(315_576_000));

/// A duration as people write it in `ship.toml` and contracts (`30s`, `1h 30m`); serialised so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// A duration of `secs` seconds.
    pub fn from_secs(secs: u64) -> Self {
        Dur(Duration::from_secs(secs))
    }
    /// A duration of `ms` milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
    /// The duration as a `std::time::Duration`.
    pub fn as_duration(&self) -> Duration {
        self.0
    }
}

/// Why a duration did not parse. The messages say what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration (expected e.g. 30s, 10m, 1h)")]
    Empty,
    /// A bare number: seconds or minutes? Refused rather than guessed.
    #[error("duration {0:?} has no unit (write e.g. {0}s, {0}m or {0}h)")]
    NoUnit(String),
    /// Not a duration humantime understands (or a number too large for it).
    #[error("invalid duration {text:?}: {reason} (expected e.g. 30s, 10m, 1h)")]
    Invalid {
        /// What was written, trimmed.
        text: String,
        /// humantime's explanation.
        reason: String,
    },
    /// Longer than [`MAX`].
    #[error("{0:?} is longer than 10y, the longest duration ship accepts")]
    TooLong(String),
}

impl FromStr for Dur {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(DurationError::Empty);
        }
        // A bare number is ambiguous (seconds? minutes?), so refuse it rather than guess.
        if t.chars().all(|c| c.is_ascii_digit()) {
            return Err(DurationError::NoUnit(t.to_string()));
        }
        // humantime's arithmetic is checked: a number too large for u64 is an error here.
        let d = humantime::parse_duration(t).map_err(|e| DurationError::Invalid {
            text: t.to_string(),
            reason: e.to_string(),
        })?;
        if d > MAX.0 {
            return Err(DurationError::TooLong(t.to_string()));
        }
        Ok(Dur(d))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0)).map(|_| ())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn parses_the_units_people_write() {
        assert_eq!("30s".parse::<Dur>().unwrap(), Dur::from_secs(30));
        assert_eq!("10m".parse::<Dur>().unwrap(), Dur::from_secs(600));
        assert_eq!("1h".parse::<Dur>().unwrap(), Dur::from_secs(3600));
        assert_eq!("1h 30m".parse::<Dur>().unwrap(), Dur::from_secs(5400));
        assert_eq!("250ms".parse::<Dur>().unwrap(), Dur::from_millis(250));
    }

    #[test]
    fn refuses_bare_numbers_and_garbage() {
        assert!("10"
            .parse::<Dur>()
            .unwrap_err()
            .to_string()
            .contains("no unit"));
        assert!("ten minutes".parse::<Dur>().is_err());
        assert!("".parse::<Dur>().is_err());
    }

    #[test]
    fn refuses_durations_beyond_the_limit_or_that_overflow() {
        for s in ["100000000y", "500000000000y", "11y", "3700d"] {
            let e = s.parse::<Dur>().unwrap_err().to_string();
            assert!(e.contains("longer than") && e.contains("10y"), "{s}: {e}");
        }
        // More seconds than a u64 holds: an error, never a wrap.
        let e = "18446744073709551616s"
            .parse::<Dur>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large"), "{e}");
        assert_eq!("10y".parse::<Dur>().unwrap(), MAX);
    }

    // A real Instant is what the limit must leave room in.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn the_limit_leaves_room_for_sums_and_timestamps() {
        // Every place that adds a parsed duration to a timestamp or an Instant, or sums a few
        // of them (the controller's lease), stays far from any limit.
        let many = MAX.0.checked_mul(10_000).unwrap();
        let far = chrono::Duration::from_std(many).unwrap();
        assert!(chrono::DateTime::<chrono::Utc>::MAX_UTC
            .checked_sub_signed(far)
            .is_some_and(|t| t.year() > 9999));
        assert!(std::time::Instant::now().checked_add(many).is_some());
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        for s in ["30s", "10m", "1h", "1h 30m", "250ms", "0s"] {
            assert_eq!(s.parse::<Dur>().unwrap().to_string(), s);
        }
    }
}
