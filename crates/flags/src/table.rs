//! The plain-text table printed by `ship flags list`.

use crate::flag::Flag;
use chrono::NaiveDate;

const HEADERS: [&str; 6] = ["NAME", "TYPE", "OWNER", "DEFAULT", "CLEANUP_BY", "STATUS"];

/// Left-aligned columns separated by two spaces, one line per flag, no trailing spaces.
pub fn render_table(flags: &[Flag], today: NaiveDate) -> String {
    let rows: Vec<[String; 6]> = flags
        .iter()
        .map(|f| {
            [
                f.name.clone(),
                f.kind.to_string(),
                f.owner.clone(),
                // JSON form keeps `"false"` (a string) distinguishable from `false`.
                f.default.to_string(),
                f.cleanup_by
                    .map_or_else(|| "-".to_string(), |d| d.to_string()),
                f.status(today).to_string(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADERS.map(String::from);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn aligned_table_with_statuses() {
        let reg = Registry::from_yaml(
            "f.yaml",
            "flags:
- {name: new-checkout, owner: alice@example.com, type: release, default: false, created: 2026-11-20, cleanup_by: 2026-12-30}
- {name: pay-off, owner: ops, type: kill-switch, default: 'on', created: 2026-01-01}
- {name: cache-ttl, owner: ops, type: operational, default: 30, created: 2026-12-01, cleanup_by: 2026-12-05}
- {name: old, owner: bob, type: experiment, default: 'false', created: 2026-10-01, cleanup_by: 2026-12-01}
",
        )
        .unwrap();
        let table = render_table(&reg.flags, "2026-12-05".parse().unwrap());
        let expected = "\
NAME          TYPE         OWNER              DEFAULT  CLEANUP_BY  STATUS
new-checkout  release      alice@example.com  false    2026-12-30  ok
pay-off       kill-switch  ops                \"on\"     -           permanent
cache-ttl     operational  ops                30       2026-12-05  due today
old           experiment   bob                \"false\"  2026-12-01  OVERDUE by 4 days
";
        assert_eq!(table, expected);
    }

    #[test]
    fn empty_registry_prints_only_the_header() {
        let table = render_table(&[], "2026-12-05".parse().unwrap());
        assert_eq!(table, "NAME  TYPE  OWNER  DEFAULT  CLEANUP_BY  STATUS\n");
    }
}
