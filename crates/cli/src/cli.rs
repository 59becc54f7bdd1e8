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
    /// With --router/--stable/--canary/--try: a ship.toml that works for that setup, every
    /// gate configured (a staging proxy, on-call, flags, migrations), and the next steps.
    Init(InitArgs),
    /// Run ship's proxy in front of a stable and a canary version, with its admin API.
    Proxy(ProxyArgs),
    /// The whole Ship loop on this machine in about a minute: sample service v1 and v2 behind
    /// ship's proxy, real load, a signed release, and the rollout engine deciding.
    /// Exits 0 when the scenario ended as it should (good: completed and validated; bad, slow:
    /// rolled back during the rollout; broken-cart: rolled back by post-deployment validation).
    Demo {
        /// good: v2 is healthy; bad: v2 answers 5 % errors; slow: v2's p99 is over 2 × target;
        /// broken-cart: v2's golden metrics are fine but its /cart is broken, which the
        /// post-deployment smoke tests catch.
        #[arg(long, default_value = "good", value_parser = ["good", "bad", "slow", "broken-cart"])]
        scenario: String,
        /// Make the demo workspace here, and keep it (default: a temporary folder, removed at
        /// the end unless --keep).
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
        /// Keep the temporary demo workspace (its contract, decision log, signals, reports) and
        /// say where it is.
        #[arg(long)]
        keep: bool,
    },
    /// Send steady HTTP traffic to URL from many users (each request carries a user in
    /// --user-header, as real users would), until stopped or --duration: a rollout has something
    /// to judge where there is no real traffic yet. Prints what the requests were answered with.
    Load {
        /// Where to send GET requests, e.g. ship's proxy: http://127.0.0.1:8080/
        url: String,
        /// Requests a second, all workers together.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// How many distinct users the requests come from.
        #[arg(long, default_value_t = 1000)]
        users: u32,
        /// The header naming the user (ship's proxy keeps a user on one version by it when
        /// proxy.sticky_header is set).
        #[arg(long, default_value = "x-user-id")]
        user_header: String,
        /// Stop after this long (e.g. 2m); default: until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "DURATION")]
        duration: Option<String>,
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
    /// Pre-deployment gates: one line per item of the Ship loop's checklist (quality
    /// evaluations, approval, rollback rehearsal, feature flags, migrations, monitoring, on-call),
    /// with its evidence. Exits 0 when the release may start, 1 when a gate fails.
    Check {
        release: String,
        #[command(flatten)]
        waive: WaiveArgs,
    },
    /// Practise the rollback in staging ([staging]): shift staging traffic to the new version,
    /// evaluate the release's feature flags there, roll back, and record how long it took.
    Rehearse { release: String },
    /// Post-deployment validation: watch the fully rolled-out release for the validation window
    /// (error rate, latency, critical alerts, smoke tests, resources); roll back and raise an
    /// incident if it fails. Exits 0 passed, 1 failed, 3 interrupted (run it again to continue).
    Validate { release: String },
    /// The on-call team's side of the "on-call team notified" gate.
    Oncall {
        #[command(subcommand)]
        command: OncallCommand,
    },
    /// The feature-flag registry (flags.registry_file and [flags.registry]).
    Flags {
        #[command(subcommand)]
        command: FlagsCommand,
    },
    /// SQL migrations: backward-compatibility lint (expand/contract) for CI and the gate.
    Migrations {
        #[command(subcommand)]
        command: MigrationsCommand,
    },
    /// The workspace at a glance: releases by state, rollouts in flight, missions and their next
    /// checkpoint, open signals, stale flags.
    Status,
    /// Missions and their outcome contracts (work/missions/<name>/OUTCOME-CONTRACT.md).
    Mission {
        #[command(subcommand)]
        command: MissionCommand,
    },
    /// Hand a shipped release over to Operate: checks every exit criterion from recorded evidence
    /// (approval, all stages, validation, measurement schedule, runbook, quality gates, on-call,
    /// flag cleanup); only when all hold (warnings accepted with --accept), moves the mission
    /// into Operate in STATUS.md. Exits 0 handed over (or already), 1 a criterion fails or a
    /// warning is not accepted (nothing changed).
    Handoff {
        release: String,
        /// Accept a criterion the evidence could not confirm (a warning, e.g. critical-alerts
        /// without an alert source) with why: ITEM="why", recorded in the contract; repeat it
        /// for several (each with its own reason). Never a failure.
        #[arg(long = "accept", value_name = "ITEM[=WHY]")]
        accept: Vec<String>,
        /// The reason for every --accept ITEM given without its own.
        #[arg(long, requires = "accept")]
        reason: Option<String>,
        /// Who accepts it [default: git config user.email].
        #[arg(long = "as", value_name = "NAME", requires = "accept")]
        by: Option<String>,
    },
    /// Outcome measurement (Step 5): a mission's metrics against its outcome contract.
    Outcome {
        #[command(subcommand)]
        command: OutcomeCommand,
    },
    /// The Operate loop's scheduler.
    Operate {
        #[command(subcommand)]
        command: OperateCommand,
    },
    /// Feedback signals (work/signals/): what production taught, back into the loop.
    Signal {
        #[command(subcommand)]
        command: SignalCommand,
    },
    /// The long-running controller: drives every unfinished rollout of the workspace (and
    /// resumes them after a restart), serves the HTTP API (/api/v1), /metrics and the
    /// dashboard on [server] listen. SIGTERM/SIGINT finish the current ticks and exit 0.
    /// Several may run on one state database ([state] url = PostgreSQL): they share the
    /// rollouts and take over a dead one's.
    Serve {
        /// Where the API and dashboard listen, instead of server.listen (replicas on one
        /// machine each need their own).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// The statistical judge of the rollback triggers: what it decides from request counts.
    Judge {
        #[command(subcommand)]
        command: JudgeCommand,
    },
    /// The tamper-evident event log of every rollout.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start (or continue) the rollout of an approved release in the foreground, once every
    /// pre-deployment gate passes (`ship check`), then validate it (validation.auto).
    /// Exits 0 at 100 % (validated), 1 when a gate fails or it was rolled back, 3 when
    /// interrupted (resume continues it).
    Start {
        release: String,
        #[command(flatten)]
        waive: WaiveArgs,
        /// Check the gates and hand the rollout to `ship serve` instead of driving it here;
        /// follow it with `ship rollout watch` or the API.
        #[arg(long)]
        detach: bool,
    },
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
    /// Roll back now (the Ship loop's manual rollback triggers).
    Abort {
        release: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HotfixCommand {
    /// Roll out an approved hotfix release: its gates (security ones mandatory), canary, 100 %,
    /// then the validation window (hotfix.validation_window); a post-incident signal follows.
    Start {
        release: String,
        #[command(flatten)]
        waive: WaiveArgs,
    },
}

/// Waivers for failing gates: recorded in the event log and the contract, never for approval.
#[derive(Debug, Clone, clap::Args)]
pub struct WaiveArgs {
    /// Waive this failing gate (repeatable); never `approval`, and for a hotfix never
    /// `quality-evaluations`.
    #[arg(long = "override", value_name = "GATE")]
    pub overrides: Vec<String>,
    /// Why the gate may be waived (required with --override).
    #[arg(long, requires = "overrides")]
    pub reason: Option<String>,
    /// Who waives it [default: git config user.email].
    #[arg(long = "as", value_name = "NAME", requires = "overrides")]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OncallCommand {
    /// Acknowledge the notification that a release is about to start.
    Ack {
        release: String,
        #[arg(long = "as", value_name = "NAME")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Every registered flag with its type, owner, default and cleanup status
    /// (exit 1 when the registry has errors).
    List,
    /// Flags past their cleanup date (exit 1 when there are any).
    Stale,
}

#[derive(Debug, Subcommand)]
pub enum MigrationsCommand {
    /// Lint SQL migrations for changes that break the version still running. Exit 0 clean or
    /// warnings only, 1 any error, 2 a file cannot be read or parsed.
    Lint {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum JudgeCommand {
    /// Run the judge over a trace of per-interval counts, exactly as a rollout stage would:
    /// what would ship have done with last Tuesday's incident? The trace is CSV with a header:
    /// t (seconds since the stage began, increasing), stable_requests, stable_errors,
    /// canary_requests, canary_errors, and optionally stable_slow, canary_slow (slower than the
    /// p99 trigger's limit), canary_slow_target (slower than the latency target). Prints each
    /// change of verdict and the decision. Exits 0 whatever the verdict, 2 on a malformed trace.
    Replay {
        trace: PathBuf,
        /// Judge with this approved release's contract (its margins) instead of ship.toml's.
        #[arg(long)]
        release: Option<String>,
        /// The stage whose share of α and weight the trace is judged with [default: the first].
        #[arg(long)]
        stage: Option<String>,
    },
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
        /// A feature flag the release relies on (repeatable; must be in the flag registry).
        #[arg(long = "flag", value_name = "NAME")]
        flags: Vec<String>,
        /// A migration file or folder the release applies (repeatable; linted by `ship check`).
        #[arg(long = "migration", value_name = "PATH")]
        migrations: Vec<String>,
        /// Override a stage for this release: NAME=PERCENT%:DURATION, either or both, NAME one of
        /// canary, early-adopters, ga (repeatable), e.g. --stage canary=10%:30s --stage ga=1m.
        /// Written into the contract, approved with it, and what `ship rollout start` runs.
        #[arg(long = "stage", value_name = "NAME=SPEC")]
        stages: Vec<shiploop_workspace::StageOverride>,
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
    /// Withdraw a draft or a contract awaiting approval: status cancelled, who and why recorded
    /// in it and in the event log; the contract is kept as <id>.withdrawn-N.md, so the name can
    /// be compiled again. Refused (exit 1) once approved, in flight or finished.
    Withdraw {
        release: String,
        /// Who withdraws it [default: git config user.email].
        #[arg(long = "as", value_name = "NAME")]
        by: Option<String>,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
    },
    /// List release contracts.
    List,
    /// Show one release contract.
    Show { release: String },
}

/// `ship init`'s layout of ship.toml (without options: every key at its default, routed by
/// commands you fill in).
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// What moves traffic: ship's own proxy (builtin), nginx, haproxy, or your commands
    /// [default: command].
    #[arg(long, value_parser = ["builtin", "nginx", "haproxy", "command"])]
    pub router: Option<String>,
    /// Where measurements come from [default: builtin with --router builtin, prometheus with
    /// nginx or haproxy, command otherwise].
    #[arg(long, value_parser = ["builtin", "prometheus", "command"])]
    pub metrics: Option<String>,
    /// Your stable version's address, HOST:PORT (repeatable): builtin, a [[proxy.instances]]
    /// ship does not start; nginx, router.nginx.stable; and the staging proxy's to try it out.
    #[arg(long, value_name = "HOST:PORT")]
    pub stable: Vec<String>,
    /// Your new version's address, HOST:PORT (repeatable).
    #[arg(long, value_name = "HOST:PORT", requires = "stable")]
    pub canary: Vec<String>,
    /// builtin: where ship's proxy listens [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// builtin: the proxy's admin API [default: 127.0.0.1:9091].
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// Short stages (20 s each, a 20 s validation window) to try ship out; real stages last
    /// minutes to hours (default 10m, 30m, 1h).
    #[arg(long = "try")]
    pub try_it: bool,
}

/// Without `--stable`, everything comes from `[proxy]` in ship.toml (instances ship starts
/// included); flags given on the command line override it.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Serve the staging proxy of `[staging]` instead: listening on staging.url's host:port,
    /// its admin API on staging.admin (token from staging.token_env), the instances in
    /// staging.stable and staging.canary, weight 0 at start (`ship rehearse` moves it).
    #[arg(long, conflicts_with_all = ["stable", "listen", "admin", "token_env"])]
    pub staging: bool,
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

#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Write a signal by hand (the engine writes its own on rollbacks, failed validations and
    /// hotfixes).
    New {
        /// performance, customer-feedback, process-friction, unexpected-behavior or incident.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// low, medium, high or critical.
        #[arg(long, default_value = "medium")]
        severity: String,
        #[arg(long)]
        title: String,
        /// The release it is about (id, name or path).
        #[arg(long)]
        release: Option<String>,
        /// The mission it is about.
        #[arg(long)]
        mission: Option<String>,
        /// The body (markdown): the evidence and links.
        #[arg(long)]
        body: Option<String>,
    },
    /// List signals, oldest first.
    List {
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// open, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutcomeCommand {
    /// Measure a checkpoint (default: the latest one due): actuals vs targets and baselines,
    /// a report with one chart per metric under work/missions/<name>/reports/, and one
    /// performance signal when a target is missed. Exits 0 all targets met, 1 a target missed
    /// or not measured (or the checkpoint is not due), 2 no metric could be measured (nothing
    /// written) or bad input.
    Measure {
        mission: String,
        #[arg(long)]
        checkpoint: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperateCommand {
    /// Measure every due checkpoint of the missions in Operate not measured yet, and raise a
    /// process-friction signal for every flag past its cleanup date; each only once, so it is
    /// safe from cron. Exits 0, or 1 when something could not be measured or read.
    Tick,
}

#[derive(Debug, Subcommand)]
pub enum MissionCommand {
    /// Write work/missions/<name>/OUTCOME-CONTRACT.md from the template; never overwrites.
    New { mission: String },
    /// The mission's metrics, targets and measurement schedule (which checkpoints are due).
    Show { mission: String },
}

/// Commands that never check an approval: `--allowed-signers` stays out of their help. It is
/// still accepted there (and ignored), so a script that passes it to every command keeps
/// working, and `ship --allowed-signers FILE release verify …` is unchanged.
const NO_APPROVALS: &[&str] = &[
    "init",
    "proxy",
    "demo",
    "load",
    "rehearse",
    "oncall",
    "flags",
    "migrations",
    "mission",
    "outcome",
    "operate",
    "signal",
    "judge",
    "audit",
];

/// The command line, parsed.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{Arg, CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    for name in NO_APPROVALS {
        if cmd.find_subcommand(name).is_some() {
            // A subcommand with its own argument of that id does not get the global one.
            cmd = cmd.mut_subcommand(name, |s| {
                s.arg(
                    Arg::new("allowed_signers")
                        .long("allowed-signers")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .global(true)
                        .hide(true),
                )
            });
        }
    }
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}
