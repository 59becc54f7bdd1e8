//! Helpers for tests that drive the built `ship` binary in a temporary workspace.
#![allow(dead_code)]

pub mod builtin;
pub mod serve;
pub mod servers;

use shiploop_testkit::workspace;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const NOW: &str = "2026-11-27T10:00:00Z";
pub const ID: &str = "2026-11-27-checkout-speedups";

/// The date `days` from today on the real clock: for what a test's steps read on the real clock
/// (outcome measurement, the gates of a rollout), where [`NOW`]'s fixed date would age.
pub fn day(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .date_naive()
        .to_string()
}

pub struct Ws {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    /// Asserts that stdout contains `part` (stdout in the message).
    #[track_caller]
    pub fn stdout_has(&self, part: &str) -> &Run {
        assert!(self.stdout.contains(part), "{}", self.stdout);
        self
    }
    /// Asserts that stderr contains `part` (stderr in the message).
    #[track_caller]
    pub fn stderr_has(&self, part: &str) -> &Run {
        assert!(self.stderr.contains(part), "{}", self.stderr);
        self
    }
    /// Asserts that stdout and stderr together contain `part` (both in the message).
    #[track_caller]
    pub fn text_has(&self, part: &str) -> &Run {
        assert!(self.text().contains(part), "{}", self.text());
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

fn run_output(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `ship -C <root> ARGS` with `env`, its output discarded: a server or a background command.
pub fn ship_quiet(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ship"));
    c.arg("-C")
        .arg(root)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// ssh-keygen is required: in CI a missing tool must fail the test, never skip it.
pub fn ssh_keygen() -> Command {
    Command::new("ssh-keygen")
}

/// Healthy measurements, as the command metric source prints them (`cat metrics.json`): request
/// counts since the stage began (the same file at every tick: each stage's first reading is its
/// evidence, enough to clear it), and the window's gauges for the charts and validation.
pub const HEALTHY: &str = r#"{"canary/requests": 20000, "canary/errors": 20,
 "stable/requests": 100000, "stable/errors": 100,
 "canary/slow": 0, "canary/slow_target": 0,
 "canary/error_rate": {"value": 0.001, "samples": 500},
 "stable/error_rate": {"value": 0.001, "samples": 5000},
 "canary/latency_p99": {"value": 0.12, "samples": 500},
 "canary/failed_instances": {"value": 0, "samples": 2},
 "alerts/critical_security": 0}"#;

/// [`HEALTHY`] with the canary failing `pct` % of its requests (its counts and its gauge).
pub fn failing(pct: f64) -> String {
    HEALTHY
        .replace(
            "\"canary/errors\": 20,",
            &format!("\"canary/errors\": {},", (200.0 * pct).round() as u64),
        )
        .replace(
            "\"canary/error_rate\": {\"value\": 0.001",
            &format!("\"canary/error_rate\": {{\"value\": {}", pct / 100.0),
        )
}

/// Waivers for the gates that need a staging target, an on-call person and live metrics:
/// tests about the rollout engine start with them (recorded as any waiver is); the gates have
/// their own tests in tests/gates.rs.
pub const WAIVE: &str = "--override rollback-rehearsal --override oncall --override monitoring --reason 'gates-tested-in-tests/gates.rs' --as test@example.com";

/// `release new` of hotfix `fix` (P1) from verdict `fix-1` ([`Ws::verdict_fix`]).
pub const HOTFIX_NEW: [&str; 8] = [
    "release",
    "new",
    "fix",
    "--hotfix",
    "--severity",
    "P1",
    "--verdict",
    "fix-1",
];

/// [`WAIVE`] as arguments.
pub const WAIVERS: [&str; 10] = [
    "--override",
    "rollback-rehearsal",
    "--override",
    "oncall",
    "--override",
    "monitoring",
    "--reason",
    "gates-tested-in-tests/gates.rs",
    "--as",
    "test@example.com",
];

/// `rollout start RELEASE` with [`WAIVE`].
/// The arguments of `ship release approve` for the standard contract with `key`, signing as
/// the principal `who`.
pub fn approve_as<'a>(key: &'a str, who: &'a str) -> [&'a str; 7] {
    ["release", "approve", ID, "--key", key, "--as", who]
}

pub fn start(release: &str) -> Vec<&str> {
    [&["rollout", "start", release][..], &WAIVERS[..]].concat()
}

/// ship.toml text with every stage lasting `stage`.
pub fn stages(cfg: &str, stage: &str) -> String {
    cfg.replace(
        "canary_duration = \"10m\"",
        &format!("canary_duration = \"{stage}\""),
    )
    .replace(
        "early_adopter_duration = \"30m\"",
        &format!("early_adopter_duration = \"{stage}\""),
    )
    .replace(
        "ga_duration = \"1h\"",
        &format!("ga_duration = \"{stage}\""),
    )
}

/// ship.toml text with 1 s stages, 100 ms ticks and a 1 s validation window, so a whole
/// rollout takes seconds.
pub fn fast_stages(cfg: &str) -> String {
    cfg.replace("canary_duration = \"10m\"", "canary_duration = \"1s\"")
        .replace(
            "early_adopter_duration = \"30m\"",
            "early_adopter_duration = \"1s\"",
        )
        .replace("ga_duration = \"1h\"", "ga_duration = \"1s\"")
        .replace("tick_interval = \"auto\"", "tick_interval = \"100ms\"")
        .replace("max_tick_gap = \"1m\"", "max_tick_gap = \"100ms\"")
        .replace("window = \"30m\"", "window = \"1s\"")
}

/// ship.toml text with the command router on files — `weight<suffix>` holds the weight,
/// `weights<suffix>.log` every shift — and the command metric source running `metrics`.
/// A suffix such as `-{release}` gives each release its own router.
pub fn file_providers(cfg: &str, suffix: &str, metrics: &str) -> String {
    cfg.replace(
        "set_weight = \"\"",
        &format!(
            "set_weight = \"echo {{weight}} > weight{suffix} && echo {{weight}} >> weights{suffix}.log\""
        ),
    )
    .replace(
        "get_weight = \"\"",
        &format!("get_weight = \"cat weight{suffix}\""),
    )
    .replace(
        "command = \"\"\ntimeout = \"10s\"",
        &format!("command = \"{metrics}\"\ntimeout = \"10s\""),
    )
}

impl Ws {
    /// Signs the approval message of [`ID`] with `key` using OpenSSH itself (`ssh-keygen -Y
    /// sign`, into `<name>.sig`) and attaches it with `ship release approve --signature`.
    pub fn approve_by_ssh_keygen(&self, key: &Path, name: &str) -> Run {
        self.sh(&format!(
            "ship release digest {ID} | ssh-keygen -Y sign -f {} -n shiploop-release > {name}.sig && ship release approve {ID} --signature {name}.sig",
            key.display()
        ))
    }

    /// Compiles release `web` from the verdicts in work/evaluations, submits it as the agent and
    /// approves it as alice (a new allowed key).
    pub fn approve_web(&self) {
        let alice = self.key("alice", "alice@example.com", true);
        let r = self.ship(&["release", "new", "web"]);
        assert_eq!(r.code, 0, "{}", r.text());
        self.submit_and_approve_release("web", &alice);
    }

    /// The service name `ship init` wrote into ship.toml.
    pub fn service_name(&self) -> String {
        let cfg = self.read("ship.toml");
        let line = cfg.lines().find(|l| l.starts_with("name = ")).unwrap();
        line.trim_start_matches("name = ")
            .trim_matches('"')
            .to_string()
    }

    pub fn init() -> Ws {
        let ws = Ws {
            dir: tempfile::tempdir().unwrap(),
        };
        let r = ws.ship(&["init"]);
        assert_eq!(r.code, 0, "{}", r.text());
        ws
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        workspace::read(self.root(), rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        workspace::write(self.root(), rel, text)
    }

    pub fn ship(&self, args: &[&str]) -> Run {
        let o = Command::new(env!("CARGO_BIN_EXE_ship"))
            .arg("-C")
            .arg(self.root())
            .args(args)
            .env("SHIP_NOW", NOW)
            .env_remove("SHIP_KEY_PASSPHRASE")
            .output()
            .unwrap();
        run_output(o)
    }

    /// `ship ARGS` in the workspace, which must exit with `code` (the output in the message).
    #[track_caller]
    pub fn ship_exits(&self, args: &[&str], code: i32) -> Run {
        let r = self.ship(args);
        assert_eq!(r.code, code, "{}", r.text());
        r
    }

    /// Runs a shell pipeline in the workspace with `ship` on PATH.
    pub fn sh(&self, script: &str) -> Run {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_ship"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let o = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(self.root())
            .env("PATH", path)
            .env("SHIP_NOW", NOW)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        run_output(o)
    }

    /// [`Ws::sh`], which must exit with `code` (the output in the message).
    #[track_caller]
    pub fn sh_exits(&self, script: &str, code: i32) -> Run {
        let r = self.sh(script);
        assert_eq!(r.code, code, "{}", r.text());
        r
    }

    pub fn verdict(&self, id: &str, verdict: &str, summary: &str) {
        workspace::write_verdict(self.root(), id, verdict, summary)
    }

    /// Verdict `fix-1` of a hotfix: PASS, with a passing security result.
    pub fn verdict_fix(&self) {
        self.write(
            "work/evaluations/fix-1.md",
            "---\nid: fix-1\nverdict: PASS\nsecurity: PASS\nsummary: Stop double-charging on retry\n---\nok\n",
        );
    }

    /// Makes a key of another type (`ecdsa`, `rsa`) and lists it for `principal`.
    pub fn key_of_type(&self, kind: &str, principal: &str) -> PathBuf {
        let key = workspace::keygen(self.root(), kind, &["-t", kind], principal);
        workspace::allow(self.root(), &key, principal, "");
        key
    }

    /// Makes an ed25519 key with ssh-keygen; lists it in allowed_signers for `principal` unless
    /// `allowed` is false. Returns the private key path.
    pub fn key(&self, name: &str, principal: &str, allowed: bool) -> PathBuf {
        let key = workspace::keygen(self.root(), name, &["-t", "ed25519"], principal);
        if allowed {
            self.allow(&key, principal);
        }
        key
    }

    /// Lists `key` in allowed_signers for `principals` (a pattern list), for release approvals.
    pub fn allow(&self, key: &Path, principals: &str) {
        workspace::allow(
            self.root(),
            key,
            principals,
            "namespaces=\"shiploop-release\" ",
        );
    }

    /// The standard scenario: three verdicts (2 PASS, 1 FAIL) and a compiled contract.
    pub fn with_contract() -> Ws {
        let ws = Ws::init();
        ws.verdict("v-pass-1", "PASS", "Faster checkout page");
        ws.verdict("v-pass-2", "PASS", "Saved cards");
        ws.verdict("v-fail-1", "FAIL", "Broken coupon flow");
        let r = ws.ship(&[
            "release",
            "new",
            "checkout-speedups",
            "--mission",
            "checkout",
        ]);
        assert_eq!(r.code, 0, "{}", r.text());
        ws
    }

    /// [`Ws::with_contract`], submitted by the agent and approved by alice (a new allowed key),
    /// whose key is returned.
    pub fn approved() -> (Ws, PathBuf) {
        let ws = Ws::with_contract();
        let alice = ws.key("alice", "alice@example.com", true);
        ws.submit_and_approve(&alice);
        (ws, alice)
    }

    /// `ship release verify` refuses the standard contract (exit 1) and its report names `part`;
    /// the run is returned for further checks.
    #[track_caller]
    pub fn assert_verify_refuses(&self, part: &str) -> Run {
        let r = self.ship(&["release", "verify", ID]);
        assert_eq!(r.code, 1, "{}", r.text());
        assert!(r.stdout.contains(part), "{}", r.stdout);
        r
    }

    /// ship.toml asks for `n` approvals instead of the one `ship init` writes.
    pub fn require_approvals(&self, n: u32) {
        let cfg = self.read("ship.toml").replace(
            "required_approvals = 1",
            &format!("required_approvals = {n}"),
        );
        self.write("ship.toml", &cfg);
    }

    /// The agent submits the standard contract and the holder of `key` approves it.
    pub fn submit_and_approve(&self, key: &Path) {
        self.submit_and_approve_release(ID, key);
    }

    /// The agent submits `release` and the holder of `key` approves it.
    pub fn submit_and_approve_release(&self, release: &str, key: &Path) {
        let r = self.ship(&["release", "submit", release, "--as", "agent@example.com"]);
        assert_eq!(r.code, 0, "{}", r.text());
        let r = self.ship(&[
            "release",
            "approve",
            release,
            "--key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.text());
    }

    /// `ship release verify` passes for the standard contract and names `approvers`.
    pub fn assert_approved_by(&self, approvers: &str) {
        let r = self.ship(&["release", "verify", ID]);
        assert_eq!(r.code, 0, "{}", r.text());
        assert!(r.stdout.contains(approvers), "{}", r.stdout);
    }

    /// The events of `kind` in `release`'s audit log (`ship audit log --release R --json`).
    pub fn events(&self, release: &str, kind: &str) -> Vec<serde_json::Value> {
        let log = self
            .ship(&["audit", "log", "--release", release, "--json"])
            .json();
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }

    /// Release `web`'s contract (work/releases/2026-11-27-web.md) contains each of `parts`.
    #[track_caller]
    pub fn assert_web_contract_has(&self, parts: &[&str]) {
        let c = self.read("work/releases/2026-11-27-web.md");
        for part in parts {
            assert!(c.contains(part), "{c}");
        }
    }

    /// The files in work/signals whose name contains `part` (`.md` for every signal), sorted.
    pub fn signals(&self, part: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.path("work/signals"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(part))
            })
            .collect();
        out.sort();
        out
    }

    pub fn contract_path(&self) -> String {
        format!("work/releases/{ID}.md")
    }

    pub fn contract(&self) -> String {
        self.read(&self.contract_path())
    }

    /// Snapshot of every file under the workspace (path → bytes), to prove nothing changed.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    out.push((p.clone(), vec![]));
                    walk(&p, out);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = vec![];
        walk(self.root(), &mut out);
        out
    }
}

/// A workspace on file providers (the command router writes `weight`, metrics from
/// `metrics-{stage}.json` or `metrics.json`, healthy at first) whose stages last `stage`, ticking
/// every `tick`, with an approved release `web` compiled from two PASS verdicts; `edit` applied
/// to ship.toml before the release is compiled.
pub fn rollout_ws_with(stage: &str, tick: &str, edit: impl Fn(String) -> String) -> Ws {
    let ws = Ws::init();
    let cfg = stages(&edit(ws.read("ship.toml")), stage)
        .replace(
            "tick_interval = \"auto\"",
            &format!("tick_interval = \"{tick}\""),
        )
        .replace(
            "max_tick_gap = \"1m\"",
            &format!("max_tick_gap = \"{tick}\""),
        )
        .replace("min_samples = 50", "min_samples = 10")
        .replace("window = \"30m\"", "window = \"1s\"");
    let cfg = file_providers(
        &cfg,
        "",
        "cat metrics-{stage}.json 2>/dev/null || cat metrics.json",
    );
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.verdict("v-pass-2", "PASS", "Saved cards");
    ws.approve_web();
    ws
}
