//! Traffic routers, one folder each, and the registry: `[router] kind` names one, its table
//! (`[router.<kind>]`) configures it.
//!
//! A router's folder owns its configuration type (the keys of its table, with their
//! defaults), its validation, its construction and its tests. Adding one is a folder, a
//! variant of [`RouterKind`] and its table here, and its section in docs/CONFIG.md
//! (docs/EXTENDING.md).

pub mod builtin;
pub mod command;
pub mod fleet;
pub mod haproxy;
pub mod nginx;

use crate::cfg::{BuildContext, Problem, Problems};
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};

/// `router.kind`: what moves the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouterKind {
    /// Ship's own proxy (`[proxy]`).
    Builtin,
    /// User commands (`[router.command]`).
    Command,
    /// HAProxy's runtime API (`[router.haproxy]`).
    Haproxy,
    /// An nginx include file ship owns (`[router.nginx]`).
    Nginx,
}

impl RouterKind {
    /// The name ship.toml uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterKind::Builtin => "builtin",
            RouterKind::Command => "command",
            RouterKind::Haproxy => "haproxy",
            RouterKind::Nginx => "nginx",
        }
    }
}

/// `[router]`: the kind and every router's table (a table may be written for a kind not in
/// use: `ship init` writes them to be filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterCfg {
    /// The router in use.
    pub kind: RouterKind,
    /// `[router.builtin]`.
    pub builtin: builtin::BuiltinRouterCfg,
    /// `[router.command]`.
    pub command: command::CommandRouterCfg,
    /// `[router.nginx]`.
    pub nginx: nginx::NginxRouterCfg,
    /// `[router.haproxy]`.
    pub haproxy: haproxy::HaproxyRouterCfg,
}

impl Default for RouterCfg {
    fn default() -> Self {
        RouterCfg {
            kind: RouterKind::Command,
            builtin: Default::default(),
            command: Default::default(),
            nginx: Default::default(),
            haproxy: Default::default(),
        }
    }
}

/// What the registry needs of a router's configuration.
pub trait RouterTable {
    /// Every problem with the table, with the key each is about.
    fn check(&self, p: &mut Problems);
    /// The router, or why it cannot be built (a missing token, an empty command).
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError>;
}

impl RouterCfg {
    /// The registry: the configuration of the router of `kind`.
    pub fn table(&self, kind: RouterKind) -> &dyn RouterTable {
        match kind {
            RouterKind::Builtin => &self.builtin,
            RouterKind::Command => &self.command,
            RouterKind::Haproxy => &self.haproxy,
            RouterKind::Nginx => &self.nginx,
        }
    }

    /// Every problem with the configured router's table.
    pub fn problems(&self) -> Vec<Problem> {
        let table = ["router", self.kind.as_str()];
        let mut p = Problems::new(&table);
        self.table(self.kind).check(&mut p);
        p.found
    }

    /// The configured router.
    pub fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        self.table(self.kind).build(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_picks_the_table_and_only_its_problems_count() {
        let cfg: RouterCfg = toml::from_str(
            "kind = \"nginx\"\n[nginx]\ninclude_file = \"ship.conf\"\nstable = [\"127.0.0.1:1\"]\ncanary = [\"127.0.0.1:2\"]\nsplit_key = \"request_id\"\n[haproxy]\nbackend = \"a b\"\n",
        )
        .unwrap();
        assert_eq!(cfg.kind, RouterKind::Nginx);
        let at: Vec<String> = cfg.problems().iter().map(|p| p.path.join(".")).collect();
        assert_eq!(at, ["router.nginx.split_key"], "{:?}", cfg.problems());
        let e = toml::from_str::<RouterCfg>("kind = \"carrier-pigeon\"\n").unwrap_err();
        assert!(e.message().contains("unknown variant"), "{e}");
    }
}
