//! `--help` says what applies: `--allowed-signers` (pinning the approvers list) is listed by the
//! commands that check approvals, not by those that never do.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn help(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ship"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn allowed_signers_is_in_the_help_of_the_commands_that_check_approvals_only() {
    for args in [
        &[][..],
        &["release", "verify"],
        &["release", "approve"],
        &["check"],
        &["rollout", "start"],
        &["handoff"],
        &["serve"],
    ] {
        assert!(help(args).contains("--allowed-signers"), "{args:?}");
    }
    for args in [
        &["proxy"][..],
        &["demo"],
        &["init"],
        &["migrations", "lint"],
        &["judge", "replay"],
    ] {
        let h = help(args);
        assert!(!h.contains("allowed-signers"), "{args:?}: {h}");
        assert!(h.contains("--json"), "{args:?}: {h}");
    }
    // Still accepted there (and ignored), so a script passing it everywhere keeps working.
    let h = help(&["proxy", "--allowed-signers", "x"]);
    assert!(!h.contains("allowed-signers"), "{h}");
}
