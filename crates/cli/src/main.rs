//! `ship`: the Ship loop on the command line. This crate only parses arguments, calls the
//! workspace crate and prints; every rule lives in the library crates.

mod cli;
mod demo;
mod gates_cmd;
mod judge_cmd;
mod load_cmd;
mod mission_cmd;
mod operate_cmd;
mod output;
mod proxy_cmd;
mod release;
mod rollout;
mod serve_cmd;
mod signal_cmd;
mod status_cmd;

use cli::{
    AuditCommand, Cli, Command, FlagsCommand, HotfixCommand, JudgeCommand, MigrationsCommand,
    MissionCommand, OncallCommand, OperateCommand, OutcomeCommand, ReleaseCommand, RolloutCommand,
    SignalCommand,
};
use output::Out;
use shiploop_workspace::{Error, Workspace};
use std::process::ExitCode;

/// The proxy allocates a little per request (headers, buffers) on several threads; mimalloc's
/// thread-local free lists make that cheaper than glibc's arenas (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version with exit 0 and usage errors with exit 2.
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let out = Out { json: cli.json };
    match run(&cli, &out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// The `ship init` command line, as ship.toml's header records it.
fn init_command(a: &cli::InitArgs) -> String {
    let mut c = String::from("ship init");
    for (flag, v) in [("--router", &a.router), ("--metrics", &a.metrics)] {
        if let Some(v) = v {
            c.push_str(&format!(" {flag} {v}"));
        }
    }
    for (flag, list) in [("--stable", &a.stable), ("--canary", &a.canary)] {
        for v in list {
            c.push_str(&format!(" {flag} {v}"));
        }
    }
    for (flag, v) in [("--listen", &a.listen), ("--admin", &a.admin)] {
        if let Some(v) = v {
            c.push_str(&format!(" {flag} {v}"));
        }
    }
    if a.try_it {
        c.push_str(" --try");
    }
    c
}

/// Runs the command; Ok carries the exit code for commands whose result can be a failed check.
fn run(cli: &Cli, out: &Out) -> Result<u8, Error> {
    let dir = cli.dir.clone().unwrap_or_else(|| ".".into());
    let now = output::now()?;
    match &cli.command {
        Command::Demo {
            scenario,
            dir,
            keep,
        } => demo::run(out, scenario, dir.as_deref(), *keep),
        Command::Proxy(args) => proxy_cmd::run(out, args, &dir),
        Command::Load {
            url,
            rate,
            users,
            user_header,
            duration,
        } => load_cmd::run(
            out,
            &load_cmd::LoadArgs {
                url,
                rate: *rate,
                users: *users,
                user_header,
                duration: duration.as_deref(),
            },
        ),
        Command::Init(a) => {
            let layout = shiploop_config::Layout {
                router: a.router.clone(),
                metrics: a.metrics.clone(),
                stable: a.stable.clone(),
                canary: a.canary.clone(),
                listen: a.listen.clone(),
                admin: a.admin.clone(),
                try_it: a.try_it,
            };
            let command = init_command(a);
            let report = shiploop_workspace::init_with(&dir, &layout, &command)?;
            out.init(&report);
            Ok(0)
        }
        Command::Rollout { command } => {
            let ws = open(&dir, cli)?;
            match command {
                RolloutCommand::Start {
                    release,
                    waive,
                    detach,
                } => {
                    let w = gates_cmd::overrides(&ws, waive)?;
                    if *detach {
                        serve_cmd::detach(&ws, out, release, &w)
                    } else {
                        rollout::start(&ws, out, release, false, &w)
                    }
                }
                RolloutCommand::Resume { release } => rollout::resume(&ws, out, release),
                RolloutCommand::Status { release } => rollout::status(&ws, out, release.as_deref()),
                RolloutCommand::Watch { release } => rollout::watch(&ws, out, release),
                RolloutCommand::Pause { release, reason }
                | RolloutCommand::Promote { release, reason }
                | RolloutCommand::Abort { release, reason } => {
                    use shiploop_rollout::Input;
                    let reason = reason.clone();
                    let input = match command {
                        RolloutCommand::Pause { .. } => Input::Pause { reason },
                        RolloutCommand::Promote { .. } => Input::Promote { reason },
                        _ => Input::Abort { reason },
                    };
                    rollout::command(&ws, out, release, input)
                }
            }
        }
        Command::Hotfix {
            command: HotfixCommand::Start { release, waive },
        } => {
            let ws = open(&dir, cli)?;
            let w = gates_cmd::overrides(&ws, waive)?;
            rollout::start(&ws, out, release, true, &w)
        }
        Command::Check { release, waive } => {
            let ws = open(&dir, cli)?;
            let w = gates_cmd::overrides(&ws, waive)?;
            gates_cmd::check_cmd(&ws, out, release, &w, now)
        }
        Command::Serve { listen } => {
            let mut ws = open(&dir, cli)?;
            if let Some(addr) = listen {
                ws.config.server.listen = addr.to_string();
            }
            serve_cmd::run(ws, out)
        }
        Command::Status => {
            let ws = open(&dir, cli)?;
            status_cmd::run(&ws, out, now)
        }
        Command::Handoff {
            release,
            accept,
            reason,
            by,
        } => {
            let ws = open(&dir, cli)?;
            let accept = operate_cmd::acceptances(&ws, accept, reason.as_deref(), by.as_deref())?;
            operate_cmd::handoff(&ws, out, release, &accept, now)
        }
        Command::Outcome {
            command:
                OutcomeCommand::Measure {
                    mission,
                    checkpoint,
                },
        } => {
            let ws = open(&dir, cli)?;
            operate_cmd::measure(&ws, out, mission, checkpoint.as_deref(), now)
        }
        Command::Operate {
            command: OperateCommand::Tick,
        } => {
            let ws = open(&dir, cli)?;
            operate_cmd::tick(&ws, out, now)
        }
        Command::Mission { command } => {
            let ws = open(&dir, cli)?;
            match command {
                MissionCommand::New { mission } => mission_cmd::new(&ws, out, mission, now),
                MissionCommand::Show { mission } => mission_cmd::show(&ws, out, mission, now),
            }
        }
        Command::Signal { command } => {
            let ws = open(&dir, cli)?;
            match command {
                SignalCommand::New {
                    kind,
                    severity,
                    title,
                    release,
                    mission,
                    body,
                } => signal_cmd::new(
                    &ws,
                    out,
                    &signal_cmd::NewSignal {
                        kind,
                        severity,
                        title,
                        release: release.as_deref(),
                        mission: mission.as_deref(),
                        body: body.as_deref(),
                    },
                    now,
                ),
                SignalCommand::List { kind, status } => {
                    signal_cmd::list(&ws, out, kind.as_deref(), status.as_deref())
                }
            }
        }
        Command::Rehearse { release } => {
            let ws = open(&dir, cli)?;
            gates_cmd::rehearse(&ws, out, release, now)
        }
        Command::Validate { release } => {
            let ws = open(&dir, cli)?;
            gates_cmd::validate(&ws, out, release)
        }
        Command::Oncall {
            command: OncallCommand::Ack { release, by },
        } => {
            let ws = open(&dir, cli)?;
            gates_cmd::oncall_ack(&ws, out, release, by, now)
        }
        Command::Flags { command } => {
            let ws = open(&dir, cli)?;
            match command {
                FlagsCommand::List => gates_cmd::flags_list(&ws, out, now),
                FlagsCommand::Stale => gates_cmd::flags_stale(&ws, out, now),
            }
        }
        Command::Migrations {
            command: MigrationsCommand::Lint { paths },
        } => {
            // Like `git -C`: paths are relative to DIR (and reported as given).
            if let Some(d) = &cli.dir {
                std::env::set_current_dir(d).map_err(|source| Error::Io {
                    path: d.clone(),
                    source,
                })?;
            }
            gates_cmd::migrations_lint(out, paths)
        }
        Command::Judge { command } => {
            let ws = open(&dir, cli)?;
            match command {
                JudgeCommand::Replay {
                    trace,
                    release,
                    stage,
                } => {
                    // Like git -C: a relative path is relative to DIR.
                    let trace = std::path::Path::new(&dir).join(trace);
                    judge_cmd::replay(&ws, out, &trace, release.as_deref(), stage.as_deref())
                }
            }
        }
        Command::Audit { command } => {
            let ws = open(&dir, cli)?;
            match command {
                AuditCommand::Verify => rollout::audit_verify(&ws, out),
                AuditCommand::Log { release } => rollout::audit_log(&ws, out, release.as_deref()),
            }
        }
        Command::Release { command } => {
            let ws = open(&dir, cli)?;
            match command {
                ReleaseCommand::New {
                    name,
                    mission,
                    verdicts,
                    hotfix: _,
                    severity,
                    flags,
                    migrations,
                    stages,
                } => {
                    let opts = shiploop_workspace::NewOptions {
                        mission: mission.clone(),
                        verdicts: verdicts.clone(),
                        hotfix: severity.as_deref().map(|s| match s {
                            "P0" => shiploop_artifacts::release::Severity::P0,
                            _ => shiploop_artifacts::release::Severity::P1,
                        }),
                        flags: flags.clone(),
                        migrations: migrations.clone(),
                        stages: stages.clone(),
                    };
                    release::new(&ws, out, name, &opts, now)
                }
                ReleaseCommand::Submit { release, r#as } => {
                    release::submit(&ws, out, release, r#as.as_deref(), now)
                }
                ReleaseCommand::Digest { release } => release::digest(&ws, out, release),
                ReleaseCommand::Approve {
                    release,
                    key,
                    signature,
                    r#as,
                } => release::approve(
                    &ws,
                    out,
                    release,
                    key.as_deref(),
                    signature.as_deref(),
                    r#as.as_deref(),
                    now,
                ),
                ReleaseCommand::Verify { release } => release::verify(&ws, out, release, now),
                ReleaseCommand::Withdraw {
                    release,
                    by,
                    reason,
                } => release::withdraw(&ws, out, release, by.as_deref(), reason, now),
                ReleaseCommand::List => release::list(&ws, out),
                ReleaseCommand::Show { release } => release::show(&ws, out, release, now),
            }
        }
    }
}

fn open(dir: &std::path::Path, cli: &Cli) -> Result<Workspace, Error> {
    let mut ws = Workspace::open(dir)?;
    if let Some(f) = &cli.allowed_signers {
        ws.signers_override = Some(std::path::absolute(f).map_err(|source| Error::Io {
            path: f.clone(),
            source,
        })?);
    }
    Ok(ws)
}

/// Rust ignores SIGPIPE, which turns `ship release show X | head` into a panic when the pipe
/// closes. Command-line tools should just stop, so restore the default action.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; only resets a signal
    // disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
