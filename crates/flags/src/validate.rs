//! Validation rules. Findings are collected, not thrown, so one run shows all of them.

use crate::flag::{is_valid_name, Flag};
use crate::registry::Registry;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// How much a finding matters.
pub enum Severity {
    /// The flag cannot be used as it is.
    Error,
    /// Worth a look; the flag still works.
    Warning,
}

/// One finding about one field of one flag. `message` names the flag and the field itself so
/// it reads on its own; `location` is "file:line" or the ship.toml table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The flag's name.
    pub flag: String,
    /// The field the finding is about.
    pub field: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// The finding, naming the flag and the field.
    pub message: String,
    /// 1-based line in the registry file, when the flag came from one.
    pub line: Option<usize>,
    /// "file:line" or the ship.toml table.
    pub location: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {severity}: {}", self.location, self.message)
    }
}

impl Registry {
    /// Every validation finding, in file order.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut first_seen: HashMap<&str, &Flag> = HashMap::new();
        for flag in &self.flags {
            if let Some(first) = first_seen.get(flag.name.as_str()) {
                let message = format!(
                    "flag `{}`: name is defined twice, first at {}",
                    flag.name,
                    first.location()
                );
                out.push(problem(flag, "name", Severity::Error, message));
            } else {
                first_seen.insert(&flag.name, flag);
            }
            check_flag(flag, &mut out);
        }
        out
    }
}

fn problem(flag: &Flag, field: &'static str, severity: Severity, message: String) -> Problem {
    Problem {
        flag: flag.name.clone(),
        field,
        severity,
        message,
        line: flag.line,
        location: flag.location(),
    }
}

fn check_flag(flag: &Flag, out: &mut Vec<Problem>) {
    let name = &flag.name;
    let mut error = |field, message| out.push(problem(flag, field, Severity::Error, message));
    if !is_valid_name(name) {
        error(
            "name",
            format!("flag `{name}`: name must match [a-z0-9][a-z0-9._-]*"),
        );
    }
    if flag.owner.trim().is_empty() {
        error(
            "owner",
            format!("flag `{name}`: owner is missing; every flag needs someone to clean it up"),
        );
    }
    // Only scalars can be served when the flag system is down; the SDKs fall back to these.
    if !(flag.default.is_boolean() || flag.default.is_string() || flag.default.is_number()) {
        error(
            "default",
            format!(
                "flag `{name}`: default must be a bool, string or number, found `{}`",
                flag.default
            ),
        );
    }
    let Some(cleanup_by) = flag.cleanup_by else {
        if let Some(days) = flag.kind.expected_lifetime_days() {
            error(
                "cleanup_by",
                format!(
                    "flag `{name}`: cleanup_by is missing; {} flags are temporary \
                     (expected lifetime {days} days)",
                    flag.kind
                ),
            );
        }
        return;
    };
    let planned = (cleanup_by - flag.created).num_days();
    if planned < 0 {
        error(
            "cleanup_by",
            format!(
                "flag `{name}`: cleanup_by {cleanup_by} is before created {}",
                flag.created
            ),
        );
    } else if let Some(days) = flag.kind.expected_lifetime_days() {
        let beyond = planned - i64::from(days);
        if beyond > 0 {
            let message = format!(
                "flag `{name}`: cleanup_by {cleanup_by} is {planned} days after created, \
                 {beyond} days beyond the {days}-day expected lifetime of a {} flag",
                flag.kind
            );
            out.push(problem(flag, "cleanup_by", Severity::Warning, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(entries: &str) -> Registry {
        Registry::from_yaml("flags.yaml", &format!("flags:\n{entries}")).unwrap()
    }

    /// One YAML list entry; each test varies only the fields its rule looks at.
    fn entry(name: &str, owner: &str, kind: &str, created: &str, cleanup: Option<&str>) -> String {
        let mut s = format!(
            "- name: {name}\n  owner: \"{owner}\"\n  type: {kind}\n  default: false\n  created: {created}\n"
        );
        if let Some(c) = cleanup {
            s.push_str(&format!("  cleanup_by: {c}\n"));
        }
        s
    }

    fn fields(reg: &Registry) -> Vec<(&'static str, Severity)> {
        reg.problems()
            .iter()
            .map(|p| (p.field, p.severity))
            .collect()
    }

    #[test]
    fn valid_flags_have_no_problems() {
        let text = entry("a", "o@x", "release", "2026-11-20", Some("2026-12-30"))
            + &entry("b", "o@x", "operational", "2026-11-20", Some("2026-11-27"))
            + &entry("c", "o@x", "kill-switch", "2026-11-20", None)
            + &entry("d", "o@x", "permission", "2026-11-20", Some("2027-06-01"));
        assert_eq!(registry(&text).problems(), vec![]);
    }

    #[test]
    fn missing_owner_names_flag_field_and_line() {
        let reg = registry(&entry(
            "a",
            " ",
            "release",
            "2026-11-20",
            Some("2026-12-01"),
        ));
        let p = &reg.problems()[0];
        assert_eq!(
            (p.field, p.severity, p.line),
            ("owner", Severity::Error, Some(2))
        );
        assert!(
            p.message.starts_with("flag `a`: owner is missing"),
            "{}",
            p.message
        );
        assert!(
            p.to_string().starts_with("flags.yaml:2: error: flag `a`"),
            "{p}"
        );
        let no_key =
            registry("- name: a\n  type: kill-switch\n  default: 1\n  created: 2026-01-01\n");
        assert_eq!(fields(&no_key), vec![("owner", Severity::Error)]);
    }

    #[test]
    fn temporary_types_need_cleanup_by_permanent_do_not() {
        for kind in ["release", "experiment", "operational"] {
            let reg = registry(&entry("a", "o@x", kind, "2026-11-20", None));
            assert_eq!(
                fields(&reg),
                vec![("cleanup_by", Severity::Error)],
                "{kind}"
            );
            assert!(reg.problems()[0].message.contains(kind));
        }
        for kind in ["kill-switch", "permission"] {
            assert_eq!(
                registry(&entry("a", "o@x", kind, "2026-11-20", None)).problems(),
                vec![]
            );
        }
    }

    #[test]
    fn cleanup_by_before_created_is_an_error_same_day_is_not() {
        let reg = registry(&entry(
            "a",
            "o@x",
            "release",
            "2026-11-20",
            Some("2026-11-19"),
        ));
        let p = &reg.problems()[0];
        assert_eq!((p.field, p.severity), ("cleanup_by", Severity::Error));
        assert!(
            p.message.contains("before created 2026-11-20"),
            "{}",
            p.message
        );
        let same = registry(&entry(
            "a",
            "o@x",
            "permission",
            "2026-11-20",
            Some("2026-11-20"),
        ));
        assert_eq!(same.problems(), vec![]);
    }

    #[test]
    fn cleanup_beyond_expected_lifetime_is_a_warning_saying_by_how_much() {
        // Exactly 40 days is fine; 41 is one day beyond.
        let ok = registry(&entry(
            "a",
            "o@x",
            "release",
            "2026-11-20",
            Some("2026-12-30"),
        ));
        assert_eq!(ok.problems(), vec![]);
        let late = registry(&entry(
            "a",
            "o@x",
            "experiment",
            "2026-11-20",
            Some("2026-12-31"),
        ));
        let p = &late.problems()[0];
        assert_eq!((p.field, p.severity), ("cleanup_by", Severity::Warning));
        assert!(
            p.message
                .contains("41 days after created, 1 days beyond the 40-day"),
            "{}",
            p.message
        );
        let ops = registry(&entry(
            "a",
            "o@x",
            "operational",
            "2026-11-20",
            Some("2026-12-20"),
        ));
        assert!(ops.problems()[0]
            .message
            .contains("23 days beyond the 7-day"));
        // Permanent types have no expected lifetime, so no warning however far away.
        let perm = registry(&entry(
            "a",
            "o@x",
            "kill-switch",
            "2026-11-20",
            Some("2030-01-01"),
        ));
        assert_eq!(perm.problems(), vec![]);
    }

    #[test]
    fn duplicate_and_badly_named_flags() {
        let text = entry("dup", "o@x", "kill-switch", "2026-11-20", None)
            + &entry("dup", "o@x", "kill-switch", "2026-11-20", None)
            + &entry("Bad_Name", "o@x", "kill-switch", "2026-11-20", None);
        let problems = registry(&text).problems();
        assert_eq!(problems.len(), 2);
        assert_eq!(
            (problems[0].flag.as_str(), problems[0].line),
            ("dup", Some(7))
        );
        assert!(problems[0]
            .message
            .contains("defined twice, first at flags.yaml:2"));
        assert_eq!(
            (problems[1].flag.as_str(), problems[1].field),
            ("Bad_Name", "name")
        );
    }

    #[test]
    fn default_must_be_a_scalar() {
        let reg = registry(
            "- name: a\n  owner: o\n  type: permission\n  default: [1]\n  created: 2026-01-01\n",
        );
        assert_eq!(fields(&reg), vec![("default", Severity::Error)]);
        let null = registry(
            "- name: a\n  owner: o\n  type: permission\n  default: ~\n  created: 2026-01-01\n",
        );
        assert_eq!(fields(&null), vec![("default", Severity::Error)]);
    }
}
