//! Absurd durations (issue 16): refused where they are written — ship.toml or a contract's
//! frontmatter — with the file, the line and the key, never a panic or a silent wrap to zero.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// The 1-based number of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[test]
fn an_absurd_duration_in_ship_toml_is_refused_naming_the_key() {
    let ws = Ws::init();
    let original = ws.read("ship.toml");
    for (from, to, key) in [
        (
            "window = \"30m\"",
            "window = \"100000000y\"",
            "validation.window",
        ),
        (
            "tick_interval = \"auto\"",
            "tick_interval = \"500000000000y\"",
            "rollout.tick_interval",
        ),
        (
            "max_hold = \"15m\"",
            "max_hold = \"18446744073709551616s\"",
            "rollout.max_hold",
        ),
    ] {
        assert!(original.contains(from), "{from}");
        let cfg = original.replacen(from, to, 1);
        ws.write("ship.toml", &cfg);
        let line = line_of(&cfg, to);
        for args in [vec!["status"], vec!["release", "list"]] {
            let r = ws.ship(&args);
            assert_ne!(r.code, 0, "{to}, {args:?}: {}", r.text());
            assert!(
                r.stderr.contains(&format!("ship.toml:{line}:")),
                "{to}: no file and line: {}",
                r.stderr
            );
            assert!(r.stderr.contains(&format!("{key}: ")), "{to}: {}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        }
    }
}

#[test]
fn an_absurd_stage_duration_in_a_contract_is_refused_naming_the_field() {
    let ws = Ws::with_contract();
    let good = ws.contract();
    for bad in ["100000000y", "500000000000y", "18446744073709551616s"] {
        let text = good.replacen("duration: 10m", &format!("duration: {bad}"), 1);
        assert_ne!(text, good);
        ws.write(&ws.contract_path(), &text);
        let line = line_of(&text, &format!("  duration: {bad}"));
        let r = ws.ship(&["release", "show", ID]);
        assert_ne!(r.code, 0, "{bad}: {}", r.text());
        assert!(
            r.stderr.contains(&format!("{ID}.md:{line}:")),
            "{bad}: no file and line: {}",
            r.stderr
        );
        assert!(r.stderr.contains("duration: "), "{bad}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}
