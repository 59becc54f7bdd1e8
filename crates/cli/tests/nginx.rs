//! The nginx router against a real nginx (started here on free loopback ports with its own
//! prefix): rollouts move real traffic between two `ship-sample` versions.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;
use common::servers::{self, Server};
use common::*;
use shiploop_providers::routers::nginx::{NginxRouter, NginxRouterCfg};
use shiploop_providers::{RouteContext, TrafficRouter};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

struct Nginx {
    child: Child,
    prefix: tempfile::TempDir,
    front: SocketAddr,
    status: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers; killed, it would orphan them.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn flags(&self) -> String {
        format!(
            "-c {} -p {}",
            self.prefix.path().join("nginx.conf").display(),
            self.prefix.path().display()
        )
    }

    /// The versions that answered `n` requests through nginx.
    fn versions(&self, n: usize) -> Vec<String> {
        servers::versions(self.front, n)
    }
}

/// The nginx router of service `checkout` in `dir`, writing `include`, for the `[stable, canary,
/// status server]` addresses, its commands given `secs` seconds (no test or reload command yet).
fn router(
    dir: &std::path::Path,
    include: std::path::PathBuf,
    [stable, canary, status]: [std::net::SocketAddr; 3],
    secs: u64,
) -> NginxRouter {
    NginxRouter {
        cfg: NginxRouterCfg {
            stable: vec![stable.to_string()],
            canary: vec![canary.to_string()],
            status_listen: status.to_string(),
            test_command: String::new(),
            reload_command: String::new(),
            ..Default::default()
        },
        include_file: include,
        service: "checkout".into(),
        runner: shiploop_providers::runner::Runner {
            dir: dir.into(),
            timeout: std::time::Duration::from_secs(secs),
        },
    }
}

/// nginx with `workers` worker processes routing `/` through the include ship owns, which
/// starts at 0 %.
fn nginx(router: &NginxRouter, workers: u32) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let front = servers::free_addr();
    std::fs::create_dir_all(prefix.path().join("logs")).unwrap();
    let ctx = RouteContext {
        service: "checkout".into(),
        release: "-".into(),
        stage: "-".into(),
    };
    std::fs::write(&router.include_file, router.render(0, &ctx)).unwrap();
    let p = prefix.path().display();
    let conf = format!(
        "daemon off;\nworker_processes {workers};\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
         events {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n\
         client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi;\n\
         uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
         include {};\n\
         server {{ listen {front}; location / {{ proxy_pass http://$ship_checkout_upstream; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n",
        router.include_file.display()
    );
    std::fs::write(prefix.path().join("nginx.conf"), conf).unwrap();
    let mut child = Command::new(servers::binary("nginx"))
        .arg("-c")
        .arg(prefix.path().join("nginx.conf"))
        .arg("-p")
        .arg(prefix.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let status: SocketAddr = router.cfg.status_listen.parse().unwrap();
    servers::wait_ready(&format!("http://{status}/ship-weight"), &mut child, "nginx");
    Nginx {
        child,
        prefix,
        front,
        status,
    }
}

/// A workspace routing through nginx, with nginx running at 0 % and an approved release `web`.
fn nginx_ws(v1: &Server, v2: &Server, split_key: &str) -> (Ws, Nginx) {
    let ws = Ws::init();
    let status = servers::free_addr();
    let include = ws.path("nginx-ship.conf");
    let router = router(ws.root(), include.clone(), [v1.addr, v2.addr, status], 5);
    let ngx = nginx(&router, 1);
    let nginx_bin = servers::binary("nginx");
    let cfg = fast_stages(&ws.read("ship.toml"))
        .replacen(
            &format!("name = \"{}\"", ws.service_name()),
            "name = \"checkout\"",
            1,
        )
        .replace(
            "# What moves traffic: \"builtin\"",
            "kind = \"nginx\"\n# What moves traffic: \"builtin\"",
        )
        .replacen(
            "kind = \"command\"\n\n[router.command]",
            "\n[router.command]",
            1,
        )
        .replace("include_file = \"\"", "include_file = \"nginx-ship.conf\"")
        .replace(
            "stable = []                      # e.g. [\"10.0.0.1:8080\"]",
            &format!("stable = [\"{}\"]", v1.addr),
        )
        .replace(
            "canary = []\n# What split_clients",
            &format!("canary = [\"{}\"]\n# What split_clients", v2.addr),
        )
        .replace(
            "split_key = \"$request_id\"",
            &format!("split_key = \"{split_key}\""),
        )
        .replace(
            "status_listen = \"127.0.0.1:9190\"",
            &format!("status_listen = \"{status}\""),
        )
        .replace(
            "test_command = \"nginx -t\"",
            &format!(
                "test_command = \"{} -t -q {}\"",
                nginx_bin.display(),
                ngx.flags()
            ),
        )
        .replace(
            "reload_command = \"nginx -s reload\"",
            &format!(
                "reload_command = \"{} -s reload {}\"",
                nginx_bin.display(),
                ngx.flags()
            ),
        )
        .replace(
            "probe_url = \"\"",
            &format!("probe_url = \"http://{}/checkout\"", ngx.front),
        )
        .replace("stable_value = \"\"", "stable_value = \"v1\"")
        .replace("canary_value = \"\"", "canary_value = \"v2\"")
        .replace(
            "command = \"\"\ntimeout = \"10s\"",
            "command = \"cat metrics.json\"\ntimeout = \"10s\"",
        );
    ws.write("ship.toml", &cfg);
    ws.write("metrics.json", HEALTHY);
    ws.verdict("v-pass-1", "PASS", "Faster checkout");
    ws.approve_web();
    (ws, ngx)
}

#[test]
fn a_good_release_ends_with_nginx_serving_only_the_new_version() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let (ws, ngx) = nginx_ws(&v1, &v2, "$request_id");
    assert_eq!(ngx.versions(10), ["v1"]);
    ws.ship_exits(&start("web"), 0);
    assert_eq!(ngx.versions(30), ["v2"], "nginx serves only v2 afterwards");
    assert!(ws.read("nginx-ship.conf").contains("return 200 \"100\\n\""));
    let (_, w) = servers::http_get(&format!("http://{}/ship-weight", ngx.status)).unwrap();
    assert_eq!(w.trim(), "100");
}

#[test]
fn a_bad_release_rolls_back_and_nginx_serves_only_the_old_version() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    let (ws, ngx) = nginx_ws(&v1, &v2, "$http_x_user_id");
    ws.write("metrics.json", &failing(7.0));
    let r = ws.ship(&start("web"));
    assert_eq!(r.code, 1, "rolled back: {}", r.text());
    assert_eq!(ngx.versions(30), ["v1"], "nginx serves only v1 afterwards");
}

#[test]
fn a_file_nginx_rejects_is_put_back_and_the_step_fails() {
    let v1 = servers::sample(&["--version", "v1"]);
    let v2 = servers::sample(&["--version", "v2"]);
    // A variable nginx does not know: `nginx -t` rejects the include.
    let (ws, ngx) = nginx_ws(&v1, &v2, "$ship_no_such_variable");
    let before = ws.read("nginx-ship.conf");
    let r = ws.ship(&start("web"));
    assert_ne!(r.code, 0, "{}", r.text());
    assert_eq!(
        ws.read("nginx-ship.conf"),
        before,
        "the previous file is in place"
    );
    assert_eq!(
        ngx.versions(10),
        ["v1"],
        "nginx still serves the old version"
    );
    let log = ws.ship(&["--json", "audit", "log"]).stdout;
    assert!(log.contains("nginx rejected"), "{log}");
}

#[test]
fn once_a_weight_is_confirmed_every_worker_answers_it() {
    // For a moment after a reload nginx's old workers still answer with the old include; the
    // router confirms a weight only when its status server has answered it several times in
    // a row on new connections. Asked right away, every worker then agrees.
    let dir = tempfile::tempdir().unwrap();
    let mut router = router(
        dir.path(),
        dir.path().join("nginx-ship.conf"),
        [
            servers::free_addr(),
            servers::free_addr(),
            servers::free_addr(),
        ],
        10,
    );
    let ngx = nginx(&router, 2);
    let bin = servers::binary("nginx");
    router.cfg.test_command = format!("{} -t -q {}", bin.display(), ngx.flags());
    router.cfg.reload_command = format!("{} -s reload {}", bin.display(), ngx.flags());
    let ctx = RouteContext {
        service: "checkout".into(),
        release: "r".into(),
        stage: "canary".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for weight in [5u8, 25, 50, 100, 0] {
        rt.block_on(router.set_weight(&ctx, weight)).unwrap();
        let answers: Vec<String> = (0..20)
            .map(|_| {
                // servers::http_get opens a new connection and asks nginx to close it.
                let (_, body) =
                    servers::http_get(&format!("http://{}/ship-weight", ngx.status)).unwrap();
                body.trim().to_string()
            })
            .collect();
        assert!(
            answers.iter().all(|a| *a == weight.to_string()),
            "confirmed {weight} %, then nginx answered {answers:?}"
        );
    }
}
