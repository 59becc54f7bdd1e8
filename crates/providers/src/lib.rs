//! The two things a rollout talks to, behind small traits: a traffic router (moves traffic
//! between the stable and the new version) and a metric source (says how each is doing).
//!
//! Each provider is a folder — `routers/<kind>/`, `metrics/<kind>/` — owning its ship.toml
//! table (type, defaults, validation), its construction and its tests; `routers/mod.rs` and
//! `metrics/mod.rs` hold the kind enums and the one match from kind to table (the registry).
//! docs/EXTENDING.md walks through adding one. Providers never panic: a router returns a
//! typed error, and a metric source answers every key with a value, "no data" or an error.

pub mod admin;
pub mod cfg;
pub mod composite;
mod error;
pub mod http;
pub mod local;
pub mod memory;
pub mod metrics;
pub mod placeholders;
pub mod routers;
pub mod runner;
pub mod smoke;
#[cfg(all(test, unix))]
mod starved;

pub use error::{ErrorKind, ProviderError};
pub use metrics::{OutcomeQuery, Point};

use async_trait::async_trait;
use shiploop_rollout::Observation;

/// What the router is told about the rollout it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteContext {
    /// The service (`service.name`).
    pub service: String,
    /// The release being rolled out.
    pub release: String,
    /// The stage it is in.
    pub stage: String,
}

/// What a router call did, for the record (e.g. a command's output).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterOutput {
    /// What the router did, for the decision record (a fleet's names every member's answer).
    pub detail: String,
    /// A fleet's members, each with whether it confirmed ([`routers::fleet`]); empty for a
    /// single router.
    pub members: Vec<MemberCall>,
}

impl RouterOutput {
    /// What a single router did.
    pub fn new(detail: impl Into<String>) -> RouterOutput {
        RouterOutput {
            detail: detail.into(),
            members: Vec::new(),
        }
    }
}

/// One fleet member's answer to a call: whether it confirmed, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCall {
    /// The member (`proxy 127.0.0.1:9091`, `haproxy /run/haproxy/a.sock`).
    pub member: String,
    /// Whether it confirmed the call.
    pub confirmed: bool,
    /// Its output, or why it did not confirm.
    pub detail: String,
}

/// Moves traffic. Every call is idempotent: setting the weight it already has is a no-op, so
/// the controller can re-assert the recorded weight after a crash.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// The provider's kind, for messages (`nginx`).
    fn name(&self) -> &str;
    /// Sends `weight` percent of traffic to the new version.
    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError>;
    /// The weight the new version actually gets, when the router can tell.
    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError>;
    /// The new version takes all traffic for good and becomes the stable one.
    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError>;
    /// All traffic back to the stable version.
    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError>;
}

/// What a metric query is about.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricContext {
    /// The service (`service.name`).
    pub service: String,
    /// The release being rolled out.
    pub release: String,
    /// The stage it is in.
    pub stage: String,
    /// The new version's traffic weight, in percent.
    pub weight: u8,
    /// The window the values should cover, in seconds.
    pub window_secs: u64,
    /// Seconds since the stage began: the span of counts "since the stage began".
    pub since_secs: u64,
    /// When the stage began, when there is a stage: a source that can count from an instant
    /// (Prometheus) counts from this one, not from `since_secs` whole seconds before its own
    /// clock, whose dropped fraction of a second moves from tick to tick.
    pub stage_started: Option<std::time::SystemTime>,
    /// The p99 trigger's limit and the latency target, in seconds: `canary/slow` and
    /// `canary/slow_target` count the requests slower than each.
    pub slow_secs: Option<f64>,
    /// The latency target, in seconds.
    pub target_secs: Option<f64>,
}

impl MetricContext {
    /// A context for a window of gauges only (validation, gates, outcome measurement).
    pub fn window(service: &str, release: &str, stage: &str, weight: u8, window_secs: u64) -> Self {
        MetricContext {
            service: service.into(),
            release: release.into(),
            stage: stage.into(),
            weight,
            window_secs,
            since_secs: window_secs,
            stage_started: None,
            slow_secs: None,
            target_secs: None,
        }
    }
}

/// Measures. Answers every requested key: a value with its sample count, no data, or an error.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// The provider's kind, for messages (`nginx`).
    fn name(&self) -> &str;
    /// A measurement for each of `keys` (`canary/error_rate`, …): a value, no data or an error.
    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation;

    /// For outcome measurement: the value of an outcome metric's query at `q.end`; Ok(None)
    /// is no data. A source that cannot look at a given time answers "not supported".
    async fn value_at(&self, _q: &OutcomeQuery<'_>) -> Result<Option<f64>, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "cannot measure an outcome metric",
        ))
    }

    /// For outcome charts: the query's points from `q.start` to `q.end`. `recorded` is what
    /// ship recorded for the query while rolling out, for a source without a history of its
    /// own to answer with.
    async fn series(
        &self,
        _q: &OutcomeQuery<'_>,
        _recorded: &[Point],
    ) -> Result<Vec<Point>, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "keeps no series of past values",
        ))
    }
}

/// Shared providers: a test (or an embedder) keeps a handle while the controller uses it.
#[async_trait]
impl<T: TrafficRouter + ?Sized> TrafficRouter for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        (**self).set_weight(ctx, weight).await
    }
    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        (**self).effective_weight(ctx).await
    }
    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        (**self).promote(ctx).await
    }
    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        (**self).roll_back(ctx).await
    }
}
