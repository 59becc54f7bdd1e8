//! Issue 16's approval hardening, end to end against the built binary and real ssh-keygen:
//! the submitter cannot approve under another spelling, ECDSA P-384 / P-521 approvers, and a
//! pathological allowed-signers pattern.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use shiploop_testkit::workspace::keygen;

/// Lists `key` in allowed_signers on one line for `principals` (comma-separated).
fn list(ws: &Ws, key: &std::path::Path, principals: &str) {
    ws.allow(key, principals);
}

/// The standard contract, a new key of `<name>@example.com` listed on `line` only, the contract
/// submitted as `<name>@example.com`, and what `ship release approve --key <that key> --as
/// <approver>` did.
fn submitter_approves_as(name: &str, line: &str, approver: &str) -> (Ws, Run) {
    let ws = Ws::with_contract();
    let who = format!("{name}@example.com");
    let key = ws.key(name, &who, false);
    list(&ws, &key, line);
    let r = ws.ship(&["release", "submit", ID, "--as", &who]);
    assert_eq!(r.code, 0, "{line}: {}", r.text());
    let k = key.to_str().unwrap();
    let r = ws.ship(&approve_as(k, approver));
    (ws, r)
}

#[test]
fn the_submitter_cannot_approve_under_another_spelling() {
    for line in [
        "Alice@Example.com,alice@corp.example",
        "alice@example.com,alice@corp.example",
        "*@Example.com,alice@corp.example",
    ] {
        let (ws, r) = submitter_approves_as("alice", line, "alice@corp.example");
        assert_eq!(r.code, 1, "{line}: {}", r.text());
        assert!(
            r.stderr
                .contains("also belongs to the submitter alice@example.com"),
            "{line}: {}",
            r.stderr
        );
        let r = ws.ship(&["release", "verify", ID]);
        assert_eq!(r.code, 1, "{line}: {}", r.text());
    }
}

#[test]
fn a_submitter_spelled_differently_is_still_the_submitter() {
    // The --as of submit in capitals; alice's line in lower case.
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@example.com", false);
    list(&ws, &alice, "alice@example.com,alice@corp.example");
    ws.ship_exits(&["release", "submit", ID, "--as", "ALICE@example.com"], 0);
    let k = alice.to_str().unwrap();
    for who in ["alice@corp.example", "alice@example.com"] {
        let r = ws.ship(&approve_as(k, who));
        assert_eq!(r.code, 1, "{who}: {}", r.text());
    }
    // Signing as a principal stays case-sensitive, as in ssh-keygen, and the refusal says so.
    let r = ws.ship_exits(&approve_as(k, "Alice@Corp.example"), 1);
    r.stderr_has("case-sensitive");
}

#[test]
fn verify_refuses_an_approval_whose_key_turns_out_to_be_the_submitters() {
    // Approved while alice's key was listed only for her corporate address; then the file
    // adds the address she submitted with, in other letters: the approval no longer counts.
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@corp.example", true);
    ws.ship_exits(&["release", "submit", ID, "--as", "alice@example.com"], 0);
    ws.ship_exits(
        &["release", "approve", ID, "--key", alice.to_str().unwrap()],
        0,
    );
    assert_eq!(ws.ship(&["release", "verify", ID]).code, 0);
    let signers = ws.read("work/allowed_signers").replace(
        "alice@corp.example ",
        "alice@corp.example,Alice@EXAMPLE.com ",
    );
    ws.write("work/allowed_signers", &signers);
    let r = ws.assert_verify_refuses("INVALID SIGNER");
    r.stdout_has("also belongs to the submitter");
}

#[test]
fn ecdsa_p384_and_p521_approvers() {
    let ws = Ws::with_contract();
    ws.require_approvals(2);
    ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 0);
    for (bits, who) in [("384", "p384@example.com"), ("521", "p521@example.com")] {
        let key = keygen(
            ws.root(),
            &format!("p{bits}"),
            &["-t", "ecdsa", "-b", bits],
            who,
        );
        list(&ws, &key, who);
        let r = ws.approve_by_ssh_keygen(&key, &format!("p{bits}"));
        assert_eq!(r.code, 0, "P-{bits}: {}", r.text());
    }
    ws.assert_approved_by("p384@example.com, p521@example.com");
}

#[test]
fn a_pathological_pattern_does_not_hang_approval() {
    // The pattern sits on the approver's own line, so both the "may sign as" and the "is it
    // the submitter's key" checks run it against a 60-letter submitter (over 60 s before).
    let ws = Ws::with_contract();
    let alice = ws.key("alice", "alice@example.com", false);
    list(
        &ws,
        &alice,
        &format!("alice@example.com,{}b", "a*".repeat(12)),
    );
    let submitter = "a".repeat(60);
    ws.ship_exits(&["release", "submit", ID, "--as", &submitter], 0);
    let start = std::time::Instant::now();
    let r = ws.ship(&["release", "approve", ID, "--key", alice.to_str().unwrap()]);
    let took = start.elapsed();
    println!("approve with a 12-star pattern and a 60-letter submitter: {took:?}");
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    ws.ship_exits(&["release", "verify", ID], 0);
}

#[test]
fn self_approval_through_spelling_variants_is_refused() {
    // The agent's own key, listed for bob too, under a spelling of the agent's address that is
    // not byte for byte the submitter: each must still count as the submitter's key (or the
    // line be refused), and bob's own key on a clean line must keep working.
    let mut failures = vec![];
    for line in [
        "agent@example.com.,bob@example.com",
        "agent+ship@example.com,bob@example.com",
        "\u{0430}gent@example.com,bob@example.com",
        "agent\u{200B}@example.com,bob@example.com",
        "agent\u{FF20}example.com,bob@example.com",
        "!!agent@example.com,bob@example.com",
        "bob@example.com,\"agent@example.com\"",
    ] {
        let (ws, r) = submitter_approves_as("agent", line, "bob@example.com");
        // Every variant is tried and reported, not only the first that fails.
        if r.code != 1 || !r.stderr.contains(" line ") {
            failures.push(format!("{line:?}: exit {}: {}", r.code, r.text()));
            continue;
        }
        let r = ws.ship(&["release", "verify", ID]);
        assert_eq!(r.code, 1, "{line}: {}", r.text());
        // The rest of the file still works.
        let bob = ws.key("bob", "bob@example.com", true);
        let r = ws.ship(&["release", "approve", ID, "--key", bob.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{line}: {}", r.text());
        let r = ws.ship(&["release", "verify", ID]);
        assert_eq!(r.code, 0, "{line}: {}", r.text());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_submitter_variant_cannot_approve_with_the_plain_address_key() {
    // The reverse: the key is listed literally as agent@example.com, the submitter a variant.
    let ws = Ws::with_contract();
    let agent = ws.key("agent", "agent@example.com", true);
    ws.ship_exits(&["release", "submit", ID, "--as", "Agent+x@example.com"], 0);
    let r = ws.ship_exits(
        &["release", "approve", ID, "--key", agent.to_str().unwrap()],
        1,
    );
    r.stderr_has("submit");
    // Spellings that are not plain identities are refused at submit, naming the flag.
    for who in [
        "agent@example.com.",
        "\u{0430}gent@example.com",
        "agent\u{200B}@example.com",
        "agent\u{FF20}example.com",
        "!agent@example.com",
        "\"agent@example.com\"",
        "agent@@example.com",
    ] {
        let r = ws.ship(&["release", "submit", ID, "--as", who]);
        assert_eq!(r.code, 2, "{who:?}: {}", r.text());
        assert!(r.stderr.contains("--as"), "{who:?}: {}", r.stderr);
    }
    // And so is approving --as one.
    let r = ws.ship_exits(&approve_as(agent.to_str().unwrap(), "bob@example.com."), 2);
    r.stderr_has("--as");
}

#[test]
fn a_huge_principals_line_is_refused_quickly() {
    // One line for alice's key: 100 literals of ~1,020 letters and 100 patterns `*aaaa…b<i>`
    // (each under OpenSSH's 1,023-byte limit), about 200 kB: every literal used to be matched
    // against every pattern (33 s for verify).
    let (ws, alice) = Ws::approved();
    let n = 100;
    let mut principals: Vec<String> = (0..n)
        .map(|i| format!("{}{i:03}", "a".repeat(1017)))
        .collect();
    principals.extend((0..n).map(|i| format!("*{}b{i}", "a".repeat(1010))));
    let huge = principals.join(",");
    println!("principals field: {} bytes", huge.len());
    assert!(huge.len() > 133_000);
    list(&ws, &alice, &huge);
    let start = std::time::Instant::now();
    let r = ws.ship(&["release", "verify", ID]);
    let took = start.elapsed();
    println!(
        "verify with a {} byte principals line: {took:?}",
        huge.len()
    );
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert_eq!(r.code, 1, "{}", r.text());
    r.stdout_has("line ");
}

#[test]
fn a_short_rsa_key_is_named_not_called_a_mismatch() {
    let ws = Ws::with_contract();
    let key = keygen(
        ws.root(),
        "rsa1024",
        &["-t", "rsa", "-b", "1024"],
        "old@example.com",
    );
    list(&ws, &key, "old@example.com");
    ws.ship_exits(&["release", "submit", ID, "--as", "agent@example.com"], 0);
    let r = ws.approve_by_ssh_keygen(&key, "rsa");
    assert_eq!(r.code, 1, "{}", r.text());
    r.stderr_has("RSA keys shorter than 2048 bits are refused");
    assert!(!r.stderr.contains("does not match"), "{}", r.stderr);
}
