//! The builtin metric source: ship's own proxy measures every request it forwards and
//! answers `GET /measure` on its admin API. `[metrics] kind = "builtin"` has no table of its
//! own: the proxy is `[proxy]`.
//!
//! The proxy keeps a live window only: an outcome's value is the window up to now, and its
//! series is what ship recorded while rolling out (handed in by the caller).
//!
//! With `router.builtin.fleet` the source reads every proxy of the fleet and adds their
//! counts up ([`fleet`]).

pub mod fleet;

use crate::admin::{AdminClient, Method};
use crate::metrics::command::parse_measurements;
use crate::metrics::{all_error, OutcomeQuery, Point};
use crate::{ErrorKind, MetricContext, MetricSource, ProviderError};
use async_trait::async_trait;
use shiploop_rollout::measure::Measurement;
use shiploop_rollout::Observation;

/// Measures through ship's proxy's admin API.
pub struct BuiltinSource {
    /// The proxy's admin API.
    pub admin: AdminClient,
}

#[async_trait]
impl MetricSource for BuiltinSource {
    fn name(&self) -> &str {
        "builtin"
    }

    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let mut path = format!("/measure?window={}", ctx.window_secs.max(1));
        if let Some(s) = ctx.slow_secs {
            path.push_str(&format!("&slow={s}"));
        }
        if let Some(s) = ctx.target_secs {
            path.push_str(&format!("&target={s}"));
        }
        match self.admin.call(Method::GET, &path, None).await {
            Ok(v) => parse_measurements(keys, &v.to_string()),
            Err(e) => all_error(keys, &e),
        }
    }

    /// The live window from the outcome's start up to now, whatever the checkpoint's date.
    async fn value_at(&self, q: &OutcomeQuery<'_>) -> Result<Option<f64>, ProviderError> {
        live_value(self, q).await
    }

    async fn series(
        &self,
        _q: &OutcomeQuery<'_>,
        recorded: &[Point],
    ) -> Result<Vec<Point>, ProviderError> {
        Ok(recorded.to_vec())
    }
}

/// An outcome's value from a source of live windows: the window from the outcome's start up
/// to now.
pub(crate) async fn live_value(
    source: &dyn MetricSource,
    q: &OutcomeQuery<'_>,
) -> Result<Option<f64>, ProviderError> {
    let window = (q.end - q.start).max(1.0) as u64;
    let ctx = MetricContext::window(q.service, q.release, "outcome", 100, window);
    let obs = source
        .measure(std::slice::from_ref(&q.query.to_string()), &ctx)
        .await;
    match obs.get(q.query) {
        Some(Measurement::Value { value, .. }) => Ok(Some(*value)),
        Some(Measurement::NoData) | None => Ok(None),
        Some(Measurement::Error { message, local }) => {
            let kind = if *local {
                ErrorKind::Local
            } else {
                ErrorKind::BadAnswer
            };
            Err(ProviderError::new(kind, message.clone()))
        }
    }
}
