//! The release page's records: times (always with their zone), the decision log (a page at a
//! time, saying which part it shows and linking to the rest), and the approvals, gates,
//! validation and handoff — whose evidence ages are computed when the page is rendered, not
//! when the evidence was recorded.

use super::{esc, pill, release_href, seg};
use chrono::{DateTime, Duration, Utc};
use shiploop_artifacts::release::{CheckLine, ReleaseMeta};
use shiploop_store::DecisionRow;

/// A time as the dashboard shows it: UTC, said so, machine-readable too.
pub fn ts(t: &DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// How long ago `at` was, as the gates word it.
pub fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    match (now - at).num_seconds().max(0) {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// Evidence text as HTML, its ages ("12 s ago", "3 min ago", "2 h ago", "4 days ago" — as
/// they were when the evidence was `recorded`) recomputed relative to `now`, so they advance
/// instead of saying "0 s ago" an hour later. Without a recording time, the text as it is.
pub fn aged(text: &str, recorded: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(recorded) = recorded else {
        return esc(text);
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" ago") {
        let end = i + " ago".len();
        let word_ends = !rest[end..].starts_with(|c: char| c.is_alphanumeric());
        match age_before(&rest[..i]).filter(|_| word_ends) {
            Some((start, secs)) => {
                let at = recorded - Duration::seconds(secs);
                out.push_str(&esc(&rest[..start]));
                out.push_str(&format!(
                    "<time class=\"age\" datetime=\"{}\" title=\"{} when recorded at {}\">{}</time>",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    esc(&rest[start..end]),
                    recorded.format("%Y-%m-%d %H:%M:%S UTC"),
                    ago(now, at)
                ));
            }
            None => out.push_str(&esc(&rest[..end])),
        }
        rest = &rest[end..];
    }
    out.push_str(&esc(rest));
    out
}

/// For text ending in "<n> <unit>": where the number starts, and the age in seconds.
fn age_before(text: &str) -> Option<(usize, i64)> {
    let (head, unit) = text.rsplit_once(' ')?;
    let per = match unit {
        "s" => 1,
        "min" => 60,
        "h" => 3600,
        "days" => 86_400,
        _ => return None,
    };
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(0, |(j, c)| j + c.len_utf8());
    let n: i64 = head[start..].parse().ok()?;
    Some((start, n.checked_mul(per)?))
}

/// Decisions a page of the log shows.
pub const DECISIONS_PAGE: usize = 200;

/// Which decisions a page shows: `all[start..end]` (oldest first), and the links to the
/// older page (`before` id) and the newer one (None inside: the newest page).
#[derive(Debug, PartialEq)]
struct Window {
    start: usize,
    end: usize,
    older: Option<i64>,
    newer: Option<Option<i64>>,
}

fn window(ids: &[i64], before: Option<i64>, size: usize) -> Window {
    let end = before.map_or(ids.len(), |b| ids.partition_point(|id| *id < b));
    let start = end.saturating_sub(size);
    let older = (start > 0).then(|| ids[start]);
    let newer = (end < ids.len()).then(|| {
        let next = end + size;
        (next < ids.len()).then(|| ids[next])
    });
    Window {
        start,
        end,
        older,
        newer,
    }
}

/// The decision log, newest first, a page at a time (`?before=<id>`): it says how many of how
/// many it shows, links to older and newer pages and to all of them from the API.
pub fn decisions_html(id: &str, all: &[DecisionRow], before: Option<i64>) -> String {
    let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
    let w = window(&ids, before, DECISIONS_PAGE);
    let mut rows = String::new();
    for d in all[w.start..w.end].iter().rev() {
        let d = &d.decision;
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} %</td><td>{}</td></tr>",
            ts(&d.at),
            pill(&kind),
            esc(&d.stage_name),
            d.weight,
            esc(&d.reason)
        ));
    }
    let page = |before: Option<i64>| match before {
        Some(b) => format!("{}?before={b}#decisions", release_href(id)),
        None => format!("{}#decisions", release_href(id)),
    };
    let mut nav = vec![];
    if let Some(newer) = w.newer {
        nav.push(format!(
            "<a class=\"newer\" href=\"{}\">← newer</a>",
            page(newer)
        ));
    }
    if let Some(older) = w.older {
        nav.push(format!(
            "<a class=\"older\" href=\"{}\">older →</a>",
            page(Some(older))
        ));
    }
    let api = format!("/api/v1/rollouts/{}/decisions", seg(id));
    nav.push(format!(
        "all decisions: <a class=\"all-decisions\" href=\"{api}\">{api}</a> (JSON)"
    ));
    let shown = w.end - w.start;
    let caption = if all.is_empty() {
        String::new()
    } else if shown == all.len() {
        format!("all {shown} decisions, newest first")
    } else if shown == 0 {
        // A `before` older than every decision (an old link, a hand-made URL).
        format!("no decisions before this point ({} in all)", all.len())
    } else if w.end == all.len() {
        format!(
            "showing the last {shown} of {} decisions, newest first",
            all.len()
        )
    } else {
        format!(
            "showing decisions {}–{} of {}, newest first",
            w.start + 1,
            w.end,
            all.len()
        )
    };
    format!(
        "<h2>Decisions</h2><p class=\"decisions-nav\">{} — {}</p><table id=\"decisions\"><tr><th>at</th><th>decision</th><th>stage</th><th>weight</th><th>why</th></tr>{}</table>",
        if caption.is_empty() { "none yet".into() } else { caption },
        nav.join(" · "),
        if rows.is_empty() { "<tr><td colspan=5>None yet.</td></tr>".into() } else { rows }
    )
}

/// Approvals, gates, validation and handoff, evidence ages as of `now`.
pub fn records_html(m: &ReleaseMeta, now: DateTime<Utc>) -> String {
    let mut out = String::from(
        "<h2>Approvals</h2><table><tr><th>approver</th><th>signed at</th><th>key</th></tr>",
    );
    if m.approvals.is_empty() {
        out.push_str("<tr><td colspan=3>None yet.</td></tr>");
    }
    for a in &m.approvals {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&a.principal),
            ts(&a.signed_at),
            esc(&a.key)
        ));
    }
    out.push_str("</table>");
    let lines = |title: &str, lines: &[CheckLine], recorded: Option<DateTime<Utc>>| {
        let mut t = format!("<h2>{title}</h2>");
        if let Some(at) = recorded {
            t.push_str(&format!(
                "<p class=\"recorded\">recorded at {} ({}); the ages below are as of this page ({})</p>",
                ts(&at),
                ago(now, at),
                ts(&now)
            ));
        }
        t.push_str("<table><tr><th>item</th><th>result</th><th>evidence</th></tr>");
        for l in lines {
            t.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&l.gate),
                pill(&l.status),
                aged(&l.evidence, recorded, now)
            ));
        }
        t.push_str("</table>");
        t
    };
    match &m.checks {
        Some(c) => out.push_str(&lines("Pre-deployment gates", &c.gates, Some(c.checked_at))),
        None => out.push_str("<h2>Pre-deployment gates</h2><p>Not checked yet.</p>"),
    }
    if let Some(v) = &m.validation {
        out.push_str(&lines(
            &format!("Post-deployment validation: {}", esc(&v.result)),
            &v.items,
            v.ended_at,
        ));
    }
    if let Some(h) = &m.handoff {
        out.push_str(&lines(
            &format!("Handed over to {} at {}", esc(&h.to), ts(&h.at)),
            &h.items,
            Some(h.at),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn evidence_ages_advance_with_the_clock() {
        let recorded = at("2026-12-03T14:00:00Z");
        let text = "rehearsed against staging 0 s ago: rollback took 12 ms; `x` evaluated in staging 3 min ago & <ok>";
        let later = recorded + Duration::minutes(10);
        let html = aged(text, Some(recorded), later);
        assert!(html.contains(">10 min ago</time>"), "{html}");
        assert!(html.contains(">13 min ago</time>"), "{html}");
        assert!(html.contains("datetime=\"2026-12-03T13:57:00Z\""), "{html}");
        assert!(html.contains("&amp; &lt;ok&gt;"), "{html}");
        assert!(!html.contains("0 s ago<"), "{html}");
        // Words that only look like ages stay as they are.
        let plain = "3 apples ago, 2 s agony, ago";
        assert_eq!(aged(plain, Some(recorded), later), esc(plain));
        assert_eq!(aged("5 s ago", None, later), "5 s ago");
        assert!(ts(&recorded).contains("2026-12-03 14:00:00 UTC"));
    }

    #[test]
    fn the_decision_log_pages_through_everything() {
        let ids: Vec<i64> = (1..=450).collect();
        let newest = window(&ids, None, 200);
        assert_eq!((newest.start, newest.end), (250, 450));
        assert_eq!(newest.older, Some(251));
        assert_eq!(newest.newer, None);
        let middle = window(&ids, Some(251), 200);
        assert_eq!((middle.start, middle.end), (50, 250));
        assert_eq!(middle.older, Some(51));
        assert_eq!(
            middle.newer,
            Some(None),
            "the next newer page is the newest"
        );
        let oldest = window(&ids, Some(51), 200);
        assert_eq!((oldest.start, oldest.end), (0, 50));
        assert_eq!(oldest.older, None);
        assert_eq!(oldest.newer, Some(Some(251)));
        let before_all = window(&ids, Some(1), 200);
        assert_eq!(
            (before_all.start, before_all.end, before_all.older),
            (0, 0, None),
            "nothing is older than the first decision"
        );
        let few = window(&[3, 7], None, 200);
        assert_eq!(
            (few.start, few.end, few.older, few.newer),
            (0, 2, None, None)
        );
    }
}
