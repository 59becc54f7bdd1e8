//! `[router.nginx]`: ship owns one include file and reloads nginx.

use super::NginxRouter;
use crate::cfg::{BuildContext, Problems};
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
        }
    }
}

impl RouterTable for NginxRouterCfg {
    fn check(&self, p: &mut Problems) {
        if self.include_file.trim().is_empty() {
            p.at(&["include_file"], "router.nginx.include_file: name the file ship owns (include it in nginx's http block)");
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
        if self.status_listen.parse::<std::net::SocketAddr>().is_err() {
            p.at(
                &["status_listen"],
                format!(
                    "router.nginx.status_listen {:?}: host:port",
                    self.status_listen
                ),
            );
        }
        if !self.probe_url.is_empty()
            && (!self.probe_url.starts_with("http://")
                || self.stable_value.is_empty()
                || self.canary_value.is_empty())
        {
            p.at(&["probe_url"], "router.nginx.probe_url: an http:// URL, with stable_value and canary_value to expect in probe_header");
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        Ok(Box::new(NginxRouter {
            cfg: self.clone(),
            include_file: cx.path(&self.include_file),
            service: cx.service.to_string(),
            runner: cx.runner(self.timeout),
        }))
    }
}
