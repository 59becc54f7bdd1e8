//! The builtin proxy in front of two `ship-sample` versions, for end-to-end tests.

use super::servers;
use super::{fast_stages, Run, Ws};
pub use shiploop_testkit::wait_for;
use shiploop_testkit::Guard;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "admin-token-0123456789ab";

/// A running `ship proxy`, killed when dropped.
pub struct Proxy {
    pub proc: Guard,
    pub listen: SocketAddr,
}

/// `ship -C <ws> proxy ARGS` with `env` (output discarded), listening on `listen`, once
/// `health` answers.
pub fn spawn_proxy(
    ws: &Ws,
    args: &[&str],
    env: &[(&str, &str)],
    listen: SocketAddr,
    health: &str,
) -> Proxy {
    let args: Vec<&str> = ["proxy"].iter().chain(args).copied().collect();
    let child = super::ship_quiet(ws.root(), &args, env).spawn().unwrap();
    let mut p = Proxy {
        proc: Guard::new(child),
        listen,
    };
    wait_for(health, &mut p.proc.child);
    p
}

/// Sets `key` of `[table]` in ship.toml text (the line `ship init` wrote), keeping the rest.
pub fn set(cfg: &str, table: &str, key: &str, value: &str) -> String {
    shiploop_config::set_key(cfg, table, key, value)
        .unwrap_or_else(|| panic!("no {table}.{key} in ship.toml"))
}

/// Sets each `(table, key, value)` in the workspace's ship.toml, as [`set`] does.
pub fn set_all<V: AsRef<str>>(ws: &Ws, settings: &[(&str, &str, V)]) {
    let cfg = settings
        .iter()
        .fold(ws.read("ship.toml"), |cfg, (t, k, v)| {
            set(&cfg, t, k, v.as_ref())
        });
    ws.write("ship.toml", &cfg);
}

/// Runs ship with these environment variables and the real clock (no SHIP_NOW).
/// [`ship_env`], which must exit with `code` (the output in the message).
#[track_caller]
pub fn ship_env_exits(ws: &Ws, env: &[(&str, &str)], args: &[&str], code: i32) -> Run {
    let r = ship_env(ws, env, args);
    assert_eq!(r.code, code, "{}", r.text());
    r
}

pub fn ship_env(ws: &Ws, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ship"));
    c.arg("-C").arg(ws.root()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// A workspace whose ship.toml routes through the builtin proxy in front of two `ship-sample`
/// instances it starts (v1 stable, v2 canary with `v2_args`), fast stages at 20 %, 50 % and
/// 80 % (so that [`traffic`] gives the judge its evidence within seconds), a 3 s validation
/// window and the `[[smoke]]` tables given; returns the instances' addresses.
pub fn builtin_config(v2_args: &str, smoke: &str) -> (Ws, SocketAddr, SocketAddr) {
    builtin_config_with("", v2_args, smoke)
}

/// [`builtin_config`] with arguments for v1 too.
pub fn builtin_config_with(
    v1_args: &str,
    v2_args: &str,
    smoke: &str,
) -> (Ws, SocketAddr, SocketAddr) {
    let ws = Ws::init();
    let (listen, admin) = (servers::free_addr(), servers::free_addr());
    let (s, c) = (servers::free_addr(), servers::free_addr());
    let sample = std::path::Path::new(env!("CARGO_BIN_EXE_ship")).with_file_name("ship-sample");
    let mut cfg = fast_stages(&ws.read("ship.toml"));
    let q = |v: String| format!("{v:?}");
    for (t, k, v) in [
        ("rollout", "min_samples", "5".to_string()),
        ("stages", "canary_percentage", "20".to_string()),
        ("stages", "early_adopter_percentage", "50".to_string()),
        ("stages", "ga_percentage", "80".to_string()),
        ("router", "kind", q("builtin".into())),
        ("metrics", "kind", q("builtin".into())),
        ("metrics", "window", q("5s".into())),
        ("rollback", "critical_security_alert", "false".into()),
        ("proxy", "listen", q(listen.to_string())),
        ("proxy", "admin", q(admin.to_string())),
        ("proxy", "health_interval", q("500ms".into())),
        ("validation", "window", q("3s".into())),
    ] {
        cfg = set(&cfg, t, k, &v);
    }
    let cfg = format!(
        "{cfg}\n[[proxy.instances]]\nversion = \"stable\"\naddress = \"{s}\"\ncommand = \"{} --version v1 --listen {s} {v1_args}\"\n\n[[proxy.instances]]\nversion = \"canary\"\naddress = \"{c}\"\ncommand = \"{} --version v2 --listen {c} {v2_args}\"\n\n{smoke}\n",
        sample.display(),
        sample.display()
    );
    ws.write("ship.toml", &cfg);
    (ws, s, c)
}

/// Starts `ship proxy` from the workspace's ship.toml (listening on `listen`) and waits until
/// it answers.
pub fn start_proxy(ws: &Ws, listen: SocketAddr) -> Proxy {
    spawn_proxy(
        ws,
        &[],
        &[("SHIP_ADMIN_TOKEN", ADMIN_TOKEN)],
        listen,
        &format!("http://{listen}/healthz"),
    )
}

/// Steady traffic through the proxy (four clients, a few hundred requests a second) until the
/// returned flag is set.
pub fn traffic(front: SocketAddr) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for client in 0..4 {
        let s = stop.clone();
        std::thread::spawn(move || {
            let mut n = client;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                n += 4;
                let _ = servers::http("GET", &format!("http://{front}/checkout?u={n}"), None);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }
    stop
}

/// `proxy.listen` from the workspace's ship.toml.
pub fn proxy_listen(ws: &Ws) -> SocketAddr {
    let cfg = ws.read("ship.toml");
    let proxy = cfg.split("\n[proxy]\n").nth(1).expect("a [proxy] table");
    let line = proxy
        .lines()
        .find(|l| l.starts_with("listen = "))
        .expect("proxy.listen");
    line.trim_start_matches("listen = ")
        .split('#')
        .next()
        .unwrap()
        .trim()
        .trim_matches('"')
        .parse()
        .unwrap()
}
