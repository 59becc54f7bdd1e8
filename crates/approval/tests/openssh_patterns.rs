//! ship's allowed-signers principal matching against the real `ssh-keygen -Y verify -I`, on
//! random pattern lists (`*`, `?`, `!`, commas). Set SHIP_TEST_SEED to replay a run.

use chrono::Utc;
use shiploop_approval::{parse_signature, AllowedSigners, NAMESPACE};
use std::process::{Command, Stdio};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn word(&mut self, alphabet: &[u8], min: u64, max: u64) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

#[test]
fn principal_patterns_match_exactly_as_ssh_keygen_does() {
    let seed: u64 = std::env::var("SHIP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("SHIP_TEST_SEED={seed}");
    let mut rng = Rng(seed);
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
                format!("{bang}{}", rng.word(b"aAb*?", 1, 5))
            })
            .collect();
        let list = patterns.join(",");
        let who = rng.word(b"aAb", 1, 6);
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
