//! `[router.builtin]`: ship's own proxies. One proxy is `[proxy]` (its admin API at
//! `proxy.admin`) and needs no table; a fleet of them lists every proxy's admin API.

use super::BuiltinRouter;
use crate::cfg::{is_host_port, repeated, BuildContext, Problems};
use crate::routers::fleet::{Fleet, Member};
use crate::routers::RouterTable;
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[router.builtin]`.
pub struct BuiltinRouterCfg {
    /// The admin API (`host:port`) of every proxy of the fleet, all taking the token in
    /// `$proxy.token_env`; empty: the one proxy at `proxy.admin`. List `proxy.admin` too when
    /// that proxy is one of them.
    pub fleet: Vec<String>,
}

impl RouterTable for BuiltinRouterCfg {
    fn check(&self, p: &mut Problems) {
        if let Some(bad) = self.fleet.iter().find(|a| !is_host_port(a.trim())) {
            p.at(
                &["fleet"],
                format!(
                    "router.builtin.fleet: {bad:?} is not a proxy's admin API address (host:port)"
                ),
            );
        } else if let Some(twice) = repeated(&self.fleet) {
            p.at(
                &["fleet"],
                format!("router.builtin.fleet: {twice:?} is listed twice"),
            );
        }
    }

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        let user = r#"router.kind = "builtin""#;
        let addrs: Vec<(String, String)> = if self.fleet.is_empty() {
            vec![(cx.admin.addr.clone(), cx.admin.url.clone())]
        } else {
            self.fleet
                .iter()
                .map(|a| (a.trim().to_string(), format!("http://{}", a.trim())))
                .collect()
        };
        let members = addrs
            .into_iter()
            .map(|(addr, url)| {
                Ok(Member {
                    name: format!("proxy {addr}"),
                    router: Box::new(BuiltinRouter {
                        admin: cx.admin_client_at(&url, user)?,
                    }),
                })
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        Ok(Fleet::of("builtin", members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_addresses_are_host_port_once_each() {
        let cfg = |list: &[&str]| BuiltinRouterCfg {
            fleet: list.iter().map(|s| s.to_string()).collect(),
        };
        let problems = |c: BuiltinRouterCfg| {
            let table = ["router", "builtin"];
            let mut p = Problems::new(&table);
            c.check(&mut p);
            p.found
        };
        assert!(problems(cfg(&[])).is_empty());
        assert!(problems(cfg(&[
            "127.0.0.1:9091",
            "proxy-2.internal:9091",
            "[::1]:9191"
        ]))
        .is_empty());
        for bad in [
            &["127.0.0.1"][..],
            &["http://127.0.0.1:9091"],
            &["a:0"],
            &["a:1", "a:1"],
        ] {
            let found = problems(cfg(bad));
            assert_eq!(found.len(), 1, "{bad:?}");
            assert_eq!(found[0].path, ["router", "builtin", "fleet"]);
        }
    }
}
