//! `[metrics.command]`.

use super::CommandSource;
use crate::cfg::{non_empty, AdminSettings, BuildContext, Problems};
use crate::metrics::{Counts, SourceCfg};
use crate::{MetricSource, ProviderError};
use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[metrics.command]`.
pub struct CommandMetricsCfg {
    /// The command that prints the measurements as JSON.
    pub command: String,
    /// A command still running after this is an error for every key.
    pub timeout: Dur,
    /// Where the command's request counts start.
    pub counts: Counts,
}

impl Default for CommandMetricsCfg {
    fn default() -> Self {
        CommandMetricsCfg {
            command: String::new(),
            timeout: Dur::from_secs(10),
            counts: Counts::Stage,
        }
    }
}

impl SourceCfg for CommandMetricsCfg {
    /// `counts` is checked by its type; an empty `command` is reported when a rollout needs
    /// the source (`ship init` writes the table to be filled in).
    fn check(&self, _p: &mut Problems) {}

    fn build(&self, cx: &BuildContext) -> Result<Box<dyn MetricSource>, ProviderError> {
        let command = non_empty(&self.command).ok_or_else(|| {
            ProviderError::config(
                "ship.toml: metrics.command.command is empty: say how to measure the release",
            )
        })?;
        Ok(Box::new(CommandSource {
            runner: cx.runner(self.timeout),
            command,
        }))
    }

    fn describe(&self, _admin: &AdminSettings) -> String {
        format!("metrics.command.command = {:?}", self.command)
    }

    fn counts(&self) -> Counts {
        self.counts
    }

    /// The command's JSON may answer any key, `alerts/critical_security` too.
    fn answers_alerts(&self) -> bool {
        true
    }
}
