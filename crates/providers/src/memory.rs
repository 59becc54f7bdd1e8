//! In-memory providers for tests: a router that records every weight, and a metric source that
//! plays back scripted observations.

use crate::{
    ErrorKind, MetricContext, MetricSource, ProviderError, RouteContext, RouterOutput,
    TrafficRouter,
};
use async_trait::async_trait;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug, Default)]
/// A router that only remembers: the weights it was given, and failures to inject.
pub struct MemoryRouter {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default, Clone)]
/// What a [`MemoryRouter`] was told.
pub struct MemoryState {
    /// The weight it has now.
    pub weight: u8,
    /// Every weight change, in order (no-op sets are not recorded).
    pub history: Vec<u8>,
    /// Whether it was promoted.
    pub promoted: bool,
    /// Fail the next N calls, to test retries.
    pub fail_next: u32,
}

impl MemoryRouter {
    /// A router at weight 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// What it was told so far.
    pub fn state(&self) -> MemoryState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next `n` calls fail.
    pub fn fail_next(&self, n: u32) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fail_next = n;
    }

    fn apply(&self, weight: u8) -> Result<RouterOutput, ProviderError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Err(
                ProviderError::new(ErrorKind::Unreachable, "injected failure").by("memory"),
            );
        }
        if s.weight != weight || s.history.is_empty() {
            s.weight = weight;
            s.history.push(weight);
        }
        Ok(RouterOutput::new(format!("weight {weight}")))
    }
}

#[async_trait]
impl TrafficRouter for MemoryRouter {
    fn name(&self) -> &str {
        "memory"
    }
    async fn set_weight(
        &self,
        _ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.apply(weight)
    }
    async fn effective_weight(&self, _ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        Ok(Some(self.state().weight))
    }
    async fn promote(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        let out = self.apply(100)?;
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .promoted = true;
        Ok(out)
    }
    async fn roll_back(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.apply(0)
    }
}

/// Plays back observations in order; after the last one it keeps answering with it.
#[derive(Debug, Default)]
pub struct ScriptedSource {
    script: Mutex<VecDeque<Observation>>,
    last: Mutex<Option<Observation>>,
}

impl ScriptedSource {
    /// A source answering each measurement with the next observation of `script`.
    pub fn new(script: Vec<Observation>) -> Self {
        ScriptedSource {
            script: Mutex::new(script.into()),
            last: Mutex::new(None),
        }
    }
}

#[async_trait]
impl MetricSource for ScriptedSource {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn measure(&self, keys: &[String], _ctx: &MetricContext) -> Observation {
        let next = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = next {
            *last = Some(n);
        }
        let current = last.clone().unwrap_or_default();
        keys.iter()
            .map(|k| {
                (
                    k.clone(),
                    current.get(k).cloned().unwrap_or(Measurement::NoData),
                )
            })
            .collect()
    }
}
