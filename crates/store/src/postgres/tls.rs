//! TLS to PostgreSQL, as libpq's URL parameters ask for it.
//!
//! tokio-postgres parses `sslmode` itself but knows only `disable`, `prefer` (its default) and
//! `require`, and refuses parameters it does not know. So `sslrootcert` and the two verifying
//! modes (`verify-ca`, `verify-full`) are taken out of the URL here, the mode handed to the
//! driver as `require` (TLS or no connection), and the verification done by the rustls
//! connector built for the URL ([`super::verify`]).
//!
//! What is verified follows libpq: `prefer` and `require` encrypt without authenticating the
//! server — unless `sslrootcert` names a root, then the chain is verified as `verify-ca` does;
//! `verify-ca` verifies the chain; `verify-full` the chain and that the certificate names the
//! host of the URL. The roots are `sslrootcert`'s file, else the Mozilla roots built into ship
//! (webpki-roots, as ship's HTTP clients use; libpq's `~/.postgresql/root.crt` is not read).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::config::SslMode;
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::bridge::store_error;
use super::verify::{self, Strength};
use crate::{Result, StoreError};

/// The `sslmode` of a URL, libpq's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise (the default).
    Prefer,
    /// TLS, or no connection.
    Require,
    /// TLS, the server's certificate chaining to a trusted root.
    VerifyCa,
    /// TLS, the certificate chaining to a trusted root and naming the host.
    VerifyFull,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// How a URL's connections are secured: its mode, its roots and the connector they make.
#[derive(Clone)]
pub struct Tls {
    mode: Mode,
    root_file: Option<PathBuf>,
    strength: Strength,
    connector: MakeRustlsConnect,
}

/// For messages: `sslmode=verify-full, roots from /etc/ship/ca.pem`.
impl fmt::Display for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode.name())?;
        match (self.strength, &self.root_file) {
            (Strength::Nothing, _) => f.write_str(", the server's certificate not verified"),
            (_, Some(file)) => write!(f, ", roots from {}", file.display()),
            (_, None) => f.write_str(", the Mozilla roots (webpki-roots)"),
        }
    }
}

impl Tls {
    /// What the driver connects with (a clone shares the rustls configuration).
    pub fn connector(&self) -> MakeRustlsConnect {
        self.connector.clone()
    }
}

/// The driver's configuration and the TLS of a `postgres://` URL.
/// [`StoreError::BadLocation`] when it does not parse or its `sslrootcert` cannot be read.
pub fn parse(url: &str) -> Result<(Config, Tls)> {
    let bad =
        |e: String| StoreError::BadLocation(format!("the PostgreSQL URL does not parse: {e}"));
    let split = split_params(url).map_err(bad)?;
    let config = Config::from_str(&split.url).map_err(|e| bad(e.to_string()))?;
    let mode = match split.verify {
        Some(verify) => verify,
        None => match config.get_ssl_mode() {
            SslMode::Disable => Mode::Disable,
            SslMode::Require => Mode::Require,
            _ => Mode::Prefer,
        },
    };
    let strength = match (mode, &split.root_file) {
        (Mode::VerifyFull, _) => Strength::ChainAndName,
        (Mode::VerifyCa, _) | (_, Some(_)) => Strength::Chain,
        _ => Strength::Nothing,
    };
    let roots = match &split.root_file {
        Some(file) => roots_from(file)?,
        None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup = |e: String| StoreError::BadLocation(format!("TLS to PostgreSQL: {e}"));
    let verifier = verify::verifier(strength, Arc::new(roots), provider.clone())
        .map_err(|e| setup(e.to_string()))?;
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // PostgreSQL 17's direct TLS (`sslnegotiation=direct`) needs it; older servers ignore it.
    client.alpn_protocols = vec![b"postgresql".to_vec()];
    let tls = Tls {
        mode,
        root_file: split.root_file,
        strength,
        connector: MakeRustlsConnect::new(client),
    };
    Ok((config, tls))
}

/// A URL with what tokio-postgres does not know taken out.
#[derive(Debug, PartialEq)]
pub struct Split {
    /// The URL for tokio-postgres.
    pub url: String,
    /// `verify-ca` or `verify-full` when the (last) `sslmode` said so.
    pub verify: Option<Mode>,
    /// `sslrootcert`'s file.
    pub root_file: Option<PathBuf>,
}

/// Takes `sslrootcert` and a verifying `sslmode` out of a URL's parameters, finding them where
/// tokio-postgres does (after the first `@`, the first `?`); a verifying mode is left as
/// `sslmode=require`. A later parameter overrides an earlier one, as in tokio-postgres.
pub fn split_params(url: &str) -> std::result::Result<Split, String> {
    let body_at = ["postgres://", "postgresql://"]
        .iter()
        .find(|p| url.starts_with(*p))
        .map_or(0, |p| p.len());
    let after_user = url[body_at..]
        .find('@')
        .map_or(body_at, |i| body_at + i + 1);
    let Some(q) = url[after_user..].find('?').map(|i| after_user + i) else {
        return Ok(Split {
            url: url.to_string(),
            verify: None,
            root_file: None,
        });
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|e| format!("{s:?}: {e}"))
    };
    let (mut kept, mut verify, mut root_file) = (vec![], None, None);
    for param in url[q + 1..].split('&') {
        let Some((key, value)) = param.split_once('=') else {
            kept.push(param.to_string());
            continue;
        };
        match decode(key)?.as_str() {
            "sslrootcert" => root_file = Some(PathBuf::from(decode(value)?)),
            "sslmode" => {
                verify = match decode(value)?.as_str() {
                    "verify-ca" => Some(Mode::VerifyCa),
                    "verify-full" => Some(Mode::VerifyFull),
                    _ => None,
                };
                kept.push(match verify {
                    Some(_) => "sslmode=require".to_string(),
                    None => param.to_string(),
                });
            }
            _ => kept.push(param.to_string()),
        }
    }
    let mut out = url[..q].to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok(Split {
        url: out,
        verify,
        root_file,
    })
}

/// The certificates of a PEM file, as roots.
fn roots_from(file: &PathBuf) -> Result<RootCertStore> {
    let bad = |e: String| StoreError::BadLocation(format!("sslrootcert {}: {e}", file.display()));
    let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// rustls's reason when the TLS handshake failed (the driver's error holds the connector's
/// `io::Error`, which holds rustls's).
pub fn handshake_failure(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let io = std::error::Error::source(e)?.downcast_ref::<std::io::Error>()?;
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A failed connection as a store error naming `target` (`host:port`), never the password: a
/// refused TLS handshake is [`StoreError::Unavailable`] with rustls's reason and what was
/// verified; so is a session that could not be set up without the database answering (a
/// server without TLS under `sslmode=require`). The database's own refusals (authentication,
/// no such database) stay [`store_error`]'s.
pub fn connect_error(e: &tokio_postgres::Error, target: &str, tls: &Tls) -> StoreError {
    if let Some(reason) = handshake_failure(e) {
        return StoreError::Unavailable(format!(
            "PostgreSQL at {target}: TLS handshake failed ({tls}): {reason}"
        ));
    }
    match store_error(e, target) {
        StoreError::Postgres(text) if e.as_db_error().is_none() => {
            StoreError::Unavailable(format!("PostgreSQL at {target} ({tls}): {text}"))
        }
        other => other,
    }
}
