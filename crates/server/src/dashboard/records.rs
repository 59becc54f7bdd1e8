//! The release page's records: times (always with their zone), the decision log (a page at a
//! time, saying which part it shows and linking to the rest), and the approvals, gates,
//! validation and handoff — whose evidence ages are computed when the page is rendered, not
//! when the evidence was recorded.

use super::{pill, release_href, seg};
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use shiploop_artifacts::release::{CheckLine, ReleaseMeta};
use shiploop_store::DecisionRow;

/// A time as the dashboard shows it: UTC, said so, machine-readable too.
pub fn ts(t: &DateTime<Utc>) -> Markup {
    html! {
        time datetime=(rfc3339(t)) { (utc(t)) }
    }
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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
pub fn aged(text: &str, recorded: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    let Some(recorded) = recorded else {
        return html! { (text) };
    };
    // The text cut into plain runs and ages: (text, when the age says it happened).
    let mut parts: Vec<(&str, Option<DateTime<Utc>>)> = vec![];
    let mut rest = text;
    while let Some(i) = rest.find(" ago") {
        let end = i + " ago".len();
        let word_ends = !rest[end..].starts_with(|c: char| c.is_alphanumeric());
        match age_before(&rest[..i]).filter(|_| word_ends) {
            Some((start, secs)) => {
                parts.push((&rest[..start], None));
                parts.push((&rest[start..end], Some(recorded - Duration::seconds(secs))));
            }
            None => parts.push((&rest[..end], None)),
        }
        rest = &rest[end..];
    }
    parts.push((rest, None));
    html! {
        @for (text, at) in parts {
            @if let Some(at) = at {
                time class="age" datetime=(rfc3339(&at))
                    title={ (text) " when recorded at " (utc(&recorded)) } { (ago(now, at)) }
            } @else {
                (text)
            }
        }
    }
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
pub fn decisions_html(id: &str, all: &[DecisionRow], before: Option<i64>) -> Markup {
    let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
    let w = window(&ids, before, DECISIONS_PAGE);
    let page = |before: Option<i64>| match before {
        Some(b) => format!("{}?before={b}#decisions", release_href(id)),
        None => format!("{}#decisions", release_href(id)),
    };
    let api = format!("/api/v1/rollouts/{}/decisions", seg(id));
    let mut nav = vec![];
    if let Some(newer) = w.newer {
        nav.push(html! { a class="newer" href=(page(newer)) { "← newer" } });
    }
    if let Some(older) = w.older {
        nav.push(html! { a class="older" href=(page(Some(older))) { "older →" } });
    }
    nav.push(html! {
        "all decisions: " a class="all-decisions" href=(api) { (api) } " (JSON)"
    });
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
    let rows = &all[w.start..w.end];
    html! {
        h2 { "Decisions" }
        p class="decisions-nav" {
            @if caption.is_empty() { "none yet" } @else { (caption) }
            " — "
            @for (i, link) in nav.iter().enumerate() {
                @if i > 0 { " · " }
                (link)
            }
        }
        table id="decisions" {
            tr { th { "at" } th { "decision" } th { "stage" } th { "weight" } th { "why" } }
            @for d in rows.iter().rev() {
                @let d = &d.decision;
                @let kind = serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                tr {
                    td { (ts(&d.at)) }
                    td { (pill(&kind)) }
                    td { (d.stage_name) }
                    td { (d.weight) " %" }
                    td { (d.reason) }
                }
            }
            @if rows.is_empty() {
                tr { td colspan="5" { "None yet." } }
            }
        }
    }
}

/// Approvals, gates, validation and handoff, evidence ages as of `now`.
pub fn records_html(m: &ReleaseMeta, now: DateTime<Utc>) -> Markup {
    let lines = |title: Markup, lines: &[CheckLine], recorded: Option<DateTime<Utc>>| {
        html! {
            h2 { (title) }
            @if let Some(at) = recorded {
                p class="recorded" {
                    "recorded at " (ts(&at)) " (" (ago(now, at))
                    "); the ages below are as of this page (" (ts(&now)) ")"
                }
            }
            table {
                tr { th { "item" } th { "result" } th { "evidence" } }
                @for l in lines {
                    tr {
                        td { (l.gate) }
                        td { (pill(&l.status)) }
                        td { (aged(&l.evidence, recorded, now)) }
                    }
                }
            }
        }
    };
    html! {
        h2 { "Approvals" }
        table {
            tr { th { "approver" } th { "signed at" } th { "key" } }
            @if m.approvals.is_empty() {
                tr { td colspan="3" { "None yet." } }
            }
            @for a in &m.approvals {
                tr { td { (a.principal) } td { (ts(&a.signed_at)) } td { code { (a.key) } } }
            }
        }
        @match &m.checks {
            Some(c) => (lines(html! { "Pre-deployment gates" }, &c.gates, Some(c.checked_at))),
            None => { h2 { "Pre-deployment gates" } p { "Not checked yet." } }
        }
        @if let Some(v) = &m.validation {
            (lines(html! { "Post-deployment validation: " (v.result) }, &v.items, v.ended_at))
        }
        @if let Some(h) = &m.handoff {
            (lines(html! { "Handed over to " (h.to) " at " (ts(&h.at)) }, &h.items, Some(h.at)))
        }
    }
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
        let html = aged(text, Some(recorded), later).into_string();
        assert!(html.contains(">10 min ago</time>"), "{html}");
        assert!(html.contains(">13 min ago</time>"), "{html}");
        assert!(html.contains("datetime=\"2026-12-03T13:57:00Z\""), "{html}");
        assert!(html.contains("&amp; &lt;ok&gt;"), "{html}");
        assert!(!html.contains("0 s ago<"), "{html}");
        // Words that only look like ages stay as they are.
        let plain = "3 apples ago, 2 s agony, ago";
        assert_eq!(aged(plain, Some(recorded), later).into_string(), plain);
        assert_eq!(aged("5 s ago", None, later).into_string(), "5 s ago");
        assert_eq!(aged("<b>", None, later).into_string(), "&lt;b&gt;");
        assert!(ts(&recorded)
            .into_string()
            .contains("2026-12-03 14:00:00 UTC"));
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
