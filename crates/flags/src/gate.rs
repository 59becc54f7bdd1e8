//! Raw material for the pre-deployment gate "Feature flags configured and tested in staging".
//! Whether each flag was actually evaluated in staging comes from the state store, not here.

use crate::lifecycle::Stale;
use crate::registry::Registry;
use crate::validate::{Problem, Severity};
use chrono::NaiveDate;
use serde::Serialize;

/// One flag named by a release, as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagGateItem {
    /// The flag's name as the release names it.
    pub name: String,
    /// Whether the registry defines it.
    pub exists: bool,
    /// The flag's validation findings; for an unknown flag, one error saying so.
    pub problems: Vec<Problem>,
    /// When the flag is past its deadline: by how much.
    pub stale: Option<Stale>,
    /// The flag's own instructions for evaluating it in staging, if it overrides the default.
    pub staging_check: Option<String>,
}

impl FlagGateItem {
    /// Registry-side verdict: the flag exists, has no errors (warnings pass) and is not stale.
    pub fn passes(&self) -> bool {
        self.exists
            && self.stale.is_none()
            && self.problems.iter().all(|p| p.severity != Severity::Error)
    }
}

impl Registry {
    /// One item per name in `names`, in that order.
    pub fn check_release(&self, names: &[String], today: NaiveDate) -> Vec<FlagGateItem> {
        let problems = self.problems();
        names
            .iter()
            .map(|name| match self.get(name) {
                Some(flag) => FlagGateItem {
                    name: name.clone(),
                    exists: true,
                    problems: problems.iter().filter(|p| &p.flag == name).cloned().collect(),
                    stale: flag.stale(today),
                    staging_check: flag.staging_check.clone(),
                },
                None => FlagGateItem {
                    name: name.clone(),
                    exists: false,
                    problems: vec![Problem {
                        flag: name.clone(),
                        field: "name",
                        severity: Severity::Error,
                        message: format!(
                            "flag `{name}` is used by the release but not defined in the flag registry"
                        ),
                        line: None,
                        location: "flag registry".to_string(),
                    }],
                    stale: None,
                    staging_check: None,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn reg() -> Registry {
        Registry::from_yaml(
            "f.yaml",
            "flags:
- {name: good, owner: a, type: release, default: false, created: 2026-11-01, cleanup_by: 2026-12-01, staging_check: 'curl /flags/good'}
- {name: late, owner: a, type: release, default: false, created: 2026-11-01, cleanup_by: 2027-01-01}
- {name: ownerless, owner: '', type: kill-switch, default: false, created: 2026-11-01}
",
        )
        .unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_flag_does_not_exist_and_fails() {
        let items = reg().check_release(&names(&["nope"]), d("2026-11-15"));
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert!(!item.exists);
        assert!(!item.passes());
        assert_eq!(item.problems[0].severity, Severity::Error);
        assert!(item.problems[0]
            .message
            .contains("not defined in the flag registry"));
    }

    #[test]
    fn known_flags_carry_their_problems_and_staleness() {
        let items = reg().check_release(&names(&["good", "late", "ownerless"]), d("2026-11-15"));
        assert!(items[0].passes());
        assert_eq!(items[0].staging_check.as_deref(), Some("curl /flags/good"));
        // A lifetime warning alone does not fail the gate.
        assert_eq!(items[1].problems[0].severity, Severity::Warning);
        assert!(items[1].passes());
        assert_eq!(items[2].problems[0].field, "owner");
        assert!(!items[2].passes());

        let later = reg().check_release(&names(&["good"]), d("2026-12-02"));
        assert_eq!(later[0].stale.as_ref().map(|s| s.days_overdue), Some(1));
        assert!(!later[0].passes());
    }
}
