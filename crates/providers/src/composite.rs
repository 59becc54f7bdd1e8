//! One metric source made of two: `alerts/…` keys go to the alert source (Alertmanager), every
//! other key to the metric source (builtin, command, Prometheus).

use crate::{MetricContext, MetricSource, OutcomeQuery, Point, ProviderError};
use async_trait::async_trait;
use shiploop_rollout::Observation;

/// A metric source with an alert source beside it.
pub struct WithAlerts {
    /// Answers every key but `alerts/…`.
    pub metrics: Box<dyn MetricSource>,
    /// Answers the `alerts/…` keys.
    pub alerts: Box<dyn MetricSource>,
}

#[async_trait]
impl MetricSource for WithAlerts {
    fn name(&self) -> &str {
        self.metrics.name()
    }
    async fn measure(&self, keys: &[String], ctx: &MetricContext) -> Observation {
        let (alert_keys, other): (Vec<String>, Vec<String>) =
            keys.iter().cloned().partition(|k| k.starts_with("alerts/"));
        let (mut out, alerts) = tokio::join!(
            self.metrics.measure(&other, ctx),
            self.alerts.measure(&alert_keys, ctx)
        );
        out.extend(alerts);
        out
    }
    async fn value_at(&self, q: &OutcomeQuery<'_>) -> Result<Option<f64>, ProviderError> {
        self.metrics.value_at(q).await
    }
    async fn series(
        &self,
        q: &OutcomeQuery<'_>,
        recorded: &[Point],
    ) -> Result<Vec<Point>, ProviderError> {
        self.metrics.series(q, recorded).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::ScriptedSource;
    use shiploop_rollout::measure::Measurement;

    #[tokio::test]
    async fn alert_keys_go_to_the_alert_source() {
        let one = |k: &str, m: Measurement| ScriptedSource::new(vec![[(k.to_string(), m)].into()]);
        let metrics = one("canary/error_rate", Measurement::value(0.01, 100));
        let alerts = one("alerts/critical_security", Measurement::value(1.0, 1));
        // Each source only knows its own keys: a key routed wrongly would come back as no data.
        let both = WithAlerts {
            metrics: Box::new(metrics),
            alerts: Box::new(alerts),
        };
        let ctx = MetricContext::window("s", "r", "canary", 5, 60);
        let keys = vec![
            "canary/error_rate".to_string(),
            "alerts/critical_security".to_string(),
        ];
        let obs = both.measure(&keys, &ctx).await;
        assert_eq!(obs["canary/error_rate"], Measurement::value(0.01, 100));
        assert_eq!(obs["alerts/critical_security"], Measurement::value(1.0, 1));
    }
}
