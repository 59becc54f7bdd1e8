//! A throw-away PostgreSQL cluster for a test: Debian's `postgresql` binaries, `initdb` into a
//! temporary folder, the server on a free loopback port (its unix socket inside that folder,
//! fsync off), a database per test, stopped when dropped.
//!
//! initdb refuses to run as root: as root (CI, the developers' machines) the cluster runs as
//! the `postgres` system user the package creates, in a folder handed to it.
//!
//! [`Cluster::start_with_tls_or_skip`] starts one that also accepts TLS (`ssl = on`) with a
//! certificate and key the test made.
//!
//! Missing binaries fail the test with the install command (`apt-get install -y postgresql`;
//! scripts/test.sh installs it). Outside CI, `SHIP_SKIP_POSTGRES=1` skips PostgreSQL tests
//! instead ([`Cluster::start_or_skip`] answers None); with `CI=true` nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The variable that lets a machine without PostgreSQL skip its tests (never in CI).
pub const SKIP_VAR: &str = "SHIP_SKIP_POSTGRES";

/// A running PostgreSQL cluster, stopped (and its folder removed) when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Starts a cluster; fails the test when PostgreSQL is not installed.
    pub fn start() -> Cluster {
        match Cluster::start_or_skip() {
            Some(c) => c,
            None => panic!("PostgreSQL is not installed (and {SKIP_VAR}=1 said to skip)"),
        }
    }

    /// Starts a cluster, or None when PostgreSQL is not installed and `SHIP_SKIP_POSTGRES=1`
    /// outside CI (the test then returns without testing: say so). Missing binaries fail the
    /// test otherwise.
    pub fn start_or_skip() -> Option<Cluster> {
        Cluster::start_with(None)
    }

    /// [`Cluster::start_or_skip`], the server also accepting TLS (`ssl = on`, plain connections
    /// still allowed) with the certificate (chain) and unencrypted key of these PEM files.
    pub fn start_with_tls_or_skip(cert: &Path, key: &Path) -> Option<Cluster> {
        Cluster::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Option<Cluster> {
        let Some(bin) = binaries() else {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            let skip = std::env::var(SKIP_VAR).is_ok_and(|v| v == "1");
            if skip && !ci {
                eprintln!("PostgreSQL is not installed: skipped ({SKIP_VAR}=1)");
                return None;
            }
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
                 apt-get install -y postgresql (scripts/test.sh does); outside CI, \
                 {SKIP_VAR}=1 skips these tests"
            );
        };
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("ship-pg-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of {} to postgres failed", dir.path().display());
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let data = cluster.data();
        cluster.run_ok(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "ship",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let ssl = match tls {
            Some((cert, key)) => {
                cluster.install_tls(cert, key);
                " -c ssl=on"
            }
            None => "",
        };
        // A port taken between choosing and binding fails the start: choose again.
        for attempt in 0.. {
            cluster.port = crate::free_addr().port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{ssl}",
                cluster.port,
                path_str(cluster.dir.path())
            );
            let log = cluster.dir.path().join("server.log");
            let out = cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if out.status.success() {
                break;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < 3,
                "PostgreSQL did not start: {}\n{log}",
                text(&out)
            );
        }
        Some(cluster)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of a database of the cluster, without creating it.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://ship@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates the database `name` (empty) and answers its URL.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run_ok(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "ship", name],
        );
        self.url(name)
    }

    /// Copies the certificate and key where the server reads them by default (`server.crt`,
    /// `server.key` in its data folder), the key readable by the server's user alone, as
    /// PostgreSQL demands.
    fn install_tls(&self, cert: &Path, key: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data();
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = data.join(name);
            std::fs::copy(from, &to)
                .unwrap_or_else(|e| panic!("{} to {}: {e}", from.display(), to.display()));
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            if self.as_postgres {
                let ok = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&to)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "chown of {} to postgres failed", to.display());
            }
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a PostgreSQL binary (as `postgres` when this is root).
    fn run(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The binaries' working folder must be readable by the user they run as.
        cmd.args(args).current_dir(self.dir.path());
        cmd.output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    }

    fn run_ok(&self, name: &str, args: &[&str]) {
        let out = self.run(name, args);
        assert!(out.status.success(), "{name} failed: {}", text(&out));
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.run(
                "pg_ctl",
                &["-D", path_str(&data), "-m", "immediate", "stop"],
            );
        }
    }
}
