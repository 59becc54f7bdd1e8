//! `[proxy]`: ship's built-in data plane (`ship proxy`), and where `router.kind = "builtin"` and
//! `metrics.kind = "builtin"` find its admin API.

use crate::Problem;
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[proxy]`: ship's built-in proxy.
pub struct ProxyCfg {
    /// Where it serves traffic.
    pub listen: SocketAddr,
    /// Its admin API.
    pub admin: SocketAddr,
    /// The environment variable holding the admin API's bearer token.
    pub token_env: String,
    /// "round-robin" or "least-requests", among one version's instances.
    #[serde(deserialize_with = "balance")]
    pub balance: Balance,
    /// Keep each user on one version by this request header.
    pub sticky_header: String,
    /// …or by this cookie.
    pub sticky_cookie: String,
    /// A request with this header set to `stable` or `canary` goes to that version.
    pub override_header: String,
    /// How long the proxy waits on the upstream.
    pub request_timeout: Dur,
    /// Client connections open at once; one beyond it is closed at once.
    pub max_connections: u32,
    /// How much golden-metric history the proxy keeps (the longest window anyone may ask for).
    pub keep: Dur,
    /// The path health checks request.
    pub health_path: String,
    /// How often instances are checked.
    pub health_interval: Dur,
    /// How long a health check may take.
    pub health_timeout: Dur,
    /// Failed checks in a row that mark an instance unhealthy.
    pub unhealthy_threshold: u32,
    /// Passed checks in a row that mark it healthy again.
    pub healthy_threshold: u32,
    /// How often the resource usage of launched instances is sampled.
    pub resource_interval: Dur,
    /// The upstream instances (`[[proxy.instances]]`).
    pub instances: Vec<InstanceCfg>,
}

/// How one version's instances share its requests (`proxy.balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// In turn.
    RoundRobin,
    /// To the instance with the fewest requests in flight.
    LeastRequests,
}

impl Balance {
    /// The spellings, as ship.toml writes them.
    pub const SPELLINGS: &'static [&'static str] = &["round-robin", "least-requests"];
    const ALL: [(&'static str, Balance); 2] = [
        ("round-robin", Balance::RoundRobin),
        ("least-requests", Balance::LeastRequests),
    ];

    pub(crate) fn problem(written: &str) -> String {
        format!("proxy.balance {written:?}: \"round-robin\" or \"least-requests\"")
    }
}

/// A `--balance` that is not one of the spellings; told as ship.toml's would be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Balance::problem(.0))]
pub struct BadBalance(pub String);

impl std::str::FromStr for Balance {
    type Err = BadBalance;
    fn from_str(s: &str) -> Result<Balance, BadBalance> {
        Balance::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, b)| *b)
            .ok_or_else(|| BadBalance(s.to_string()))
    }
}

fn balance<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Balance, D::Error> {
    crate::choice::one_of(d, &Balance::ALL, Balance::problem)
}

/// Which version an instance serves (`proxy.instances.version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceVersion {
    /// The version in production.
    Stable,
    /// The new version.
    Canary,
}

impl InstanceVersion {
    /// The spellings, as ship.toml writes them.
    pub const SPELLINGS: &'static [&'static str] = &["stable", "canary"];
    const ALL: [(&'static str, InstanceVersion); 2] = [
        ("stable", InstanceVersion::Stable),
        ("canary", InstanceVersion::Canary),
    ];
}

fn instance_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<InstanceVersion, D::Error> {
    crate::choice::one_of(d, &InstanceVersion::ALL, |v| {
        format!("proxy.instances.version {v:?}: \"stable\" or \"canary\"")
    })
}

impl Default for ProxyCfg {
    fn default() -> Self {
        ProxyCfg {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9091)),
            token_env: "SHIP_ADMIN_TOKEN".into(),
            balance: Balance::RoundRobin,
            sticky_header: String::new(),
            sticky_cookie: String::new(),
            override_header: "x-ship-version".into(),
            request_timeout: Dur::from_secs(30),
            max_connections: 10_000,
            keep: Dur::from_secs(600),
            health_path: "/healthz".into(),
            health_interval: Dur::from_secs(5),
            health_timeout: Dur::from_secs(2),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            resource_interval: Dur::from_secs(5),
            instances: Vec::new(),
        }
    }
}

/// One upstream instance. With a `command`, `ship proxy` starts it, stops it on exit, and
/// reports its memory and CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceCfg {
    /// "stable" or "canary".
    #[serde(deserialize_with = "instance_version")]
    pub version: InstanceVersion,
    /// Where it answers.
    pub address: SocketAddr,
    #[serde(default)]
    /// A command that starts it (empty: it runs already).
    pub command: String,
}

fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl ProxyCfg {
    /// The first problem, with where it is.
    pub(crate) fn problem(&self) -> Option<Problem> {
        let at = |key: &str, message: String| Some(Problem::new(&["proxy", key], message));
        if !self.sticky_header.is_empty() && !self.sticky_cookie.is_empty() {
            return at(
                "sticky_cookie",
                "proxy.sticky_header and proxy.sticky_cookie: give one of them".into(),
            );
        }
        for (key, value, required) in [
            ("sticky_header", &self.sticky_header, false),
            ("override_header", &self.override_header, true),
        ] {
            if (required || !value.is_empty()) && !header_name_ok(value) {
                return at(
                    key,
                    format!("proxy.{key} {value:?} is not a valid HTTP header name"),
                );
            }
        }
        if self.token_env.trim().is_empty() {
            return at(
                "token_env",
                "proxy.token_env: name the environment variable that holds the admin token".into(),
            );
        }
        if !self.health_path.starts_with('/') {
            return at(
                "health_path",
                format!(
                    "proxy.health_path {:?}: must start with /",
                    self.health_path
                ),
            );
        }
        for (key, d) in [
            ("request_timeout", self.request_timeout),
            ("health_interval", self.health_interval),
            ("health_timeout", self.health_timeout),
            ("resource_interval", self.resource_interval),
            ("keep", self.keep),
        ] {
            if d.0.is_zero() {
                return at(key, format!("proxy.{key}: must be greater than 0"));
            }
        }
        if self.max_connections == 0 {
            return at(
                "max_connections",
                "proxy.max_connections: at least 1".into(),
            );
        }
        if self.unhealthy_threshold == 0 || self.healthy_threshold == 0 {
            return at(
                "unhealthy_threshold",
                "proxy.unhealthy_threshold and proxy.healthy_threshold: at least 1".into(),
            );
        }
        // Port 0 is "any free port": two of those never collide.
        if self.listen == self.admin && self.listen.port() != 0 {
            return at(
                "admin",
                format!(
                    "proxy.admin {}: the same address as proxy.listen",
                    self.admin
                ),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let at = |key: &str, message: String| {
                Some(Problem::new(
                    &["proxy", "instances", &i.to_string(), key],
                    message,
                ))
            };
            if inst.address.port() != 0
                && (inst.address == self.listen || inst.address == self.admin)
            {
                return at(
                    "address",
                    format!(
                        "proxy.instances[{i}].address {} is the proxy's own listen or admin address",
                        inst.address
                    ),
                );
            }
            if !seen.insert(inst.address) {
                return at(
                    "address",
                    format!(
                        "proxy.instances[{i}].address {} is listed twice",
                        inst.address
                    ),
                );
            }
        }
        if !self.instances.is_empty()
            && !self
                .instances
                .iter()
                .any(|i| i.version == InstanceVersion::Stable)
        {
            return Some(Problem::new(
                &["proxy", "instances"],
                "proxy.instances: at least one stable instance (without one, stable traffic has nowhere to go)".into(),
            ));
        }
        None
    }

    /// The same checks for settings merged from command-line flags, as one message.
    pub fn problem_with_flags(&self) -> Option<String> {
        self.problem().map(|p| p.message)
    }

    /// The addresses of `version`'s instances.
    pub fn addresses(&self, version: InstanceVersion) -> Vec<SocketAddr> {
        self.instances
            .iter()
            .filter(|i| i.version == version)
            .map(|i| i.address)
            .collect()
    }

    /// The admin API's base URL, as the builtin router and metric source call it.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }
}
