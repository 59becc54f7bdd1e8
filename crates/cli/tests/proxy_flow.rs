//! `ship proxy` and the builtin router/metric source wired from ship.toml, with the built
//! binaries; the happy path end to end is `examples/builtin-proxy`.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// A new workspace whose ship.toml is as `ship init` wrote it, with the proxy on free ports
/// and `extra` appended.
fn proxy_ws(extra: &str) -> Ws {
    let ws = Ws::init();
    let cfg = ws
        .read("ship.toml")
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("admin = \"127.0.0.1:9091\"", "admin = \"127.0.0.1:0\"");
    ws.write("ship.toml", &format!("{cfg}\n{extra}\n"));
    ws
}

#[test]
fn a_workspace_without_instances_is_refused_with_the_fix() {
    let ws = proxy_ws("");
    let r = ws.ship_exits(&["proxy"], 2);
    r.text_has("[[proxy.instances]]");
}

#[test]
fn the_admin_token_comes_from_the_environment_or_nothing_starts() {
    let ws = proxy_ws("[[proxy.instances]]\nversion = \"stable\"\naddress = \"127.0.0.1:9\"\n");
    let r = ws.sh_exits("env -u SHIP_ADMIN_TOKEN ship proxy", 2);
    r.text_has("$SHIP_ADMIN_TOKEN");
    let r = ws.sh("SHIP_ADMIN_TOKEN=short ship proxy");
    r.text_has("at least 16 characters");
}

#[test]
fn an_instance_that_dies_at_start_is_named() {
    let ws = proxy_ws("[[proxy.instances]]\nversion = \"stable\"\naddress = \"127.0.0.1:1\"\n[[proxy.instances]]\nversion = \"canary\"\naddress = \"127.0.0.1:9\"\ncommand = \"sh -c 'exit 3'\"\n");
    let r = ws.sh_exits("SHIP_ADMIN_TOKEN=0123456789abcdef0123 ship proxy", 2);
    r.text_has("127.0.0.1:9");
    r.text_has("exited");
}

#[test]
fn a_builtin_rollout_without_the_token_starts_nothing() {
    let (ws, _) = Ws::approved();
    let cfg = ws
        .read("ship.toml")
        .replace("[router]\n", "[router]\nkind = \"builtin\"\n")
        .replacen("kind = \"command\"\n", "", 1);
    ws.write("ship.toml", &cfg);
    let r = ws.sh_exits(
        &format!("env -u SHIP_ADMIN_TOKEN ship rollout start {ID} {WAIVE}"),
        2,
    );
    r.text_has("$SHIP_ADMIN_TOKEN");
    let r = ws.ship(&["rollout", "status", ID]);
    assert_ne!(r.code, 0, "no rollout was recorded: {}", r.text());
}
