//! `[router.haproxy]`: weights over HAProxy's runtime API — of one HAProxy, or of each of a
//! fleet (`[[router.haproxy.fleet]]`), all with the same backend and servers.

use super::{HaproxyRouter, RuntimeApi};
use crate::cfg::{is_host_port, BuildContext, Problems};
use crate::routers::fleet::{Fleet, Member};
use crate::routers::RouterTable;
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[router.haproxy]`.
pub struct HaproxyRouterCfg {
    /// The runtime API: an admin socket's path (`stats socket … level admin`), or `host:port`
    /// of a TCP one. Empty with a fleet.
    pub socket: String,
    /// The backend holding the two servers.
    pub backend: String,
    /// The stable version's server in it.
    pub stable_server: String,
    /// The new version's server in it.
    pub canary_server: String,
    /// HAProxy's `server-state-file`; "" leaves weights to the running process only.
    pub state_file: String,
    /// How long HAProxy has to answer one command.
    pub timeout: Dur,
    /// `[[router.haproxy.fleet]]`: several HAProxies, each its runtime API (and state file),
    /// set to the same weights at once; empty: the one at `socket`.
    pub fleet: Vec<HaproxyMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[[router.haproxy.fleet]]`: one HAProxy of a fleet.
pub struct HaproxyMember {
    /// Its runtime API: an admin socket's path, or `host:port` of a TCP one.
    pub socket: String,
    /// Its `server-state-file`, when ship can write it (a local HAProxy); "" for none.
    pub state_file: String,
}

/// A runtime API as ship.toml names it: `host:port` is TCP, anything else a socket's path
/// (relative to the workspace).
fn runtime_api(cx: &BuildContext, socket: &str) -> RuntimeApi {
    let s = socket.trim();
    if is_host_port(s) && !s.starts_with('.') {
        RuntimeApi::Tcp(s.to_string())
    } else {
        RuntimeApi::Unix(cx.path(s))
    }
}

impl HaproxyRouterCfg {
    /// The HAProxies: the fleet's, or the one at `socket`.
    fn members(&self) -> Vec<HaproxyMember> {
        if self.fleet.is_empty() {
            vec![HaproxyMember {
                socket: self.socket.clone(),
                state_file: self.state_file.clone(),
            }]
        } else {
            self.fleet.clone()
        }
    }
}

impl Default for HaproxyRouterCfg {
    fn default() -> Self {
        HaproxyRouterCfg {
            socket: String::new(),
            backend: String::new(),
            stable_server: "stable".into(),
            canary_server: "canary".into(),
            state_file: String::new(),
            timeout: Dur::from_secs(5),
            fleet: Vec::new(),
        }
    }
}

impl RouterTable for HaproxyRouterCfg {
    fn check(&self, p: &mut Problems) {
        let no_socket = self.socket.trim().is_empty() && self.fleet.is_empty();
        if no_socket || self.backend.trim().is_empty() {
            p.at(&["socket"], "router.haproxy.socket and router.haproxy.backend: the admin socket and the backend holding the two servers");
        }
        if !self.fleet.is_empty() {
            if !self.socket.trim().is_empty() || !self.state_file.trim().is_empty() {
                p.at(&["fleet"], "router.haproxy: give socket and state_file in each [[router.haproxy.fleet]] member, not beside them");
            }
            if self.fleet.iter().any(|m| m.socket.trim().is_empty()) {
                p.at(
                    &["fleet"],
                    "router.haproxy.fleet: every member needs its socket (a path, or host:port)",
                );
            }
            let sockets: Vec<String> = self.fleet.iter().map(|m| m.socket.clone()).collect();
            if let Some(twice) = crate::cfg::repeated(&sockets) {
                p.at(
                    &["fleet"],
                    format!("router.haproxy.fleet: {twice:?} is listed twice"),
                );
            }
        }
        for (key, v) in [
            ("backend", &self.backend),
            ("stable_server", &self.stable_server),
            ("canary_server", &self.canary_server),
        ] {
            let empty_backend = key == "backend" && v.trim().is_empty();
            if !empty_backend
                && (v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '/' || c == ';'))
            {
                p.at(
                    &[key],
                    format!("router.haproxy.{key} {v:?}: a backend or server name"),
                );
            }
        }
        if self.stable_server == self.canary_server {
            p.at(
                &["canary_server"],
                "router.haproxy: the stable and canary servers must differ",
            );
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        let members = self
            .members()
            .into_iter()
            .map(|m| {
                let socket = runtime_api(cx, &m.socket);
                Member {
                    name: format!("haproxy {}", m.socket.trim()),
                    router: Box::new(HaproxyRouter {
                        socket,
                        backend: self.backend.clone(),
                        stable_server: self.stable_server.clone(),
                        canary_server: self.canary_server.clone(),
                        state_file: (!m.state_file.is_empty()).then(|| cx.path(&m.state_file)),
                        timeout: self.timeout.0,
                    }),
                }
            })
            .collect();
        Ok(Fleet::of("haproxy", members))
    }
}
