//! One flag definition and its type.

use chrono::{Days, NaiveDate};
use serde::{de, Deserialize, Deserializer, Serialize};
use std::fmt;

/// The kinds of flag, with Unleash's expected lifetimes: the type says how long a flag should
/// live, which is what lets stale flags be found without anyone remembering them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagType {
    /// Gates a release's new code path; temporary.
    Release,
    /// An A/B test; temporary.
    Experiment,
    /// Tunes behaviour in production; permanent.
    Operational,
    /// Turns a feature off in an emergency; permanent.
    KillSwitch,
    /// Decides who may use a feature; permanent.
    Permission,
}

impl FlagType {
    /// Every type, in the order they are listed to people.
    pub const ALL: [FlagType; 5] = [
        FlagType::Release,
        FlagType::Experiment,
        FlagType::Operational,
        FlagType::KillSwitch,
        FlagType::Permission,
    ];

    /// The kebab-case name used in the registry file.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Release => "release",
            FlagType::Experiment => "experiment",
            FlagType::Operational => "operational",
            FlagType::KillSwitch => "kill-switch",
            FlagType::Permission => "permission",
        }
    }

    /// Temporary flags are meant to be removed once they have done their job.
    pub fn is_temporary(self) -> bool {
        self.expected_lifetime_days().is_some()
    }

    /// How long a flag of this type is expected to live; `None` for permanent types.
    pub fn expected_lifetime_days(self) -> Option<u32> {
        match self {
            FlagType::Release | FlagType::Experiment => Some(40),
            FlagType::Operational => Some(7),
            FlagType::KillSwitch | FlagType::Permission => None,
        }
    }

    /// "release, experiment, ..." for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(FlagType::as_str).join(", ")
    }
}

impl fmt::Display for FlagType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flag type that is not one of [`FlagType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flag type `{0}`; valid types are {names}", names = FlagType::valid_names())]
pub struct UnknownFlagType(pub String);

impl std::str::FromStr for FlagType {
    type Err = UnknownFlagType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownFlagType(s.to_string()))
    }
}

// Hand-written so an unknown type lists the valid ones in our words rather than serde's.
impl<'de> Deserialize<'de> for FlagType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A flag as written in the registry file: a list entry carrying its own `name`.
/// `line` and `source` are filled in by the loader, never read from the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// The flag's name, as the code asks for it.
    pub name: String,
    /// Defaults to empty so a missing owner is reported with the other problems.
    #[serde(default)]
    pub owner: String,
    #[serde(rename = "type")]
    /// The flag's type, which sets its expected lifetime.
    pub kind: FlagType,
    /// The value served when the flag system is unreachable.
    pub default: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// What the flag is for.
    pub description: Option<String>,
    #[serde(deserialize_with = "required_date")]
    /// When the flag was created.
    pub created: NaiveDate,
    #[serde(default, deserialize_with = "optional_date")]
    /// When the flag must be removed by; a temporary flag without one is due `created` plus its type's lifetime.
    pub cleanup_by: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// How to evaluate the flag in staging, when it overrides the default.
    pub staging_check: Option<String>,
    /// 1-based line of the entry in the registry file; `None` for inline ship.toml entries.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Where the flag was defined (the registry file label, or `ship.toml`).
    #[serde(skip_deserializing)]
    pub source: String,
}

/// A flag as written inline in ship.toml, `[flags.registry.<name>]`: the table key is the name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagDef {
    #[serde(default)]
    /// Who owns the flag (and its removal).
    pub owner: String,
    #[serde(rename = "type")]
    /// The flag's type, which sets its expected lifetime.
    pub kind: FlagType,
    /// The value served when the flag system is unreachable.
    pub default: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// What the flag is for.
    pub description: Option<String>,
    #[serde(deserialize_with = "required_date")]
    /// When the flag was created.
    pub created: NaiveDate,
    #[serde(default, deserialize_with = "optional_date")]
    /// When the flag must be removed by.
    pub cleanup_by: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// How to evaluate the flag in staging, when it overrides the default.
    pub staging_check: Option<String>,
}

impl Flag {
    /// The flag `name` defined inline by `def`, from `source` (`ship.toml`).
    pub fn from_def(name: String, def: FlagDef, source: impl Into<String>) -> Flag {
        Flag {
            name,
            owner: def.owner,
            kind: def.kind,
            default: def.default,
            description: def.description,
            created: def.created,
            cleanup_by: def.cleanup_by,
            staging_check: def.staging_check,
            line: None,
            source: source.into(),
        }
    }

    /// `staging_check: ""` means "no override", the same as leaving it out.
    pub(crate) fn normalized(mut self) -> Flag {
        self.description = self.description.filter(|s| !s.trim().is_empty());
        self.staging_check = self.staging_check.filter(|s| !s.trim().is_empty());
        self
    }

    /// When the flag should be gone: its cleanup date, or for a temporary flag without one,
    /// the end of its type's expected lifetime. `None` for a permanent flag with no date.
    pub fn deadline(&self) -> Option<NaiveDate> {
        self.cleanup_by.or_else(|| {
            let days = self.kind.expected_lifetime_days()?;
            self.created.checked_add_days(Days::new(days.into()))
        })
    }

    /// "work/flags.yaml:12" or "ship.toml [flags.registry.name]", for messages.
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.source),
            None => format!("{} [flags.registry.{}]", self.source, self.name),
        }
    }
}

/// `[a-z0-9][a-z0-9._-]*`: names end up in URLs, env vars and SDK calls, so keep them plain.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn required_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    optional_date(deserializer)?.ok_or_else(|| de::Error::custom("expected a date YYYY-MM-DD"))
}

/// Accepts `2026-11-20` as a string (YAML, quoted TOML) and as a native TOML date, which the
/// `toml` crate hands over as a one-entry map; chrono's own impl only takes strings.
fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    struct DateVisitor;

    impl<'de> de::Visitor<'de> for DateVisitor {
        type Value = Option<NaiveDate>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date YYYY-MM-DD")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|e| E::custom(format!("invalid date `{v}` ({e}); expected YYYY-MM-DD")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            match map.next_entry::<String, String>()? {
                Some((_, text)) => self.visit_str(&text),
                None => Err(de::Error::custom(
                    "expected a date YYYY-MM-DD, found a table",
                )),
            }
        }
    }

    deserializer.deserialize_any(DateVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_display_kebab_case_and_know_their_lifetimes() {
        assert_eq!(FlagType::KillSwitch.to_string(), "kill-switch");
        assert_eq!("kill-switch".parse::<FlagType>(), Ok(FlagType::KillSwitch));
        assert_eq!(FlagType::Release.expected_lifetime_days(), Some(40));
        assert_eq!(FlagType::Experiment.expected_lifetime_days(), Some(40));
        assert_eq!(FlagType::Operational.expected_lifetime_days(), Some(7));
        assert!(!FlagType::Permission.is_temporary());
        assert!(FlagType::Operational.is_temporary());
        let err = "temp".parse::<FlagType>().unwrap_err().to_string();
        assert!(err.contains("release, experiment, operational, kill-switch, permission"));
    }

    #[test]
    fn name_syntax() {
        for ok in ["new-checkout", "a", "0day", "pay.v2_beta"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "New-checkout", "-lead", ".x", "has space", "ünï"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
