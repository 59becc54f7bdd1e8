//! The Foundation issue's acceptance, end to end, against the built binary and real ssh-keygen.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn compile_submit_approve_verify_then_tamper() {
    let ws = Ws::with_contract();
    let show = ws.ship(&["release", "show", ID, "--json"]).json();
    let changes: Vec<&str> = show["release"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(changes, vec!["v-pass-1", "v-pass-2"]);
    let excluded = show["release"]["excluded"].as_array().unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["id"], "v-fail-1");
    assert_eq!(excluded[0]["verdict"], "FAIL");
    let text = ws.contract();
    assert!(text.contains("[v-pass-1](../../work/evaluations/v-pass-1.md) | PASS"));
    assert!(
        text.contains("[v-fail-1](../../work/evaluations/v-fail-1.md) — FAIL (Broken coupon flow)")
    );
    assert!(text.contains("| 1 Internal / Canary | 5 % | 10m |"));
    assert!(text.contains("p99 latency above 2 × target (target 300ms → 600ms)"));
    assert!(
        text.contains("- Saved cards\n"),
        "release notes drafted from summaries"
    );

    let alice = ws.key("alice", "alice@example.com", true);
    ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 0);
    assert!(ws.contract().contains("status: pending-approval"));

    let r = ws.ship(&["release", "verify", ID]);
    assert_eq!(r.code, 1, "pending is not approved: {}", r.text());
    assert!(r.stdout.starts_with("pending"), "{}", r.stdout);

    ws.ship_exits(
        &["release", "approve", ID, "--key", alice.to_str().unwrap()],
        0,
    );
    assert!(ws.contract().contains("status: approved"));
    assert!(
        ws.contract().contains("| alice@example.com |"),
        "approvals section rendered"
    );

    let r = ws.ship_exits(&["release", "verify", ID], 0);
    assert!(r.stdout.starts_with("approved"), "{}", r.stdout);

    // One character of the body changes: the approval breaks and verify names the section.
    let tampered = ws.contract().replacen("- Saved cards", "- Saved card", 1);
    ws.write(&ws.contract_path(), &tampered);
    let r = ws.assert_verify_refuses("modified after approval");
    r.stdout_has("Release notes");
    let j = ws.ship(&["release", "verify", ID, "--json"]).json();
    assert_eq!(j["state"], "tampered");
}

#[test]
fn tool_records_do_not_break_an_approval_but_plan_edits_do() {
    let (ws, _) = Ws::approved();
    // The tool's own updates (status, approvals, the records tail) left the approval intact;
    // a hand edit in the records tail is reported, so no text can hide there.
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
    let approved = ws.contract();
    let c = approved.replace("_Not started._", "- We now sell your data.");
    ws.write(&ws.contract_path(), &c);
    ws.assert_verify_refuses("records ship maintains");
    ws.write(&ws.contract_path(), &approved);
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
    // Rewriting who submitted breaks the signatures, which bind the submitter.
    let original = ws.contract();
    let c = original.replace(
        "submitted_by: agent@example.com",
        "submitted_by: someone@example.com",
    );
    ws.write(&ws.contract_path(), &c);
    let r = ws.ship_exits(&["release", "verify", ID], 1);
    assert!(r.stdout.starts_with("INVALID SIGNER"), "{}", r.stdout);
    ws.write(&ws.contract_path(), &original);
    // Changing a threshold in the frontmatter plan is.
    let c = ws
        .contract()
        .replace("max_increase_pp: 1.0", "max_increase_pp: 5.0");
    ws.write(&ws.contract_path(), &c);
    ws.assert_verify_refuses("frontmatter field `rollback`");
}

#[test]
fn ssh_keygen_signatures_are_accepted_and_ours_verify_with_ssh_keygen() {
    let ws = Ws::with_contract();
    let bob = ws.key("bob", "bob@example.com", true);
    let carol = ws.key("carol", "carol@example.com", true);
    ws.require_approvals(2);
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );

    // ship digest | ssh-keygen -Y sign  →  approve --signature
    let r = ws.approve_by_ssh_keygen(&bob, "bob");
    assert_eq!(r.code, 0, "{}", r.text());
    let r = ws.ship(&["release", "verify", ID]);
    assert_eq!(
        r.code,
        1,
        "one of two approvals is still pending: {}",
        r.text()
    );

    // approve --key  →  ssh-keygen -Y verify over the digest output
    assert_eq!(
        ws.ship(&["release", "approve", ID, "--key", carol.to_str().unwrap()])
            .code,
        0
    );
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
    let sig = ws.ship(&["release", "show", ID, "--json"]).json()["release"]["approvals"][1]
        ["signature"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ws.ship(&["release", "show", ID, "--json"]).json()["release"]["approvals"][1]["principal"]
            == "carol@example.com"
    );
    ws.write("carol.sig", &sig);
    let r = ws.sh_exits(&format!(
        "ship release digest {ID} > msg && ssh-keygen -Y verify -f work/allowed_signers -I carol@example.com -n shiploop-release -s carol.sig < msg"
    ), 0);
    assert!(
        r.stdout
            .contains("Good \"shiploop-release\" signature for carol@example.com"),
        "{}",
        r.text()
    );
}

#[test]
fn refusals() {
    let ws = Ws::with_contract();
    let agent = ws.key("agent", "agent@example.com", true);
    let eve = ws.key("eve", "eve@example.com", false);
    let bob = ws.key("bob", "bob@example.com", true);
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );
    let before = ws.contract();

    // Self-approval: the submitter's own key.
    let r = ws.ship_exits(
        &["release", "approve", ID, "--key", agent.to_str().unwrap()],
        1,
    );
    r.stderr_has("cannot approve their own release");

    // A key not in allowed signers.
    let r = ws.ship(&["release", "approve", ID, "--key", eve.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    r.stderr_has("is not in work/allowed_signers");

    // A signature made in another namespace.
    let r = ws.sh_exits(&format!(
        "ship release digest {ID} | ssh-keygen -Y sign -f {} -n git > git.sig && ship release approve {ID} --signature git.sig",
        bob.display()
    ), 1);
    r.stderr_has("namespace \"git\"");

    // A valid signature over another release's message.
    let r = ws.sh_exits(&format!(
        "printf 'shiploop release approval v1\\nrelease: other\\ndigest: sha256:00\\nsubmitted-by: agent@example.com\\n' | ssh-keygen -Y sign -f {} -n shiploop-release > other.sig && ship release approve {ID} --signature other.sig",
        bob.display()
    ), 1);
    r.stderr_has("does not match");

    assert_eq!(ws.contract(), before, "refused approvals write nothing");
}

#[test]
fn big_bang_and_missing_triggers_are_refused_at_submit() {
    let ws = Ws::with_contract();
    let text = ws.contract();
    let start = text.find("stages:\n").unwrap();
    let end = text.find("rollback:\n").unwrap();
    let big_bang = format!(
        "{}stages:\n- name: all\n  title: Everything\n  weight: 100\n{}",
        &text[..start],
        &text[end..]
    );
    ws.write(&ws.contract_path(), &big_bang);
    let r = ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 1);
    r.stderr_has("big-bang");
    assert_eq!(ws.contract(), big_bang, "nothing written");

    let start = text.find("  automatic:\n").unwrap();
    let end = text.find("  manual:\n").unwrap();
    let no_triggers = format!("{}  automatic: []\n{}", &text[..start], &text[end..]);
    ws.write(&ws.contract_path(), &no_triggers);
    let r = ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 1);
    r.stderr_has("no automatic rollback triggers");
    r.stderr_has("rollback capability");

    let no_procedure = text.replace("### Procedure\n", "### Notes\n");
    ws.write(&ws.contract_path(), &no_procedure);
    let r = ws.ship(&[
        "release",
        "submit",
        ID,
        "--as",
        "agent@example.com",
        "--json",
    ]);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["error"]["kind"], "incomplete");
    assert!(
        j["error"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("Procedure"),
        "{j}"
    );
}

#[test]
fn malformed_frontmatter_names_file_and_line_and_writes_nothing() {
    let ws = Ws::with_contract();
    let bad = ws.contract().replacen("status: draft", "status: [draft", 1);
    ws.write(&ws.contract_path(), &bad);
    let line = bad
        .lines()
        .position(|l| l.starts_with("status: [draft"))
        .unwrap()
        + 1;
    let snap = ws.snapshot();
    let r = ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 2);
    let expect = format!("{}:", ws.contract_path());
    assert!(r.stderr.contains(&expect), "names the file: {}", r.stderr);
    let j = ws.ship(&["release", "verify", ID, "--json"]).json();
    assert_eq!(j["error"]["kind"], "parse");
    assert!(j["error"]["file"]
        .as_str()
        .unwrap()
        .ends_with(&ws.contract_path()));
    let reported = j["error"]["line"].as_u64().unwrap() as usize;
    assert!(
        reported >= line && reported <= line + 1,
        "line {reported} vs {line}"
    );
    assert_eq!(ws.snapshot(), snap, "nothing written");

    // A malformed verdict stops `release new` the same way.
    ws.write(
        &ws.contract_path(),
        &bad.replacen("status: [draft", "status: draft", 1),
    );
    ws.write(
        "work/evaluations/broken.md",
        "---\nid: broken\nverdict: PASS\nsummary: [oops\n---\n",
    );
    let r = ws.ship(&["release", "new", "again", "--json"]);
    assert_eq!(r.code, 2);
    let j = r.json();
    assert!(j["error"]["file"]
        .as_str()
        .unwrap()
        .ends_with("work/evaluations/broken.md"));
    assert_eq!(j["error"]["line"], 4);
}

#[test]
fn bad_names_unknown_releases_and_no_pass_verdicts() {
    let ws = Ws::init();
    ws.verdict("v-fail-1", "FAIL", "Broken");
    let snap = ws.snapshot();
    for bad in ["../escape", "a/b", "..", ".hidden"] {
        let r = ws.ship(&["release", "new", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.text());
        r.stderr_has("invalid release name");
    }
    let r = ws.ship_exits(&["release", "new", "nothing"], 1);
    r.stderr_has("no PASS verdict");
    assert_eq!(ws.snapshot(), snap, "nothing written");

    let r = ws.ship(&["release", "verify", "nope"]);
    assert_eq!(r.code, 2);
    r.stderr_has("unknown release `nope`");
}

#[test]
fn releases_resolve_by_id_name_or_path_and_verdicts_are_not_shipped_twice() {
    let ws = Ws::with_contract();
    for arg in [
        ID,
        "checkout-speedups",
        "work/releases/2026-11-27-checkout-speedups.md",
    ] {
        let r = ws.ship(&["release", "show", arg, "--json"]);
        assert_eq!(r.code, 0, "{arg}: {}", r.text());
        assert_eq!(r.json()["release"]["id"], ID);
    }
    // The two PASS verdicts are claimed by the first release; a new one ships only the new PASS.
    ws.verdict("v-pass-3", "PASS", "Gift cards");
    let r = ws.ship_exits(&["release", "new", "gift-cards", "--json"], 0);
    let j = r.json();
    assert_eq!(j["changes"], serde_json::json!(["v-pass-3"]));
    assert_eq!(
        j["already_released"],
        serde_json::json!(["v-pass-1", "v-pass-2"])
    );
    let list = ws.ship(&["release", "list", "--json"]).json();
    assert_eq!(list["releases"].as_array().unwrap().len(), 2);
    // STATUS.md tracks both releases and the mission.
    let status = ws.read("STATUS.md");
    assert!(
        status.contains("| checkout | ship | 2026-11-27-checkout-speedups |"),
        "{status}"
    );
    assert!(
        status.contains("| 2026-11-27-gift-cards | — | draft |"),
        "{status}"
    );
}

#[test]
fn init_twice_changes_nothing() {
    let ws = Ws::init();
    let snap = ws.snapshot();
    let r = ws.ship(&["init", "--json"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["created"], serde_json::json!([]));
    assert_eq!(ws.snapshot(), snap);
    for f in [
        "ship.toml",
        "work/releases/_TEMPLATE-release-contract.md",
        "work/evaluations/.gitkeep",
        "work/signals/.gitkeep",
        "work/missions/.gitkeep",
        "STATUS.md",
        "work/allowed_signers",
    ] {
        assert!(ws.path(f).is_file(), "{f}");
    }
    assert!(ws.path(".ship").is_dir());
    assert!(ws.read(".gitignore").contains("/.ship/"));
}

#[test]
fn usage_errors_exit_2_and_json_errors_are_json() {
    let ws = Ws::init();
    let r = ws.ship(&["release", "frobnicate"]);
    assert_eq!(r.code, 2);
    let r = ws.ship(&["release", "show", "nope", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["kind"], "usage");
    let outside = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ship"))
        .arg("-C")
        .arg(outside.path())
        .args(["release", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run `ship init` first"));
}

#[test]
fn ecdsa_and_rsa_approvers() {
    let ws = Ws::with_contract();
    ws.require_approvals(2);
    let ecdsa = ws.key_of_type("ecdsa", "ecdsa@example.com");
    let rsa = ws.key_of_type("rsa", "rsa@example.com");
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );
    ws.ship_exits(
        &["release", "approve", ID, "--key", ecdsa.to_str().unwrap()],
        0,
    );
    // RSA: --key says how to do it instead; a signature from ssh-keygen is accepted.
    let r = ws.ship(&["release", "approve", ID, "--key", rsa.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    r.stderr_has("--signature");
    let r = ws.approve_by_ssh_keygen(&rsa, "rsa");
    assert_eq!(r.code, 0, "{}", r.text());
    ws.assert_approved_by("ecdsa@example.com, rsa@example.com");
}

#[test]
fn encrypted_keys_need_their_passphrase() {
    let ws = Ws::with_contract();
    let key = ws.path("keys/dana");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let st = ssh_keygen()
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "s3cret",
            "-C",
            "dana@example.com",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    ws.write(
        "work/allowed_signers",
        &format!("dana@example.com {}\n", fields.join(" ")),
    );
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );
    let k = key.display();
    let r = ws.sh(&format!("ship release approve {ID} --key {k}"));
    assert_eq!(r.code, 1);
    r.stderr_has("SHIP_KEY_PASSPHRASE");
    let r = ws.sh(&format!(
        "SHIP_KEY_PASSPHRASE=wrong ship release approve {ID} --key {k}"
    ));
    assert_eq!(r.code, 1);
    r.stderr_has("wrong passphrase");
    ws.sh_exits(
        &format!("SHIP_KEY_PASSPHRASE=s3cret ship release approve {ID} --key {k}"),
        0,
    );
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
}

#[test]
fn human_edits_survive_the_tools_updates() {
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@example.com", true);
    // People edit prose and the frontmatter plan before submitting.
    let edited = ws
        .contract()
        .replace(
            "## Changes\n",
            "## Changes\n\nReviewed with the payments team on Tuesday.\n",
        )
        .replace("  weight: 5\n", "  weight: 10\n")
        .replace("- Saved cards\n", "- Save your card for next time.\n");
    ws.write(&ws.contract_path(), &edited);
    ws.submit_and_approve(&alice);
    let after = ws.contract();
    assert!(after.contains("Reviewed with the payments team on Tuesday."));
    assert!(after.contains("- Save your card for next time."));
    // The stages table was re-rendered from the edited plan at submission.
    assert!(
        after.contains("| 1 Internal / Canary | 10 % | 10m |"),
        "{after}"
    );
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
}

#[test]
fn the_submitter_defaults_to_git_user_email() {
    let ws = Ws::with_contract();
    let r = ws.sh_exits("git init -q . && git config user.email robot@example.com && ship release submit checkout-speedups --json", 0);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["submitted_by"], "robot@example.com");
    assert!(ws.contract().contains("submitted_by: robot@example.com"));
}

#[test]
fn a_redirected_signers_file_is_overridden_by_the_pinned_one() {
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@example.com", true);
    let pinned = ws.path("pinned_signers");
    std::fs::copy(ws.path("work/allowed_signers"), &pinned).unwrap();
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );
    // The agent points ship.toml at a signers file of its own and approves with its own key.
    let bot = ws.key("bot", "bot@example.com", false);
    let pubkey = ws.read("keys/bot.pub");
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    ws.write(
        "work/.signers",
        &format!("mallory@example.com {}\n", fields.join(" ")),
    );
    ws.write(
        "ship.toml",
        &ws.read("ship.toml").replace(
            "allowed_signers = \"work/allowed_signers\"",
            "allowed_signers = \"work/.signers\"",
        ),
    );
    assert_eq!(
        ws.ship(&["release", "approve", ID, "--key", bot.to_str().unwrap()])
            .code,
        0
    );
    assert_eq!(
        ws.ship(&["release", "verify", ID]).code,
        0,
        "the workspace's own config is fooled"
    );
    // CI pins the trust root: the forged approval does not count.
    let pinned_arg = pinned.to_str().unwrap();
    let r = ws.ship_exits(
        &["release", "verify", ID, "--allowed-signers", pinned_arg],
        1,
    );
    r.stdout_has("is not listed for mallory@example.com");
    // …given before the command too, as README.md's Scripting section writes it.
    ws.ship_exits(
        &["--allowed-signers", pinned_arg, "release", "verify", ID],
        1,
    );
    let _ = alice;
}

#[test]
fn one_key_listed_for_two_principals_is_one_approver() {
    let ws = Ws::with_contract();
    ws.require_approvals(2);
    let alice = ws.key("alice", "alice@example.com", true);
    let signers = ws
        .read("work/allowed_signers")
        .replace("alice@example.com ", "alice@example.com,a@example.com ");
    ws.write("work/allowed_signers", &signers);
    assert_eq!(
        ws.ship(&["release", "submit", ID, "--as", "agent@example.com"])
            .code,
        0
    );
    let k = alice.to_str().unwrap();
    assert_eq!(ws.ship(&approve_as(k, "alice@example.com")).code, 0);
    let r = ws.ship_exits(&approve_as(k, "a@example.com"), 1);
    r.stderr_has("distinct approvers need distinct keys");
    // Copying the record under the other principal by hand does not count either.
    let text = ws.contract();
    let start = text.find("approvals:\n").unwrap() + "approvals:\n".len();
    let end = text[start..].find("\n---\n").unwrap() + start + 1;
    let record = &text[start..end];
    let copy = record.replacen(
        "principal: alice@example.com",
        "principal: a@example.com",
        1,
    );
    let forged = format!("{}{}{}{}", &text[..start], record, copy, &text[end..]);
    ws.write(&ws.contract_path(), &forged);
    ws.assert_verify_refuses("already counted");
}

#[test]
fn a_changed_verdict_file_is_reported() {
    let (ws, _) = Ws::approved();
    let v = ws
        .read("work/evaluations/v-pass-2.md")
        .replace("Details.", "Details, revised.");
    ws.write("work/evaluations/v-pass-2.md", &v);
    ws.assert_verify_refuses("verdict file work/evaluations/v-pass-2.md");
}

#[test]
fn resubmitting_as_someone_else_drops_the_approvals() {
    let (ws, _) = Ws::approved();
    let r = ws.ship_exits(
        &[
            "release",
            "submit",
            ID,
            "--as",
            "carol@example.com",
            "--json",
        ],
        0,
    );
    assert_eq!(
        r.json()["dropped_approvals"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(r.json()["status"], "pending-approval");
    let r = ws.ship(&["release", "verify", ID]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("pending"), "{}", r.stdout);
}

#[test]
fn hostile_numbers_are_parse_errors_not_panics() {
    let ws = Ws::with_contract();
    let c = ws.contract().replace("factor: 2.0", "factor: -1.0");
    ws.write(&ws.contract_path(), &c);
    for cmd in [
        &["release", "submit", ID, "--as", "a@x"][..],
        &["release", "show", ID][..],
    ] {
        let r = ws.ship_exits(cmd, 2);
        r.stderr_has("out of range");
    }
}

#[test]
fn the_tables_people_read_must_be_the_plan_that_runs() {
    let ws = Ws::with_contract();
    // Weaken the plan and hide it by breaking the table markers: submit refuses.
    let c = ws
        .contract()
        .replace("duration: 10m", "duration: 1s")
        .replace("<!-- ship:begin stages -->", "<!-- ship:begin  stages -->");
    ws.write(&ws.contract_path(), &c);
    let r = ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 1);
    r.stderr_has("the `stages` table");

    // A FAIL verdict moved into the changes: submit refuses, naming it.
    let ws = Ws::with_contract();
    let text = ws.contract();
    let fail_digest = shiploop_artifacts::verdict::sha256_digest(
        &std::fs::read(ws.path("work/evaluations/v-fail-1.md")).unwrap(),
    );
    let forged = text.replacen(
        "changes:\n",
        &format!("changes:\n- id: v-fail-1\n  verdict_file: work/evaluations/v-fail-1.md\n  verdict_digest: {fail_digest}\n  summary: Broken coupon flow\n"),
        1,
    );
    ws.write(&ws.contract_path(), &forged);
    let r = ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 1);
    r.stderr_has("not a PASS for `v-fail-1`");
}

#[test]
fn control_characters_and_odd_ids_are_refused_without_panics() {
    let ws = Ws::with_contract();
    let original = ws.contract();
    let c = original.replace(
        "- Regulatory compliance concern",
        "- \"Regulatory \\e[2K concern\"",
    );
    ws.write(&ws.contract_path(), &c);
    let r = ws.ship_exits(&["release", "show", ID], 2);
    r.stderr_has("control character");
    let c = original.replacen(
        "id: 2026-11-27-checkout-speedups",
        "id: \"2026-11-2é-checkout-speedups\"",
        1,
    );
    ws.write(&ws.contract_path(), &c);
    ws.ship_exits(&["release", "verify", ID], 2);
    // A list names the unreadable contract and goes on (tests/release_list.rs).
    let r = ws.ship_exits(&["release", "list"], 0);
    assert!(
        r.stderr.contains("unreadable") && r.stderr.contains("must be YYYY-MM-DD"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_recorded_principal_cannot_be_rewritten_through_a_wildcard() {
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@example.com", true);
    let signers = ws
        .read("work/allowed_signers")
        .replace("alice@example.com ", "alice@example.com,*@ops.example.com ");
    ws.write("work/allowed_signers", &signers);
    ws.submit_and_approve(&alice);
    let c = ws
        .contract()
        .replace(
            "principal: alice@example.com",
            "principal: cto@ops.example.com",
        )
        .replace("| alice@example.com |", "| cto@ops.example.com |");
    ws.write(&ws.contract_path(), &c);
    ws.assert_verify_refuses("not listed for cto@ops.example.com");
}
