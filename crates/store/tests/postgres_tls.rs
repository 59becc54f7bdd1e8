//! TLS to a real PostgreSQL (a throw-away cluster with `ssl = on` and certificates made here
//! with the `openssl` command): each `sslmode` encrypts and verifies what libpq's does, and a
//! certificate that does not verify is a clear error naming `host:port`, never the password.
//!
//! Needs Debian's `postgresql` package and `openssl`; outside CI, `SHIP_SKIP_POSTGRES=1` skips
//! these tests on a machine without PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use shiploop_store::{PgStore, StoreError};
use shiploop_testkit::postgres::Cluster;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority: `<name>.pem` and `<name>.key` in `dir`.
fn authority(dir: &Path, name: &str) -> PathBuf {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    dir.join(pem)
}

/// The server's certificate and key, issued by the authority `ca` for the name `localhost`
/// only (not for 127.0.0.1: verify-full by address must fail where verify-ca passes).
fn server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    (dir.join("server.crt"), dir.join("server.key"))
}

/// Whether the store's connection is encrypted, as the server sees it (`pg_stat_ssl`).
fn encrypted(st: &PgStore) -> bool {
    let check = |expected: bool| {
        st.batch_execute(&format!(
            "DO $$ BEGIN
               IF (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) IS DISTINCT FROM {expected}
               THEN RAISE EXCEPTION 'ssl is not {expected}'; END IF;
             END $$"
        ))
        .is_ok()
    };
    match (check(true), check(false)) {
        (true, false) => true,
        (false, true) => false,
        other => panic!("pg_stat_ssl answered neither: {other:?}"),
    }
}

/// The message of a store that failed to open, asserted Unavailable, naming `target`, never
/// the password.
fn refused(url: &str, target: &str) -> String {
    let e = PgStore::open_unshared(url).err().unwrap();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(text.contains(target), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    text
}

#[test]
fn sslmodes_encrypt_and_verify_as_libpq() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path(), "ca");
    let wrong = authority(dir.path(), "other-ca");
    let (cert, key) = server_cert(dir.path(), "ca");
    let Some(pg) = Cluster::start_with_tls_or_skip(&cert, &key) else {
        return;
    };
    pg.database("tls");
    let port = pg.port();
    // Trust authentication: the password is never asked for, only carried (and never shown).
    let by_address = format!("postgres://ship:s3cret@127.0.0.1:{port}/tls");
    // The certificate's name, the address still 127.0.0.1 (the server listens there only).
    let by_name = format!("postgres://ship:s3cret@localhost:{port}/tls?hostaddr=127.0.0.1");
    let open = |url: &str| PgStore::open_unshared(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let root = |r: &Path| format!("sslrootcert={}", r.display());

    // The default (prefer) and require encrypt without verifying: libpq's meaning.
    assert!(encrypted(&open(&by_address)));
    assert!(encrypted(&open(&format!("{by_address}?sslmode=require"))));
    assert!(!encrypted(&open(&format!("{by_address}?sslmode=disable"))));
    // require with a root verifies the chain (as libpq does when it has a root file).
    let st = open(&format!("{by_address}?sslmode=require&{}", root(&ca)));
    assert!(encrypted(&st));
    assert_eq!(
        st.schema_versions().unwrap(),
        (1..=PgStore::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert!(encrypted(&open(&format!(
        "{by_address}?sslmode=verify-ca&{}",
        root(&ca)
    ))));
    assert!(encrypted(&open(&format!(
        "{by_name}&sslmode=verify-full&{}",
        root(&ca)
    ))));

    // A root that did not sign the certificate: refused, saying why and what was asked.
    let address_target = format!("127.0.0.1:{port}");
    let name_target = format!("localhost:{port}");
    let text = refused(
        &format!("{by_name}&sslmode=verify-full&{}", root(&wrong)),
        &name_target,
    );
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(text.contains("sslmode=verify-full"), "{text}");
    assert!(text.contains("other-ca.pem"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    let text = refused(
        &format!("{by_address}?sslmode=require&{}", root(&wrong)),
        &address_target,
    );
    assert!(text.contains("UnknownIssuer"), "{text}");
    // verify-full without a root file: the Mozilla roots, which did not sign a test authority.
    let text = refused(&format!("{by_name}&sslmode=verify-full"), &name_target);
    assert!(text.contains("webpki-roots"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    // verify-full checks the name: the certificate is for localhost, not 127.0.0.1.
    let text = refused(
        &format!("{by_address}?sslmode=verify-full&{}", root(&ca)),
        &address_target,
    );
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(text.contains("not valid for name"), "{text}");
}

/// A server without TLS: `require` does not connect (and says so), `prefer` connects in plain.
#[test]
fn require_refuses_a_server_without_tls() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    pg.database("plain");
    let url = format!("postgres://ship:s3cret@127.0.0.1:{}/plain", pg.port());
    let text = refused(
        &format!("{url}?sslmode=require"),
        &format!("127.0.0.1:{}", pg.port()),
    );
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(text.contains("does not support TLS"), "{text}");
    assert!(!encrypted(&PgStore::open_unshared(&url).unwrap()));
}

/// A server that accepts the connection and never answers (here: the TLS request) does not
/// hold ship for ever: unavailable, named by host:port, after the session's time-out.
#[test]
fn a_server_that_never_answers_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = vec![];
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let started = std::time::Instant::now();
    let text = refused(
        &format!("postgres://ship:s3cret@127.0.0.1:{port}/ship?sslmode=require"),
        &format!("127.0.0.1:{port}"),
    );
    assert!(text.contains("no session within"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
