//! A workspace in a temporary directory, set up in process (no `ship` binary): `ship init`'s
//! files, ship.toml edits, verdicts, SSH keys in allowed_signers, an approved release.

use chrono::{DateTime, Utc};
use shiploop_workspace::{NewOptions, Workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary directory holding a workspace; removed when dropped.
pub struct TempWorkspace {
    /// The directory, removed when dropped.
    pub dir: tempfile::TempDir,
}

impl TempWorkspace {
    /// `ship init`'s files (ship.toml with the template's defaults, work/…).
    pub fn init() -> TempWorkspace {
        let dir = tempfile::tempdir().unwrap();
        shiploop_workspace::init(dir.path()).unwrap();
        TempWorkspace { dir }
    }

    /// The workspace's directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` under the workspace.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The text of `rel`.
    pub fn read(&self, rel: &str) -> String {
        read(self.root(), rel)
    }

    /// Writes `text` to `rel`, creating its folders.
    pub fn write(&self, rel: &str, text: &str) {
        write(self.root(), rel, text)
    }

    /// ship.toml rewritten by `edit`.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let cfg = edit(self.read("ship.toml"));
        self.write("ship.toml", &cfg);
    }

    /// An evaluation with `verdict` (PASS, FAIL) in work/evaluations.
    pub fn verdict(&self, id: &str, verdict: &str, summary: &str) {
        write_verdict(self.root(), id, verdict, summary)
    }

    /// An ed25519 key made by ssh-keygen, listed in allowed_signers for `principal` when
    /// `allowed`. Returns the private key's path.
    pub fn key(&self, name: &str, principal: &str, allowed: bool) -> PathBuf {
        let key = keygen(self.root(), name, &["-t", "ed25519"], principal);
        if allowed {
            allow(
                self.root(),
                &key,
                principal,
                "namespaces=\"shiploop-release\" ",
            );
        }
        key
    }

    /// The workspace as the CLI opens it.
    pub fn open(&self) -> Workspace {
        Workspace::open(self.root()).unwrap()
    }

    /// Compiles release `name` from the verdicts, submits it as agent@example.com and approves
    /// it with a new key of alice@example.com, all at `at`; returns the release's id.
    pub fn approve_release(&self, name: &str, at: DateTime<Utc>) -> String {
        let key = self.key("alice", "alice@example.com", true);
        let ws = self.open();
        ws.release_new(name, &NewOptions::default(), at).unwrap();
        ws.submit(name, "agent@example.com", at).unwrap();
        ws.approve_with_key(name, &key, None, None, at).unwrap();
        ws.resolve(name).unwrap().contract.meta.id
    }
}

/// The text of `rel` under `root`.
pub fn read(root: &Path, rel: &str) -> String {
    let p = root.join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Writes `text` to `rel` under `root`, creating its folders.
pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// An evaluation of mission `checkout` in `root`'s work/evaluations.
pub fn write_verdict(root: &Path, id: &str, verdict: &str, summary: &str) {
    write(
        root,
        &format!("work/evaluations/{id}.md"),
        &format!(
            "---\nid: {id}\nverdict: {verdict}\nmission: checkout\nsummary: {summary}\nevaluated_at: 2026-11-20\nevaluator: quality-layer\n---\n# Evaluation of {id}\n\nDetails.\n"
        ),
    );
}

/// A key without a passphrase at `root/keys/<name>`, made by `ssh-keygen <kind_args>` (e.g.
/// `["-t", "ecdsa", "-b", "384"]`) with `principal` as its comment.
pub fn keygen(root: &Path, name: &str, kind_args: &[&str], principal: &str) -> PathBuf {
    let key = root.join(format!("keys/{name}"));
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-q")
        .args(kind_args)
        .args(["-N", "", "-C", principal, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen must be installed (apt-get install openssh-client)");
    assert!(st.success(), "ssh-keygen {kind_args:?} failed");
    key
}

/// Lists `key`'s public half in `root`'s work/allowed_signers for `principals` (a pattern
/// list), with `options` (e.g. `namespaces="shiploop-release" `, or empty) before the key.
pub fn allow(root: &Path, key: &Path, principals: &str, options: &str) {
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let mut signers = read(root, "work/allowed_signers");
    signers.push_str(&format!("{principals} {options}{}\n", fields.join(" ")));
    write(root, "work/allowed_signers", &signers);
}
