//! A fleet of two real nginx "hosts" (two nginx masters, each under its own prefix in a temp
//! dir), built from ship.toml's `[[router.nginx.fleet]]`, each with its own include file,
//! status server and test/reload commands: the split reaches both; a host whose reload fails
//! is named, and the other still moves.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use shiploop_providers::cfg::{AdminSettings, BuildContext};
use shiploop_providers::routers::RouterCfg;
use shiploop_providers::{RouteContext, TrafficRouter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ctx() -> RouteContext {
    RouteContext {
        service: "web".into(),
        release: "r".into(),
        stage: "canary".into(),
    }
}

/// An nginx master, stopped (SIGTERM: it stops its workers) when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed; the test command installs it (apt-get install -y {name})");
}

fn free_addr() -> String {
    shiploop_testkit::free_addr().to_string()
}

/// One host: its prefix (`root/<name>`), the include file in it, and its nginx flags.
struct Host {
    prefix: PathBuf,
    status: String,
}

impl Host {
    fn new(root: &Path, name: &str) -> Host {
        let prefix = root.join(name);
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        Host {
            prefix,
            status: free_addr(),
        }
    }
    fn include(&self) -> PathBuf {
        self.prefix.join("ship.conf")
    }
    fn flags(&self) -> String {
        format!(
            "-c {} -p {}",
            self.prefix.join("nginx.conf").display(),
            self.prefix.display()
        )
    }
    /// Starts nginx on an include that says weight 0 (as ship would write it).
    fn start(&self) -> Nginx {
        let p = self.prefix.display();
        let host = "ship-weight.web";
        std::fs::write(
            self.include(),
            format!(
                "upstream ship_web_stable {{ server 127.0.0.1:9; }}\nupstream ship_web_canary {{ server 127.0.0.1:9; }}\n\
                 split_clients \"$request_id\" $ship_web_upstream {{ * ship_web_stable; }}\n\
                 server {{ listen {}; server_name {host}; location = /ship-weight {{ return 200 \"0\\n\"; }} }}\n",
                self.status
            ),
        )
        .unwrap();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
             events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n\
             client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi;\n\
             uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n  include {};\n}}\n",
            self.include().display()
        );
        std::fs::write(self.prefix.join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary("nginx"))
            .args(self.flags().split(' '))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let n = Nginx(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(&self.status).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }
    /// Its `[[router.nginx.fleet]]` table; `reload` overrides the reload command.
    fn member(&self, reload: Option<&str>) -> String {
        let nginx = binary("nginx").display().to_string();
        let reload = reload
            .map(str::to_string)
            .unwrap_or_else(|| format!("{nginx} {} -s reload", self.flags()));
        format!(
            "[[nginx.fleet]]\ninclude_file = {:?}\nstatus_listen = {:?}\ntest_command = {:?}\nreload_command = {reload:?}\n",
            self.include().display().to_string(),
            self.status,
            format!("{nginx} {} -t -q", self.flags()),
        )
    }
}

/// The router ship.toml's `[router]` builds for `members`.
fn router(root: &Path, members: &[String]) -> Box<dyn TrafficRouter> {
    let cfg: RouterCfg = toml::from_str(&format!(
        "kind = \"nginx\"\n[nginx]\nstable = [\"127.0.0.1:9\"]\ncanary = [\"127.0.0.1:9\"]\ntimeout = \"10s\"\n{}",
        members.concat()
    ))
    .unwrap();
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    let admin = AdminSettings {
        addr: String::new(),
        url: String::new(),
        token_env: String::new(),
        fleet: Vec::new(),
    };
    let cx = BuildContext {
        root,
        service: "web",
        env: &|_| None,
        admin: &admin,
        asker: None,
    };
    cfg.build(&cx).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_split_reaches_every_nginx_host_and_a_failed_reload_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (Host::new(dir.path(), "one"), Host::new(dir.path(), "two"));
    let (_a, _b) = (one.start(), two.start());
    let fleet = router(dir.path(), &[one.member(None), two.member(None)]);
    let out = fleet.set_weight(&ctx(), 25).await.unwrap();
    assert_eq!(out.members.len(), 2, "{out:?}");
    assert!(out.members.iter().all(|m| m.confirmed), "{out:?}");
    assert!(
        out.detail.contains(&format!(
            "confirmed: nginx {} (nginx serves 25 %",
            one.status
        )),
        "{}",
        out.detail
    );
    assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(25));

    // The second host's reload fails: the first moves, the second does not, and the error
    // names both.
    let broken = router(dir.path(), &[one.member(None), two.member(Some("exit 3"))]);
    let e = broken.set_weight(&ctx(), 50).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("1 of 2 members confirmed"), "{text}");
    assert!(
        text.contains(&format!(
            "confirmed: nginx {} (nginx serves 50 %",
            one.status
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("NOT confirmed: nginx {} (", two.status)),
        "{text}"
    );
    // A rollback is tried on both: the host that reloads goes back to 0 %.
    assert!(broken.roll_back(&ctx()).await.is_err());
    let e = fleet.effective_weight(&ctx()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("nginx {} carries 0", one.status)),
        "{e}"
    );
    // Fixed, the fleet's rollback completes on both.
    fleet.roll_back(&ctx()).await.unwrap();
    assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(0));
}
