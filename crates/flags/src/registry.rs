//! The registry: parsing from the YAML file or ship.toml entries, merging and lookup.

use crate::error::FlagsError;
use crate::flag::{Flag, FlagDef};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use shiploop_artifacts::document::parse_yaml_text as parse_yaml;
use std::path::Path;

/// The source label of flags defined inline in ship.toml under `[flags.registry.<name>]`.
pub const INLINE_SOURCE: &str = "ship.toml";

/// All known flags, in definition order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Registry {
    /// The flags, in definition order.
    pub flags: Vec<Flag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    flags: Vec<Spanned<Flag>>,
}

/// Just enough of an entry to say which flag a parse error belongs to.
#[derive(Deserialize)]
struct EntryName {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct EntryNames {
    #[serde(default)]
    flags: Vec<Spanned<EntryName>>,
}

impl Registry {
    /// Parses the registry file text; `file_label` names the file in errors and locations.
    pub fn from_yaml(file_label: &str, text: &str) -> Result<Registry, FlagsError> {
        let file: RegistryFile = parse_yaml(text).map_err(|e| FlagsError::Parse {
            file: file_label.to_string(),
            line: e.line,
            column: e.column,
            message: match flag_at_line(text, e.line) {
                Some(name) => format!("flag `{name}`: {}", e.message),
                None => e.message,
            },
        })?;
        let flags = file
            .flags
            .into_iter()
            .map(|entry| {
                let line = entry.referenced.line() as usize;
                let mut flag = entry.value.normalized();
                flag.line = (line > 0).then_some(line);
                flag.source = file_label.to_string();
                flag
            })
            .collect();
        Ok(Registry { flags })
    }

    /// Builds a registry from inline `[flags.registry.<name>]` tables, in the given order.
    pub fn from_entries(entries: Vec<(String, FlagDef)>) -> Registry {
        let flags = entries
            .into_iter()
            .map(|(name, def)| Flag::from_def(name, def, INLINE_SOURCE).normalized())
            .collect();
        Registry { flags }
    }

    /// Combines two registries (the file and ship.toml). Defining a flag in both places is an
    /// error rather than an override: two owners or two cleanup dates for one flag is a
    /// mistake nobody should have to debug later.
    pub fn merge(mut self, other: Registry) -> Result<Registry, FlagsError> {
        for flag in &other.flags {
            if let Some(existing) = self.get(&flag.name) {
                return Err(FlagsError::Conflict {
                    name: flag.name.clone(),
                    first: existing.location(),
                    second: flag.location(),
                });
            }
        }
        self.flags.extend(other.flags);
        Ok(self)
    }

    /// The first flag with this name (duplicates are reported by [`Registry::problems`]).
    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// Whether no flag is defined.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }
}

/// Reads and parses a registry file. A missing file is [`FlagsError::NotFound`], not an empty
/// registry: only the caller knows whether the file was configured explicitly.
pub fn load(path: &Path) -> Result<Registry, FlagsError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            FlagsError::NotFound(path.to_path_buf())
        } else {
            FlagsError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    Registry::from_yaml(&path.display().to_string(), &text)
}

/// The name of the flag entry that contains `line`, found by a lenient re-parse, so a type
/// error deep in a long file says which flag it is about.
fn flag_at_line(text: &str, line: usize) -> Option<String> {
    // Lines at column 1 that are not list items are top-level keys, outside every entry.
    let raw = text.lines().nth(line.checked_sub(1)?)?;
    if !raw.starts_with([' ', '\t', '-']) {
        return None;
    }
    let names: EntryNames = parse_yaml(text).ok()?;
    names
        .flags
        .into_iter()
        .take_while(|entry| entry.referenced.line() as usize <= line)
        .last()?
        .value
        .name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlagType;
    use chrono::NaiveDate;
    use std::collections::BTreeMap;

    const FILE: &str = "\
flags:
- name: new-checkout
  owner: alice@example.com
  type: release
  default: false
  description: New checkout flow
  created: 2026-11-20
  cleanup_by: 2026-12-30
  staging_check: \"\"
- name: payments-off
  owner: ops@example.com
  type: kill-switch
  default: \"on\"
  created: 2026-01-05
";

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn parses_flags_with_lines() {
        let reg = Registry::from_yaml("work/flags.yaml", FILE).unwrap();
        assert_eq!(reg.flags.len(), 2);
        let f = reg.get("new-checkout").unwrap();
        assert_eq!(f.kind, FlagType::Release);
        assert_eq!(f.default, serde_json::json!(false));
        assert_eq!(f.created, date("2026-11-20"));
        assert_eq!(f.cleanup_by, Some(date("2026-12-30")));
        assert_eq!(f.staging_check, None, "empty override means none");
        assert_eq!(f.line, Some(2));
        assert_eq!(f.location(), "work/flags.yaml:2");
        let k = reg.get("payments-off").unwrap();
        assert_eq!(
            (k.kind, k.line, k.cleanup_by),
            (FlagType::KillSwitch, Some(10), None)
        );
        assert_eq!(k.default, serde_json::json!("on"));
        assert!(reg.get("nope").is_none());
    }

    #[test]
    fn empty_file_is_an_empty_registry() {
        assert!(Registry::from_yaml("f.yaml", "").unwrap().is_empty());
        assert!(Registry::from_yaml("f.yaml", "flags: []\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn unknown_type_is_a_located_error_naming_flag_and_valid_types() {
        let text = FILE.replace("type: kill-switch", "type: killswitch");
        let e = Registry::from_yaml("work/flags.yaml", &text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("work/flags.yaml:12:"), "{msg}");
        assert!(msg.contains("flag `payments-off`"), "{msg}");
        assert!(msg.contains("unknown flag type `killswitch`"), "{msg}");
        assert!(
            msg.contains("release, experiment, operational, kill-switch, permission"),
            "{msg}"
        );
    }

    #[test]
    fn bad_date_unknown_field_and_missing_field_are_located() {
        let text = FILE.replace("created: 2026-11-20", "created: 2026-13-01");
        let FlagsError::Parse { line, message, .. } =
            Registry::from_yaml("f.yaml", &text).unwrap_err()
        else {
            panic!("expected a parse error")
        };
        assert_eq!(line, 7);
        assert!(message.contains("invalid date `2026-13-01`"), "{message}");

        let text = FILE.replace("  staging_check", "  stagingcheck");
        let e = Registry::from_yaml("f.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml:9:"), "{e}");
        assert!(e.contains("unknown field `stagingcheck`"), "{e}");

        let text = FILE.replace("  created: 2026-01-05\n", "");
        let e = Registry::from_yaml("f.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `created`"), "{e}");

        let e = Registry::from_yaml("f.yaml", "flag:\n- name: x\n").unwrap_err();
        assert!(e.to_string().starts_with("f.yaml:1:"), "{e}");
        assert!(
            !e.to_string().contains("flag `"),
            "top-level key has no flag: {e}"
        );
    }

    #[test]
    fn toml_inline_entries_use_the_same_type() {
        #[derive(Debug, serde::Deserialize)]
        struct ShipToml {
            flags: FlagsSection,
        }
        #[derive(Debug, serde::Deserialize)]
        struct FlagsSection {
            registry: BTreeMap<String, FlagDef>,
        }
        let toml_text = r#"
[flags.registry.dark-mode]
owner = "bob@example.com"
type = "experiment"
default = "control"
created = 2026-11-01
cleanup_by = "2026-12-01"

[flags.registry.max-retries]
owner = "ops@example.com"
type = "operational"
default = 3
created = 2026-11-28
cleanup_by = 2026-12-04
"#;
        let parsed: ShipToml = toml::from_str(toml_text).unwrap();
        let reg = Registry::from_entries(parsed.flags.registry.into_iter().collect());
        let dark = reg.get("dark-mode").unwrap();
        assert_eq!(dark.kind, FlagType::Experiment);
        assert_eq!(dark.created, date("2026-11-01"));
        assert_eq!(dark.cleanup_by, Some(date("2026-12-01")));
        assert_eq!(dark.line, None);
        assert_eq!(dark.location(), "ship.toml [flags.registry.dark-mode]");
        let retries = reg.get("max-retries").unwrap();
        assert_eq!(retries.default, serde_json::json!(3));
        assert_eq!(retries.cleanup_by, Some(date("2026-12-04")));

        let bad: Result<ShipToml, _> =
            toml::from_str(&toml_text.replace("\"operational\"", "\"ops\""));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("unknown flag type `ops`"));
    }

    #[test]
    fn merge_combines_and_rejects_a_name_defined_twice() {
        let file = Registry::from_yaml("work/flags.yaml", FILE).unwrap();
        let def: FlagDef = serde_saphyr::from_str(
            "owner: x@example.com\ntype: permission\ndefault: false\ncreated: 2026-01-01\n",
        )
        .unwrap();
        let inline = Registry::from_entries(vec![("admin-panel".into(), def.clone())]);
        let merged = file.clone().merge(inline).unwrap();
        assert_eq!(merged.flags.len(), 3);
        assert!(merged.get("admin-panel").is_some());

        let clash = Registry::from_entries(vec![("new-checkout".into(), def)]);
        let e = file.merge(clash).unwrap_err().to_string();
        assert_eq!(
            e,
            "flag `new-checkout` is defined twice: in work/flags.yaml:2 \
             and in ship.toml [flags.registry.new-checkout]"
        );
    }

    #[test]
    fn load_distinguishes_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.yaml");
        assert!(matches!(load(&path), Err(FlagsError::NotFound(p)) if p == path));
        std::fs::write(&path, FILE).unwrap();
        let reg = load(&path).unwrap();
        assert_eq!(reg.flags[0].source, path.display().to_string());
    }

    #[test]
    fn serializes_for_json_output() {
        let reg = Registry::from_yaml("f.yaml", FILE).unwrap();
        let json = serde_json::to_value(&reg).unwrap();
        assert_eq!(json["flags"][0]["type"], "release");
        assert_eq!(json["flags"][0]["cleanup_by"], "2026-12-30");
        assert_eq!(json["flags"][1]["type"], "kill-switch");
        assert_eq!(json["flags"][1]["line"], 10);
    }
}
