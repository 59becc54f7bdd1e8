use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Take software that passed its quality evaluations safely into production: release contracts
/// with signed human approval, gates, progressive rollout with automatic rollback, validation,
/// outcome measurement and the handoff to Operate.
///
/// Exit codes: 0 ok; 1 a check, gate or verification failed (or a rule refused the command, or
/// a rollout was rolled back); 2 bad input or usage (malformed file, unknown release, invalid
/// argument, unreadable file); 3 a foreground rollout was interrupted and is still in flight.
#[derive(Debug, Parser)]
#[command(name = "ship", version, propagate_version = true)]
pub struct Cli {
    /// Run as if ship was started in DIR (like `git -C`).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Check approvals against this allowed-signers file instead of `paths.allowed_signers`
    /// (pin the trust root to a protected copy in CI).
    #[arg(long, global = true, value_name = "FILE", env = "SHIP_ALLOWED_SIGNERS")]
    pub allowed_signers: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (errors too, as {"error": …}).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create ship.toml, the work/ folders, templates, STATUS.md and .ship/; never overwrites.
    Init,
    /// Run ship's proxy in front of a stable and a canary version, with its admin API.
    Proxy(ProxyArgs),
    /// The whole Ship loop on this machine in about a minute: sample service v1 and v2 behind
    /// ship's proxy, real load, a signed release, and the rollout engine deciding.
    /// Exits 0 when the scenario ended as it should (good: completed; bad, slow: rolled back).
    Demo {
        /// good: v2 is healthy; bad: v2 answers 5 % errors; slow: v2's p99 is over 2 × target.
        #[arg(long, default_value = "good", value_parser = ["good", "bad", "slow"])]
        scenario: String,
        /// Keep the demo workspace here (default: a new temporary folder, also kept).
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
    },
    /// Release contracts: compile, submit, approve, verify.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Progressive rollouts: canary → early adopters → GA → 100 %, with automatic rollback.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Emergency fixes: an approved hotfix release, abbreviated stages, a validation window.
    Hotfix {
        #[command(subcommand)]
        command: HotfixCommand,
    },
    /// The tamper-evident event log of every rollout.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start (or continue) the rollout of an approved release in the foreground.
    /// Exits 0 at 100 %, 1 when rolled back, 3 when interrupted (resume continues it).
    Start { release: String },
    /// Continue a rollout: resume it if paused, then drive it (after a crash too).
    Resume { release: String },
    /// The rollout's state: phase, stage, weight, time watched, the last decisions.
    Status { release: Option<String> },
    /// Follow a rollout another process drives, until it ends.
    Watch { release: String },
    /// Hold the current stage (rollback triggers still fire).
    Pause {
        release: String,
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
    },
    /// Skip the rest of the current stage.
    Promote {
        release: String,
        #[arg(long)]
        reason: String,
    },
    /// Roll back now (the seed's manual triggers).
    Abort {
        release: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HotfixCommand {
    /// Roll out an approved hotfix release: canary, then 100 % watched for the validation window;
    /// a post-incident signal follows.
    Start { release: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the event log's hash chain (exit 1 if any event was altered or removed).
    Verify,
    /// Print the event log.
    Log {
        #[arg(long)]
        release: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Compile work/releases/YYYY-MM-DD-<name>.md from the PASS verdicts and the template.
    New {
        name: String,
        /// Only take verdicts of this mission, and link the release to it.
        #[arg(long)]
        mission: Option<String>,
        /// Only take these verdicts (repeatable; default: every PASS verdict not yet released).
        #[arg(long = "verdict", value_name = "ID")]
        verdicts: Vec<String>,
        /// An emergency fix: abbreviated stages (hotfix.skip_stages), security verdicts mandatory.
        #[arg(long, requires = "severity")]
        hotfix: bool,
        /// The hotfix's severity: P0 (service down) or P1 (customer-impacting).
        #[arg(long, value_parser = ["P0", "P1"], requires = "hotfix")]
        severity: Option<String>,
    },
    /// Check the contract is complete, record the submitter and digest, await approval.
    Submit {
        /// Release id (YYYY-MM-DD-<name>), its name, or the contract's path.
        release: String,
        /// The submitting principal [default: git config user.email].
        #[arg(long = "as", value_name = "PRINCIPAL")]
        r#as: Option<String>,
    },
    /// Print exactly the message approvers sign (pipe it to `ssh-keygen -Y sign -n shiploop-release`).
    Digest { release: String },
    /// Approve with an SSH signature over the digest message.
    Approve {
        release: String,
        /// Sign with this OpenSSH private key (passphrase from SHIP_KEY_PASSPHRASE).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "signature",
            required_unless_present = "signature"
        )]
        key: Option<PathBuf>,
        /// Attach a signature made elsewhere (ssh-keygen -Y sign, a hardware key).
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
        /// The principal to approve as, when the key is listed for several.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        r#as: Option<String>,
    },
    /// Recompute the digest and verify every signature: approved / pending / tampered / invalid.
    Verify { release: String },
    /// List release contracts.
    List,
    /// Show one release contract.
    Show { release: String },
}

/// Without `--stable`, everything comes from `[proxy]` in ship.toml (instances ship starts
/// included); flags given on the command line override it.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Stable instances, comma-separated host:port (instead of `[proxy]` in ship.toml).
    #[arg(long, value_delimiter = ',')]
    pub stable: Vec<std::net::SocketAddr>,
    /// Canary (new version) instances, comma-separated host:port.
    #[arg(long, value_delimiter = ',', requires = "stable")]
    pub canary: Vec<std::net::SocketAddr>,
    /// Where the proxy listens [default: proxy.listen, 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Where the admin API listens; keep it on loopback [default: proxy.admin, 127.0.0.1:9091].
    #[arg(long)]
    pub admin: Option<std::net::SocketAddr>,
    /// The new version's starting share of traffic, in percent [default: the weight the last
    /// run saved for the same canary instances, else 0].
    #[arg(long)]
    pub weight: Option<u8>,
    /// Keep users on one version by this request header (e.g. x-user-id)…
    #[arg(long, conflicts_with = "sticky_cookie")]
    pub sticky_header: Option<String>,
    /// …or by this cookie.
    #[arg(long)]
    pub sticky_cookie: Option<String>,
    /// The header that forces a version (`stable` / `canary`) [default: x-ship-version].
    #[arg(long)]
    pub override_header: Option<String>,
    /// How instances of one version share traffic: round-robin or least-requests.
    #[arg(long)]
    pub balance: Option<String>,
    /// Health-check path of every instance [default: /healthz].
    #[arg(long)]
    pub health_path: Option<String>,
    /// Health-check interval [default: 5s].
    #[arg(long)]
    pub health_interval: Option<shiploop_artifacts::Dur>,
    /// Upstream request timeout [default: 30s].
    #[arg(long)]
    pub timeout: Option<shiploop_artifacts::Dur>,
    /// The environment variable with the admin API's bearer token (never on the command line)
    /// [default: proxy.token_env, SHIP_ADMIN_TOKEN].
    #[arg(long = "token-env", value_name = "VAR")]
    pub token_env: Option<String>,
}
