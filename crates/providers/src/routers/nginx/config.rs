//! `[router.nginx]`: ship owns one include file and reloads nginx — or, for a fleet
//! (`[[router.nginx.fleet]]`), one per nginx host, each with its own commands.

use super::NginxRouter;
use crate::cfg::{repeated, BuildContext, Problems};
use crate::routers::fleet::{Fleet, Member};
use crate::routers::RouterTable;
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[router.nginx]`.
pub struct NginxRouterCfg {
    /// The include file ship writes (relative to the workspace or absolute); include it in
    /// nginx's `http` block.
    pub include_file: String,
    /// The stable version's servers (`host:port`).
    pub stable: Vec<String>,
    /// The new version's servers.
    pub canary: Vec<String>,
    /// What `split_clients` hashes: `$request_id` (random per request), or a per-user key.
    pub split_key: String,
    /// Loopback `host:port` of the status server the include declares.
    pub status_listen: String,
    /// Checks nginx's configuration with the new include.
    pub test_command: String,
    /// Makes nginx load it.
    pub reload_command: String,
    /// Optional: a URL through nginx; at 0 % and 100 % every answer must carry
    /// `probe_header` = `stable_value` / `canary_value`.
    pub probe_url: String,
    /// The header naming the version that answered…
    pub probe_header: String,
    /// …its value from the stable version…
    pub stable_value: String,
    /// …and from the new one.
    pub canary_value: String,
    /// How long the test and reload commands may take.
    pub timeout: Dur,
    /// `[[router.nginx.fleet]]`: several nginx hosts set to the same split at once, each
    /// with its own include file, status server and commands; empty: the one above.
    pub fleet: Vec<NginxMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[[router.nginx.fleet]]`: one nginx host of a fleet. A key left empty takes the value of
/// `[router.nginx]`'s key of the same name.
pub struct NginxMember {
    /// The include file ship writes for this host (the reload command may copy it there).
    pub include_file: String,
    /// Where this host's status server answers (`host:port`, reachable from ship).
    pub status_listen: String,
    /// Checks this host's configuration with the new include.
    pub test_command: String,
    /// Makes this host load it.
    pub reload_command: String,
    /// A URL through this host for the end-to-end check at 0 % and 100 %.
    pub probe_url: String,
}

impl NginxRouterCfg {
    /// Each host's table: `[router.nginx]` with a fleet member's keys over it; the table
    /// itself without a fleet.
    pub fn members(&self) -> Vec<NginxRouterCfg> {
        if self.fleet.is_empty() {
            return vec![self.clone()];
        }
        let pick = |own: &String, shared: &String| {
            if own.trim().is_empty() {
                shared.clone()
            } else {
                own.clone()
            }
        };
        self.fleet
            .iter()
            .map(|m| NginxRouterCfg {
                include_file: pick(&m.include_file, &self.include_file),
                status_listen: pick(&m.status_listen, &self.status_listen),
                test_command: pick(&m.test_command, &self.test_command),
                reload_command: pick(&m.reload_command, &self.reload_command),
                probe_url: pick(&m.probe_url, &self.probe_url),
                fleet: Vec::new(),
                ..self.clone()
            })
            .collect()
    }
}

impl Default for NginxRouterCfg {
    fn default() -> Self {
        NginxRouterCfg {
            include_file: String::new(),
            stable: Vec::new(),
            canary: Vec::new(),
            split_key: "$request_id".into(),
            status_listen: "127.0.0.1:9190".into(),
            test_command: "nginx -t".into(),
            reload_command: "nginx -s reload".into(),
            probe_url: String::new(),
            probe_header: "x-ship-version".into(),
            stable_value: String::new(),
            canary_value: String::new(),
            timeout: Dur::from_secs(30),
            fleet: Vec::new(),
        }
    }
}

impl RouterTable for NginxRouterCfg {
    fn check(&self, p: &mut Problems) {
        let members = self.members();
        if members.iter().any(|m| m.include_file.trim().is_empty()) {
            p.at(&["include_file"], "router.nginx.include_file: name the file ship owns (include it in nginx's http block)");
        }
        if self.fleet.len() > 1 {
            let each = |f: fn(&NginxRouterCfg) -> &String| -> Vec<String> {
                members.iter().map(|m| f(m).trim().to_string()).collect()
            };
            for (key, list) in [
                ("include_file", each(|m| &m.include_file)),
                ("status_listen", each(|m| &m.status_listen)),
            ] {
                if let Some(twice) = repeated(&list) {
                    p.at(&["fleet"], format!("router.nginx.fleet: two hosts have {key} {twice:?}: each host needs its own"));
                }
            }
        }
        let bad = |s: &String| s.trim().is_empty() || s.contains([';', '{', '}', '\n', '"']);
        if self.stable.is_empty() || self.canary.is_empty() {
            p.at(&["stable"], "router.nginx.stable and router.nginx.canary: the servers (host:port) of each version");
        } else if let Some(s) = self.stable.iter().chain(&self.canary).find(|s| bad(s)) {
            p.at(
                &["stable"],
                format!("router.nginx: {s:?} is not a server address"),
            );
        }
        if !self.split_key.starts_with('$') || self.split_key.contains([';', '{', '}', '"', '\n']) {
            p.at(&["split_key"], format!("router.nginx.split_key {:?}: an nginx variable such as $request_id or $http_x_user_id", self.split_key));
        }
        if let Some(m) = members
            .iter()
            .find(|m| m.status_listen.parse::<std::net::SocketAddr>().is_err())
        {
            p.at(
                &["status_listen"],
                format!(
                    "router.nginx.status_listen {:?}: host:port",
                    m.status_listen
                ),
            );
        }
        if members.iter().any(|m| {
            !m.probe_url.is_empty()
                && (!m.probe_url.starts_with("http://")
                    || self.stable_value.is_empty()
                    || self.canary_value.is_empty())
        }) {
            p.at(&["probe_url"], "router.nginx.probe_url: an http:// URL, with stable_value and canary_value to expect in probe_header");
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        let members = self
            .members()
            .into_iter()
            .map(|cfg| Member {
                name: format!("nginx {}", cfg.status_listen),
                router: Box::new(NginxRouter {
                    include_file: cx.path(&cfg.include_file),
                    service: cx.service.to_string(),
                    runner: cx.runner(cfg.timeout),
                    cfg,
                }),
            })
            .collect();
        Ok(Fleet::of("nginx", members))
    }
}
