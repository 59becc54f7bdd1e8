//! Where a flag stands relative to its deadline on a given day, and which flags are stale.

use crate::flag::Flag;
use crate::registry::Registry;
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// How close a deadline must be before `ship flags list` says "due in N days" instead of "ok".
pub const DUE_SOON_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "days")]
/// Where a flag stands against its cleanup deadline.
pub enum Status {
    /// A permanent type with no cleanup date.
    Permanent,
    /// Deadline more than [`DUE_SOON_DAYS`] away.
    Ok,
    /// Deadline in this many days (0 = due today, which is not yet overdue).
    DueIn(i64),
    /// Deadline passed this many days ago.
    Overdue(i64),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Permanent => f.write_str("permanent"),
            Status::Ok => f.write_str("ok"),
            Status::DueIn(0) => f.write_str("due today"),
            Status::DueIn(n) => write!(f, "due in {n} day{}", plural(n)),
            Status::Overdue(n) => write!(f, "OVERDUE by {n} day{}", plural(n)),
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl Flag {
    /// Where the flag stands against its deadline on `today`.
    pub fn status(&self, today: NaiveDate) -> Status {
        let Some(deadline) = self.deadline() else {
            return Status::Permanent;
        };
        match (deadline - today).num_days() {
            left if left < 0 => Status::Overdue(-left),
            left if left <= DUE_SOON_DAYS => Status::DueIn(left),
            _ => Status::Ok,
        }
    }
}

/// A flag past its deadline. `due` is `cleanup_by`, or when that is missing on a temporary
/// flag, `created` plus the type's expected lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stale {
    /// The flag's name.
    pub flag: String,
    /// Who owns it.
    pub owner: String,
    /// Its written cleanup date, if any.
    pub cleanup_by: Option<NaiveDate>,
    /// The deadline it missed.
    pub due: NaiveDate,
    /// Days since the deadline.
    pub days_overdue: i64,
}

impl Registry {
    /// Flags whose deadline is before `today`, most overdue first.
    pub fn stale(&self, today: NaiveDate) -> Vec<Stale> {
        let mut out: Vec<Stale> = self.flags.iter().filter_map(|f| f.stale(today)).collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.days_overdue));
        out
    }
}

impl Flag {
    /// The flag's overdue record on `today`, or None when it is not past its deadline.
    pub fn stale(&self, today: NaiveDate) -> Option<Stale> {
        let due = self.deadline()?;
        let days_overdue = (today - due).num_days();
        (days_overdue > 0).then(|| Stale {
            flag: self.name.clone(),
            owner: self.owner.clone(),
            cleanup_by: self.cleanup_by,
            due,
            days_overdue,
        })
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
- {name: dated, owner: a, type: release, default: false, created: 2026-11-01, cleanup_by: 2026-12-01}
- {name: undated, owner: b, type: operational, default: 0, created: 2026-11-20}
- {name: switch, owner: c, type: kill-switch, default: true, created: 2020-01-01}
",
        )
        .unwrap()
    }

    #[test]
    fn due_today_is_not_overdue_the_day_after_is() {
        let r = reg();
        let dated = r.get("dated").unwrap();
        assert_eq!(dated.status(d("2026-12-01")), Status::DueIn(0));
        assert!(r.stale(d("2026-12-01")).iter().all(|s| s.flag != "dated"));
        let stale = r.stale(d("2026-12-02"));
        let s = stale.iter().find(|s| s.flag == "dated").unwrap();
        assert_eq!(
            (s.days_overdue, s.cleanup_by, s.owner.as_str()),
            (1, Some(d("2026-12-01")), "a")
        );
        assert_eq!(
            dated.status(d("2026-12-02")).to_string(),
            "OVERDUE by 1 day"
        );
    }

    #[test]
    fn temporary_flag_without_cleanup_by_goes_stale_after_its_lifetime() {
        let r = reg();
        // operational: 7 days from 2026-11-20 is 2026-11-27.
        assert!(r.stale(d("2026-11-27")).is_empty());
        let stale = r.stale(d("2026-11-30"));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].flag, "undated");
        assert_eq!(
            (stale[0].cleanup_by, stale[0].due, stale[0].days_overdue),
            (None, d("2026-11-27"), 3)
        );
    }

    #[test]
    fn permanent_flags_never_go_stale_and_stale_is_sorted() {
        let r = reg();
        let stale = r.stale(d("2030-01-01"));
        let names: Vec<_> = stale.iter().map(|s| s.flag.as_str()).collect();
        assert_eq!(names, ["undated", "dated"]);
        assert_eq!(
            r.get("switch").unwrap().status(d("2030-01-01")),
            Status::Permanent
        );
    }

    #[test]
    fn status_wording() {
        let dated = reg().get("dated").cloned().unwrap();
        assert_eq!(dated.status(d("2026-11-23")), Status::Ok);
        assert_eq!(dated.status(d("2026-11-24")).to_string(), "due in 7 days");
        assert_eq!(dated.status(d("2026-11-30")).to_string(), "due in 1 day");
        assert_eq!(dated.status(d("2026-12-01")).to_string(), "due today");
        assert_eq!(
            dated.status(d("2026-12-11")).to_string(),
            "OVERDUE by 10 days"
        );
    }
}
