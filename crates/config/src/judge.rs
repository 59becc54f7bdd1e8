//! `[judge]`: the statistical judge's error probabilities and what an inconclusive stage does;
//! and `rollout.tick_interval = "auto"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shiploop_artifacts::criteria::Inconclusive;
use shiploop_artifacts::Dur;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[judge]`: the statistical judge's settings.
pub struct JudgeCfg {
    /// Chance that a canary within its limits is rolled back, over the whole rollout.
    pub alpha: f64,
    /// Chance that a canary worse by a whole limit passes one stage.
    pub beta: f64,
    /// "pause", "promote" or "rollback": a stage still inconclusive after max_hold.
    #[serde(deserialize_with = "inconclusive")]
    pub inconclusive: Inconclusive,
}

fn inconclusive<'de, D: Deserializer<'de>>(d: D) -> Result<Inconclusive, D::Error> {
    crate::choice::one_of(d, &Inconclusive::ALL, inconclusive_problem)
}

pub(crate) fn inconclusive_problem(written: &str) -> String {
    format!("judge.inconclusive {written:?}: \"pause\", \"promote\" or \"rollback\"")
}

impl Default for JudgeCfg {
    fn default() -> Self {
        JudgeCfg {
            alpha: 0.01,
            beta: 0.05,
            inconclusive: Inconclusive::Pause,
        }
    }
}

impl JudgeCfg {
    /// The first setting out of range, as (key, message).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        for (key, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(v > 0.0 && v <= 0.5) {
                return Some((
                    key,
                    format!(
                        "judge.{key} = {v}: a probability above 0 and at most 0.5 (0.01 is 1 %)"
                    ),
                ));
            }
        }
        None
    }
}

/// How often a rollout measures and decides: a duration, or "auto" — 1s with ship's own proxy
/// (it counts every request, so looking often costs nothing), 10s with any other source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tick {
    #[default]
    /// `"auto"`: the metric source's own interval.
    Auto,
    /// A duration.
    Every(Dur),
}

impl Tick {
    /// The interval: the one written, or for "auto" the metric source's own (`auto`).
    pub fn resolve(&self, auto: Duration) -> Duration {
        match self {
            Tick::Every(d) => d.0,
            Tick::Auto => auto,
        }
    }
}

impl Serialize for Tick {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tick::Auto => s.serialize_str("auto"),
            Tick::Every(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Tick {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "auto" {
            return Ok(Tick::Auto);
        }
        s.parse::<Dur>()
            .map(Tick::Every)
            .map_err(|e| serde::de::Error::custom(format!("{e} (or \"auto\")")))
    }
}
