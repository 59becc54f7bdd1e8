//! What every provider's configuration shares: the problems validation finds (with the key
//! each is about), the context a provider is built in, and server authentication.

use crate::admin::AdminClient;
use crate::http::{Auth, Http};
use crate::runner::Runner;
use crate::ProviderError;
use shiploop_artifacts::Dur;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A problem in a provider's table and the key it is about, as a path from the top of
/// ship.toml (`["router", "nginx", "include_file"]`; a named table by its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The keys from the top of ship.toml to the one the problem is about.
    pub path: Vec<String>,
    /// What is wrong, naming the setting.
    pub message: String,
}

impl Problem {
    /// A problem with the key at `path`.
    pub fn new(path: &[&str], message: impl Into<String>) -> Problem {
        Problem {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }
}

/// Collects the problems of one table (`router.nginx`): `at(key, message)`.
pub struct Problems<'t> {
    table: &'t [&'t str],
    /// The problems found so far.
    pub found: Vec<Problem>,
}

impl<'t> Problems<'t> {
    /// No problems yet with `table` (`["router", "nginx"]`).
    pub fn new(table: &'t [&'t str]) -> Problems<'t> {
        Problems {
            table,
            found: Vec::new(),
        }
    }

    /// A problem with `key` (a path below the table: `["queries", "cpu", "query"]`).
    pub fn at(&mut self, key: &[&str], message: impl Into<String>) {
        let path: Vec<&str> = self.table.iter().chain(key).copied().collect();
        self.found.push(Problem::new(&path, message));
    }

    /// The table's name as ship.toml writes it: `metrics.prometheus`.
    pub fn name(&self) -> String {
        self.table.join(".")
    }
}

/// How ship authenticates to a server; secrets come from environment variables, never the file.
pub trait AuthCfg {
    /// `bearer_token_env`: the variable holding a bearer token.
    fn bearer_token_env(&self) -> &str;
    /// `basic_user`: a basic-auth user.
    fn basic_user(&self) -> &str;
    /// `basic_password_env`: the variable holding its password.
    fn basic_password_env(&self) -> &str;
    /// `ca_file`: extra CA certificates (PEM), relative to the workspace.
    fn ca_file(&self) -> &str;
}

/// Defines a server's table: its own keys, each `pub key: Type = default,` with its doc, and
/// after `..auth,` the four authentication keys every server table takes (documented and
/// defaulted here, once), then its remaining keys; with `Default` and [`AuthCfg`] for it.
/// A macro because serde's `flatten` does not work with `deny_unknown_fields`.
macro_rules! auth_cfg {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$bm:meta])* pub $bf:ident: $bt:ty = $bd:expr,)*
            ..auth,
            $($(#[$am:meta])* pub $af:ident: $at:ty = $ad:expr,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$bm])* pub $bf: $bt,)*
            /// The environment variable holding a bearer token ("": none).
            pub bearer_token_env: String,
            /// Basic-auth user ("": none).
            pub basic_user: String,
            /// The environment variable holding the basic-auth password.
            pub basic_password_env: String,
            /// A PEM file of extra trusted CA certificates (relative to the workspace).
            pub ca_file: String,
            $($(#[$am])* pub $af: $at,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($bf: $bd,)*
                    bearer_token_env: String::new(),
                    basic_user: String::new(),
                    basic_password_env: String::new(),
                    ca_file: String::new(),
                    $($af: $ad,)*
                }
            }
        }

        impl $crate::cfg::AuthCfg for $name {
            fn bearer_token_env(&self) -> &str {
                &self.bearer_token_env
            }
            fn basic_user(&self) -> &str {
                &self.basic_user
            }
            fn basic_password_env(&self) -> &str {
                &self.basic_password_env
            }
            fn ca_file(&self) -> &str {
                &self.ca_file
            }
        }
    };
}
pub(crate) use auth_cfg;

/// `{table}.url` must be an http:// or https:// URL.
pub(crate) fn check_url(p: &mut Problems, url: &str) {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let m = format!("{}.url {url:?}: an http:// or https:// URL", p.name());
        p.at(&["url"], m);
    }
}

/// One kind of authentication, and a basic user with its password.
pub(crate) fn check_auth(p: &mut Problems, a: &dyn AuthCfg) {
    let table = p.name();
    if !a.bearer_token_env().is_empty() && !a.basic_user().is_empty() {
        p.at(
            &["basic_user"],
            format!("{table}: bearer_token_env and basic_user: give one kind of authentication"),
        );
    } else if a.basic_user().is_empty() != a.basic_password_env().is_empty() {
        p.at(
            &["basic_user"],
            format!("{table}: basic_user and basic_password_env go together"),
        );
    }
}

/// Where ship's own proxy's admin API is (`[proxy]`), for the builtin providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `proxy.admin` as written, for messages.
    pub addr: String,
    /// `http://…` of it.
    pub url: String,
    /// `proxy.token_env`: the variable holding the admin token.
    pub token_env: String,
    /// `router.builtin.fleet`: the admin APIs (`host:port`) of every proxy of a fleet, all
    /// taking the same token; empty: the one proxy at `proxy.admin`. The builtin metric source
    /// reads them all.
    pub fleet: Vec<String>,
}

impl AdminSettings {
    /// The admin APIs of the proxies: (`host:port` as written, `http://…`), one per proxy.
    pub fn members(&self) -> Vec<(String, String)> {
        if self.fleet.is_empty() {
            return vec![(self.addr.clone(), self.url.clone())];
        }
        self.fleet
            .iter()
            .map(|a| (a.clone(), format!("http://{}", a.trim())))
            .collect()
    }
}

/// What a provider is built with besides its own table.
pub struct BuildContext<'a> {
    /// The workspace: relative paths and commands start there.
    pub root: &'a Path,
    /// `service.name`.
    pub service: &'a str,
    /// Reads an environment variable (secrets live there, never in ship.toml).
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// Where ship's proxy's admin API is.
    pub admin: &'a AdminSettings,
    /// What asks for the provider when it is not the configured one (`outcome metric p99
    /// (source: builtin)`), for messages; None: the configured one.
    pub asker: Option<&'a str>,
}

impl BuildContext<'_> {
    /// A path of ship.toml: relative to the workspace, or absolute.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }

    /// Commands run in the workspace under `timeout`.
    pub fn runner(&self, timeout: Dur) -> Runner {
        Runner {
            dir: self.root.to_path_buf(),
            timeout: timeout.0,
        }
    }

    /// The admin API client, with the token from `proxy.token_env`. `user` is what asks for
    /// it (`metrics.kind = "builtin"`, …), for the message when the token is missing. Admin
    /// calls are local and quick; one that takes 10 s is an error for that tick.
    pub fn admin_client(&self, user: &str) -> Result<AdminClient, ProviderError> {
        self.admin_client_at(&self.admin.url, user)
    }

    /// The clients of every proxy's admin API ([`AdminSettings::members`]), each with the
    /// `host:port` messages name it by.
    pub fn admin_clients(&self, user: &str) -> Result<Vec<(String, AdminClient)>, ProviderError> {
        self.admin
            .members()
            .into_iter()
            .map(|(addr, url)| Ok((addr, self.admin_client_at(&url, user)?)))
            .collect()
    }

    /// The admin API client of the proxy at `url`, with the token from `proxy.token_env`.
    pub fn admin_client_at(&self, url: &str, user: &str) -> Result<AdminClient, ProviderError> {
        let a = self.admin;
        let token = (self.env)(&a.token_env).unwrap_or_default();
        if token.trim().len() < 16 {
            return Err(ProviderError::config(format!(
                "ship.toml: {user} uses ship's proxy's admin API (proxy.admin = \"{}\"): set ${} (proxy.token_env) to its admin API token (at least 16 characters), as for `ship proxy`",
                a.addr, a.token_env
            )));
        }
        AdminClient::new(url, token.trim(), Duration::from_secs(10))
    }

    /// An HTTP client for a server table: its timeout, auth from environment variables, extra CA.
    pub fn http(&self, table: &str, a: &dyn AuthCfg, timeout: Dur) -> Result<Http, ProviderError> {
        let env = |key: &str, var: &str| {
            (self.env)(var).ok_or_else(|| {
                ProviderError::config(format!(
                    "ship.toml: {table}.{key} = {var:?}: ${var} is not set (it holds {table}'s secret)"
                ))
            })
        };
        let auth = if !a.bearer_token_env().is_empty() {
            Auth::Bearer(
                env("bearer_token_env", a.bearer_token_env())?
                    .trim()
                    .to_string(),
            )
        } else if !a.basic_user().is_empty() {
            Auth::Basic {
                user: a.basic_user().to_string(),
                password: env("basic_password_env", a.basic_password_env())?,
            }
        } else {
            Auth::None
        };
        let ca = match a.ca_file() {
            "" => None,
            f => {
                let path = self.path(f);
                Some(std::fs::read(&path).map_err(|e| {
                    ProviderError::config(format!(
                        "ship.toml: {table}.ca_file = {f:?}: cannot read {}: {e}",
                        path.display()
                    ))
                })?)
            }
        };
        Http::new(timeout.0, auth, ca.as_deref())
            .map_err(|e| e.context(format!("ship.toml: {table}")))
    }
}

/// A trimmed setting, None when empty.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `host:port` (a name or an address, `[…]` for IPv6), nothing more.
pub(crate) fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !s.contains(|c: char| c.is_whitespace() || c == '/')
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// The first entry of `list` listed twice.
pub(crate) fn repeated(list: &[String]) -> Option<&String> {
    list.iter()
        .enumerate()
        .find(|(i, a)| list[..*i].iter().any(|b| b.trim() == a.trim()))
        .map(|(_, a)| a)
}
