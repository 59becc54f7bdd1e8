//! Durations as people write them in config and contracts: `30s`, `10m`, `1h`, `1h 30m`, `250ms`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn from_secs(secs: u64) -> Self {
        Dur(Duration::from_secs(secs))
    }
    pub fn from_millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
    pub fn as_duration(&self) -> Duration {
        self.0
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration (expected e.g. 30s, 10m, 1h)".into());
        }
        // A bare number is ambiguous (seconds? minutes?), so refuse it rather than guess.
        if t.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "duration {t:?} has no unit (write e.g. {t}s, {t}m or {t}h)"
            ));
        }
        humantime::parse_duration(t)
            .map(Dur)
            .map_err(|e| format!("invalid duration {t:?}: {e} (expected e.g. 30s, 10m, 1h)"))
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
        assert!("10".parse::<Dur>().unwrap_err().contains("no unit"));
        assert!("ten minutes".parse::<Dur>().is_err());
        assert!("".parse::<Dur>().is_err());
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        for s in ["30s", "10m", "1h", "1h 30m", "250ms", "0s"] {
            assert_eq!(s.parse::<Dur>().unwrap().to_string(), s);
        }
    }
}
