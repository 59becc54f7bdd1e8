//! `[router.haproxy]`: weights over HAProxy's runtime API.

use super::HaproxyRouter;
use crate::cfg::{BuildContext, Problems};
use crate::routers::RouterTable;
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[router.haproxy]`.
pub struct HaproxyRouterCfg {
    /// The admin socket (`stats socket … level admin`).
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
        }
    }
}

impl RouterTable for HaproxyRouterCfg {
    fn check(&self, p: &mut Problems) {
        if self.socket.trim().is_empty() || self.backend.trim().is_empty() {
            p.at(&["socket"], "router.haproxy.socket and router.haproxy.backend: the admin socket and the backend holding the two servers");
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
        Ok(Box::new(HaproxyRouter {
            socket: cx.path(&self.socket),
            backend: self.backend.clone(),
            stable_server: self.stable_server.clone(),
            canary_server: self.canary_server.clone(),
            state_file: (!self.state_file.is_empty()).then(|| cx.path(&self.state_file)),
            timeout: self.timeout.0,
        }))
    }
}
