//! `[router.command]`.

use super::CommandRouter;
use crate::cfg::{non_empty, BuildContext, Problems};
use crate::routers::RouterTable;
use crate::{ProviderError, TrafficRouter};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[router.command]`.
pub struct CommandRouterCfg {
    /// Sets the new version's weight (`{weight}`); required.
    pub set_weight: String,
    /// Prints the weight in effect ("": not known).
    pub get_weight: String,
    /// Makes the new version the stable one ("": set_weight at 100).
    pub promote: String,
    /// Sends all traffic back ("": set_weight at 0).
    pub rollback: String,
    /// A command still running after this has failed.
    pub timeout: Dur,
}

impl Default for CommandRouterCfg {
    fn default() -> Self {
        CommandRouterCfg {
            set_weight: String::new(),
            get_weight: String::new(),
            promote: String::new(),
            rollback: String::new(),
            timeout: Dur::from_secs(30),
        }
    }
}

impl RouterTable for CommandRouterCfg {
    /// Nothing to check when the file is read: an empty `set_weight` is reported when a
    /// rollout needs the router (`ship init` writes the table to be filled in).
    fn check(&self, _p: &mut Problems) {}

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn TrafficRouter>, ProviderError> {
        let set_weight = non_empty(&self.set_weight).ok_or_else(|| {
            ProviderError::config("ship.toml: router.command.set_weight is empty: say how to set the new version's traffic weight")
        })?;
        Ok(Box::new(CommandRouter {
            runner: cx.runner(self.timeout),
            set_weight,
            get_weight: non_empty(&self.get_weight),
            promote: non_empty(&self.promote),
            rollback: non_empty(&self.rollback),
        }))
    }
}
