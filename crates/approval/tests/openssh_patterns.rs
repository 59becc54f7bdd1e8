//! ship's allowed-signers principal matching against the real `ssh-keygen -Y verify -I`, on
//! random pattern lists (`*`, `?`, `!`, commas). The seed is printed; SHIP_TEST_SEED=<n> replays
//! a run (shiploop-testkit's convention).

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use shiploop_approval::{parse_signature, AllowedSigners, NAMESPACE};
use shiploop_testkit::{seed, Rng};
use std::process::{Command, Stdio};

/// A random word of `min..=max` letters from `alphabet`.
fn word(rng: &mut Rng, alphabet: &[u8], min: u64, max: u64) -> String {
    let len = min + rng.below(max - min + 1);
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
        .collect()
}

#[test]
fn principal_patterns_match_exactly_as_ssh_keygen_does() {
    let seed = seed("the pattern lists and principals");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new("ssh-keygen")
            .current_dir(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-keygen must be installed (apt-get install openssh-client)")
    };
    assert!(run(&["-q", "-t", "ed25519", "-N", "", "-f", "k"])
        .status
        .success());
    std::fs::write(dir.path().join("msg"), "m").unwrap();
    assert!(run(&["-Y", "sign", "-f", "k", "-n", NAMESPACE, "msg"])
        .status
        .success());
    let public = std::fs::read_to_string(dir.path().join("k.pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    let public = public.join(" ");
    let sig =
        parse_signature(&std::fs::read_to_string(dir.path().join("msg.sig")).unwrap()).unwrap();
    let mut disagreements = vec![];
    for _ in 0..250 {
        let patterns: Vec<String> = (0..1 + rng.below(3))
            .map(|_| {
                let bang = if rng.below(10) < 3 { "!" } else { "" };
                format!("{bang}{}", word(&mut rng, b"aAb*?", 1, 5))
            })
            .collect();
        let list = patterns.join(",");
        let who = word(&mut rng, b"aAb", 1, 6);
        let line = format!("{list} {public}\n");
        std::fs::write(dir.path().join("allowed"), &line).unwrap();
        let theirs = Command::new("ssh-keygen")
            .current_dir(dir.path())
            .args(["-Y", "verify", "-f", "allowed", "-I", &who, "-n", NAMESPACE])
            .args(["-s", "msg.sig"])
            .stdin(std::fs::File::open(dir.path().join("msg")).unwrap())
            .output()
            .unwrap()
            .status
            .success();
        let ours = AllowedSigners::parse(&line).unwrap().allows(
            &who,
            sig.public_key(),
            NAMESPACE,
            Utc::now(),
        );
        if ours != theirs {
            disagreements.push(format!("{list} -I {who}: ssh-keygen {theirs}, ship {ours}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "seed {seed}: {}",
        disagreements.join("\n")
    );
}
