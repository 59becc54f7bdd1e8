//! The release page's charts: server-rendered SVG that reads at a glance.
//!
//! Each chart is scaled to its data (a nice round top a little above the largest value), not to
//! the rollback threshold: the threshold is drawn where it fits and otherwise named "off scale"
//! — a p99 of 3 ms under a 600 ms threshold would lie flat on zero. Zero sits a few pixels above
//! the frame, so a line at 0 stays visible; stable is a solid grey line, canary a dashed blue one
//! drawn over it. A time axis in UTC with ticks, a vertical marker where each stage was entered
//! (and where a rollback began), and a legend with line samples.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

/// One line of a chart and how it is drawn.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub width: f64,
    pub dash: Option<&'a str>,
    pub points: &'a [(DateTime<Utc>, f64)],
}

/// A vertical marker on the time axis: a stage entered, or a rollback.
pub struct Marker {
    pub at: DateTime<Utc>,
    pub label: String,
    pub rollback: bool,
}

/// How values read: shown as `value × factor` followed by the suffix; `min_top` is the
/// smallest top the scale has (data all at 0 still gets a readable axis).
pub struct Unit {
    pub factor: f64,
    pub suffix: &'static str,
    pub min_top: f64,
}

impl Unit {
    /// A value as the labels show it: 600 ms, 1.10 %, 4.20 ms.
    pub fn label(&self, v: f64) -> String {
        let d = v * self.factor;
        let decimals = match d.abs() {
            a if a >= 100.0 => 0,
            a if a >= 10.0 => 1,
            _ => 2,
        };
        format!("{d:.decimals$}{}", self.suffix)
    }

    /// A tick's label: as many decimals as the step needs (0.5 ms, 2.5 %, 10 ms).
    fn tick(&self, v: f64, step: f64) -> String {
        let s = step * self.factor;
        let decimals = (0..6)
            .find(|d| {
                let m = s * 10f64.powi(*d);
                (m - m.round()).abs() < 1e-6 * m.max(1.0)
            })
            .unwrap_or(6) as usize;
        format!("{:.decimals$}{}", v * self.factor, self.suffix)
    }
}

/// The y scale: 0 to `top` in ticks of `step`, and whether the threshold is on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub top: f64,
    pub step: f64,
    pub threshold_shown: bool,
}

/// How far above the data a threshold may lie and still be drawn; further up, drawing it
/// would squash the data into the bottom of the chart.
const THRESHOLD_FITS: f64 = 4.0;

/// A scale for data whose largest value is `data_max`: the threshold is on it when it lies
/// within [`THRESHOLD_FITS`] × the data (or below it).
pub fn scale(data_max: f64, threshold: Option<f64>, min_top: f64) -> Scale {
    let data = if data_max.is_finite() {
        data_max.max(min_top)
    } else {
        min_top
    };
    let shown = threshold.is_some_and(|t| t.is_finite() && t <= data * THRESHOLD_FITS);
    let want = match threshold {
        Some(t) if shown => data.max(t),
        _ => data,
    };
    let (top, step) = nice(want * 1.05);
    Scale {
        top,
        step,
        threshold_shown: shown,
    }
}

/// A round top at or above `x`, in 3 to 5 steps of 1, 2, 2.5 or 5 × a power of ten.
fn nice(x: f64) -> (f64, f64) {
    let x = if x > 0.0 && x.is_finite() { x } else { 1.0 };
    let raw = x / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    ((x / step - 1e-9).ceil() * step, step)
}

/// Tick steps of the time axis, in seconds.
const TIME_STEPS: [i64; 18] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
];

/// Ticks at round times within [t0, t1], at most 6 of them, and their step in seconds.
pub fn time_ticks(t0: DateTime<Utc>, t1: DateTime<Utc>) -> (Vec<DateTime<Utc>>, i64) {
    let span = (t1 - t0).num_seconds().max(1);
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 5)
        .unwrap_or(86_400 * (span / 86_400 / 5 + 1));
    let ms = step * 1000;
    let mut at = (t0.timestamp_millis() + ms - 1).div_euclid(ms) * ms;
    let mut ticks = vec![];
    while at <= t1.timestamp_millis() {
        if let Some(t) = DateTime::<Utc>::from_timestamp_millis(at) {
            ticks.push(t);
        }
        at += ms;
    }
    (ticks, step)
}

fn tick_label(t: DateTime<Utc>, step: i64) -> String {
    let f = match step {
        s if s < 60 => "%H:%M:%SZ",
        s if s < 86_400 => "%H:%MZ",
        _ => "%m-%d",
    };
    t.format(f).to_string()
}

const W: f64 = 520.0;
const H: f64 = 270.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = W - 14.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = H - 46.0;
/// Pixels between the value 0 and the frame's bottom edge: a line at 0 stays visible.
const ZERO_PAD: f64 = 10.0;

const THRESHOLD_COLOR: &str = "#c53030";
const THRESHOLD_DASH: &str = "2 3";

/// How a line is drawn: colour, width and dash pattern.
#[derive(Clone, Copy)]
struct Stroke<'a> {
    color: &'a str,
    width: f64,
    dash: Option<&'a str>,
}

const THRESHOLD_STROKE: Stroke<'static> = Stroke {
    color: THRESHOLD_COLOR,
    width: 1.5,
    dash: Some(THRESHOLD_DASH),
};

/// A `<line>` from (x1, y1) to (x2, y2). SVG elements are written with their closing tag: in
/// HTML, only `/>` or `</line>` ends an element inside `<svg>`.
fn line(x1: &str, x2: &str, y1: &str, y2: &str, s: Stroke<'_>) -> Markup {
    html! {
        line x1=(x1) x2=(x2) y1=(y1) y2=(y2) stroke=(s.color) stroke-width=(s.width)
            stroke-dasharray=[s.dash] {}
    }
}

/// One entry of the legend: a sample of the line and its text.
struct Key<'a> {
    class: &'static str,
    series: &'a str,
    stroke: Stroke<'a>,
    text: String,
    fill: &'a str,
}

/// The legend's entries side by side from the left; the threshold's entry is wrapped in the
/// chart's `threshold` group, which says whether it is on the scale (off it, this entry is
/// where the chart says so).
fn legend(keys: Vec<Key<'_>>, threshold_shown: Option<bool>) -> Markup {
    let mut lx = 12.0;
    let mut placed = vec![];
    for k in keys {
        let width = 29.0 + 6.2 * k.text.chars().count() as f64 + 16.0;
        placed.push((lx, k));
        lx += width;
    }
    let item = |lx: f64, k: &Key<'_>| {
        html! {
            g class={ "legend-item " (k.class) } data-series=(k.series) {
                (line(&lx.to_string(), &(lx + 24.0).to_string(), "34", "34", k.stroke))
                text x=(lx + 29.0) y="38" fill=(k.fill) { (k.text) }
            }
        }
    };
    html! {
        g class="legend" {
            @for (lx, k) in &placed {
                @if k.class == "threshold-key" {
                    g class="threshold" data-shown=(threshold_shown.unwrap_or(false)) {
                        (item(*lx, k))
                    }
                } @else {
                    (item(*lx, k))
                }
            }
        }
    }
}

/// A chart: `lines` against `threshold` (label, value), with `markers`, on a scale fitted to
/// the data. The `<svg>` carries what it shows as data attributes (top, data max, threshold,
/// whether it is on the scale) for tests and tools.
pub fn svg(
    title: &str,
    lines: &[Line<'_>],
    threshold: Option<(&str, f64)>,
    markers: &[Marker],
    unit: &Unit,
) -> Markup {
    let all: Vec<&(DateTime<Utc>, f64)> = lines.iter().flat_map(|l| l.points.iter()).collect();
    let view_box = format!("0 0 {W} {H}");
    let heading = html! {
        rect width=(W) height=(H) fill="#fff" {}
        text x="12" y="18" font-weight="bold" font-size="13" { (title) }
    };
    if all.is_empty() {
        return html! {
            svg class="chart" data-chart=(title) width=(W) height=(H) viewBox=(view_box)
                xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif" {
                (heading)
                text x="12" y=(H / 2.0) { "no samples yet" }
            }
        };
    }
    let times = all
        .iter()
        .map(|(t, _)| *t)
        .chain(markers.iter().map(|m| m.at));
    let t0 = times.clone().min().unwrap_or_default();
    let t1 = times.max().unwrap_or_default();
    let span = (t1 - t0).num_milliseconds().max(1) as f64;
    let data_max = all.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let sc = scale(data_max, threshold.map(|(_, v)| v), unit.min_top);
    let x = |t: DateTime<Utc>| LEFT + (RIGHT - LEFT) * ((t - t0).num_milliseconds() as f64 / span);
    let y = |v: f64| BOTTOM - ZERO_PAD - (BOTTOM - ZERO_PAD - TOP) * (v / sc.top).min(1.0);
    let px = |v: f64| format!("{v:.1}");
    let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // The legend: a sample of each line, and the threshold.
    let mut keys: Vec<Key<'_>> = lines
        .iter()
        .map(|l| Key {
            class: "series",
            series: l.name,
            stroke: Stroke {
                color: l.color,
                width: l.width,
                dash: l.dash,
            },
            text: l.name.to_string(),
            fill: "#1d2433",
        })
        .collect();
    if let Some((label, v)) = threshold {
        let off = if sc.threshold_shown {
            ""
        } else {
            " (off scale)"
        };
        keys.push(Key {
            class: "threshold-key",
            series: "threshold",
            stroke: THRESHOLD_STROKE,
            text: format!("{label} {}{off}", unit.label(v)),
            fill: THRESHOLD_COLOR,
        });
    }

    // The y axis: gridlines and labels at each step, the top one marked.
    let n = (sc.top / sc.step).round() as usize;
    let y_ticks = (0..=n).map(|k| {
        let v = if k == n { sc.top } else { k as f64 * sc.step };
        let class = match k {
            0 => "y-label y-zero",
            k if k == n => "y-label y-max",
            _ => "y-label",
        };
        (v, class)
    });

    // The time axis, in UTC.
    let (ticks, step) = time_ticks(t0, t1);
    let (d0, d1) = (t0.format("%Y-%m-%d"), t1.format("%Y-%m-%d"));
    let days = if d0.to_string() == d1.to_string() {
        d0.to_string()
    } else {
        format!("{d0} – {d1}")
    };

    // Stage boundaries: a labelled vertical line each; labels that would collide go a row down.
    let mut last_label = f64::NEG_INFINITY;
    let mut row = 0;
    let placed_markers: Vec<(&Marker, f64, usize)> = markers
        .iter()
        .map(|m| {
            let at = x(m.at);
            row = if at - last_label < 80.0 {
                (row + 1) % 3
            } else {
                0
            };
            last_label = at;
            (m, at, row)
        })
        .collect();

    html! {
        svg class="chart" data-chart=(title) width=(W) height=(H) viewBox=(view_box)
            xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif"
            data-top=(sc.top) data-data-max=(data_max)
            data-threshold=[threshold.map(|(_, v)| v)]
            data-threshold-shown=[threshold.map(|_| sc.threshold_shown)] {
            (heading)
            (legend(keys, threshold.map(|_| sc.threshold_shown)))
            rect class="plot" x=(LEFT) y=(TOP) width=(RIGHT - LEFT) height=(BOTTOM - TOP)
                fill="none" stroke="#cbd2d9" {}
            @for (v, class) in y_ticks {
                line x1=(LEFT) x2=(RIGHT) y1=(px(y(v))) y2=(px(y(v))) stroke="#edf0f3" {}
                text class=(class) data-value=(v) x=(LEFT - 6.0) y=(px(y(v) + 4.0))
                    text-anchor="end" fill="#4a5568" { (unit.tick(v, sc.step)) }
            }
            g class="time-axis" {
                @for t in &ticks {
                    line x1=(px(x(*t))) x2=(px(x(*t))) y1=(BOTTOM) y2=(BOTTOM + 4.0)
                        stroke="#718096" {}
                    text class="time-tick" data-at=(rfc3339(*t)) x=(px(x(*t))) y=(BOTTOM + 16.0)
                        text-anchor="middle" fill="#4a5568" { (tick_label(*t, step)) }
                }
                text class="time-caption" x=((LEFT + RIGHT) / 2.0) y=(BOTTOM + 32.0)
                    text-anchor="middle" fill="#4a5568" { "time (UTC), " (days) }
            }
            @for (m, at, row) in &placed_markers {
                @let (class, color) = if m.rollback {
                    ("event-marker", THRESHOLD_COLOR)
                } else {
                    ("stage-marker", "#2d3748")
                };
                @let (tx, anchor) = if *at > RIGHT - 70.0 {
                    (at - 3.0, "end")
                } else {
                    (at + 3.0, "start")
                };
                g class=(class) data-stage=(m.label) data-at=(rfc3339(m.at)) {
                    (line(&px(*at), &px(*at), &TOP.to_string(), &BOTTOM.to_string(), Stroke {
                        color,
                        width: 1.0,
                        dash: Some("4 3"),
                    }))
                    text x=(px(tx)) y=(px(TOP + 11.0 + 11.0 * *row as f64))
                        text-anchor=(anchor) fill=(color) font-size="10" { (m.label) }
                }
            }
            // The threshold's line where it fits, its value at the right end.
            @if let Some((_, v)) = threshold.filter(|_| sc.threshold_shown) {
                @let at = y(v);
                @let ty = if at - TOP < 14.0 { at + 12.0 } else { at - 4.0 };
                g class="threshold-line" {
                    (line(&LEFT.to_string(), &RIGHT.to_string(), &px(at), &px(at), THRESHOLD_STROKE))
                    text x=(RIGHT - 4.0) y=(px(ty)) fill=(THRESHOLD_COLOR) text-anchor="end" {
                        (unit.label(v))
                    }
                }
            }
            // The lines last, over everything: canary (dashed) over stable, so both show
            // where equal.
            @for l in lines.iter().filter(|l| !l.points.is_empty()) {
                polyline class="series" data-series=(l.name) fill="none" stroke=(l.color)
                    stroke-width=(l.width) stroke-dasharray=[l.dash] stroke-linejoin="round"
                    points=(l.points.iter().map(|(t, v)| format!("{},{}", px(x(*t)), px(y(*v)))).collect::<Vec<_>>().join(" ")) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 0.001;

    #[test]
    fn a_few_milliseconds_under_a_600_ms_threshold_are_scaled_to_the_data() {
        let sc = scale(5.0 * MS, Some(600.0 * MS), MS);
        assert!(!sc.threshold_shown, "{sc:?}");
        assert!(sc.top >= 5.0 * MS && sc.top <= 10.0 * MS, "{sc:?}");
        // 1–5 ms data: the top label reads in ms, not 600 ms.
        let unit = Unit {
            factor: 1000.0,
            suffix: " ms",
            min_top: MS,
        };
        assert_eq!(unit.tick(sc.top, sc.step), "6 ms");
        assert_eq!(unit.label(600.0 * MS), "600 ms");
    }

    #[test]
    fn a_threshold_near_the_data_is_drawn() {
        let sc = scale(450.0 * MS, Some(600.0 * MS), MS);
        assert!(sc.threshold_shown, "{sc:?}");
        assert!(sc.top >= 600.0 * MS && sc.top <= 800.0 * MS, "{sc:?}");
        // Data above the threshold: drawn too, the scale covers the data.
        let sc = scale(900.0 * MS, Some(600.0 * MS), MS);
        assert!(sc.threshold_shown && sc.top >= 900.0 * MS, "{sc:?}");
        // Error rates: 0.4 % against 1.1 % is drawn; 0.1 % against 5.1 % is not.
        assert!(scale(0.004, Some(0.011), 0.001).threshold_shown);
        let sc = scale(0.001, Some(0.051), 0.001);
        assert!(!sc.threshold_shown && sc.top < 0.002, "{sc:?}");
    }

    #[test]
    fn scales_are_round_and_never_empty() {
        assert_eq!(nice(1.0), (1.0, 0.25));
        assert_eq!(nice(5.25), (6.0, 2.0));
        let (top, step) = nice(0.0063);
        assert!((top - 0.008).abs() < 1e-12 && (step - 0.002).abs() < 1e-12);
        let sc = scale(0.0, None, 0.001);
        assert!(sc.top > 0.0 && sc.top < 0.002, "{sc:?}");
        let sc = scale(f64::NAN, Some(f64::INFINITY), 0.001);
        assert!(sc.top > 0.0 && !sc.threshold_shown, "{sc:?}");
        let pct = Unit {
            factor: 100.0,
            suffix: " %",
            min_top: 0.001,
        };
        assert_eq!(pct.label(0.011), "1.10 %");
        assert_eq!(pct.tick(0.0025, 0.0025), "0.25 %");
    }

    #[test]
    fn time_ticks_are_round_and_within_the_span() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-03T14:26:28.4Z")
            .unwrap()
            .with_timezone(&Utc);
        let (ticks, step) = time_ticks(t0, t0 + chrono::Duration::seconds(75));
        assert_eq!(step, 15);
        let labels: Vec<String> = ticks.iter().map(|t| tick_label(*t, step)).collect();
        assert_eq!(
            labels,
            [
                "14:26:30Z",
                "14:26:45Z",
                "14:27:00Z",
                "14:27:15Z",
                "14:27:30Z"
            ]
        );
        let (ticks, step) = time_ticks(t0, t0 + chrono::Duration::hours(2));
        assert_eq!(step, 1800);
        assert_eq!(tick_label(ticks[0], step), "14:30Z");
        assert!(ticks.len() <= 6 && ticks.len() >= 2);
        let (ticks, _) = time_ticks(t0, t0);
        assert!(ticks.len() <= 1);
    }

    #[test]
    fn a_chart_has_both_lines_above_the_frame_a_legend_markers_and_an_off_scale_threshold() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let pts = |v: f64| -> Vec<(DateTime<Utc>, f64)> {
            (0..20)
                .map(|i| (t0 + chrono::Duration::seconds(i), v))
                .collect()
        };
        let (stable, canary) = (pts(0.0), pts(3.0 * MS));
        let lines = [
            Line {
                name: "stable",
                color: "#718096",
                width: 3.0,
                dash: None,
                points: &stable,
            },
            Line {
                name: "canary",
                color: "#2c7be5",
                width: 2.0,
                dash: Some("7 4"),
                points: &canary,
            },
        ];
        let markers = [Marker {
            at: t0,
            label: "canary".into(),
            rollback: false,
        }];
        let unit = Unit {
            factor: 1000.0,
            suffix: " ms",
            min_top: MS,
        };
        let s = svg(
            "p99 latency",
            &lines,
            Some(("rollback threshold", 0.6)),
            &markers,
            &unit,
        )
        .into_string();
        assert_eq!(s.matches("<polyline").count(), 2, "{s}");
        assert!(s.contains("rollback threshold 600 ms (off scale)"), "{s}");
        assert!(s.contains("data-threshold-shown=\"false\""), "{s}");
        assert!(
            s.contains("class=\"threshold\" data-shown=\"false\""),
            "{s}"
        );
        assert!(!s.contains("threshold-line"), "{s}");
        assert!(
            s.contains("class=\"stage-marker\" data-stage=\"canary\""),
            "{s}"
        );
        assert_eq!(s.matches("class=\"legend-item").count(), 3, "{s}");
        assert!(s.contains("class=\"time-tick\""), "{s}");
        // The stable line at 0 is drawn above the frame's bottom edge.
        let zero = format!(",{:.1}", BOTTOM - ZERO_PAD);
        assert!(s.contains(&zero), "{s}");
        // A threshold near the data: drawn, with its value.
        let s = svg(
            "p99 latency",
            &lines,
            Some(("rollback threshold", 0.004)),
            &markers,
            &unit,
        )
        .into_string();
        assert!(s.contains("class=\"threshold\" data-shown=\"true\""), "{s}");
        assert!(s.contains("class=\"threshold-line\""), "{s}");
        assert!(s.contains(">rollback threshold 4.00 ms</text>"), "{s}");
        assert!(!s.contains("off scale"), "{s}");
    }
}
