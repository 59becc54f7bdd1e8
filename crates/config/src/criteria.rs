//! The decision settings a release contract carries from this configuration (see
//! `shiploop_artifacts::criteria`): copied when a contract is compiled, approved with it, and
//! compared with `ship.toml` afterwards so a later edit is reported rather than applied.

use crate::Config;
use shiploop_artifacts::criteria::{
    CheckCriteria, Criteria, JudgeCriteria, RolloutCriteria, ValidationCriteria,
};

impl Config {
    /// What a release compiled now decides with (`hotfix`: the hotfix validation window).
    pub fn criteria(&self, hotfix: bool) -> Criteria {
        let r = &self.rollout;
        Criteria {
            rollout: RolloutCriteria {
                min_samples: r.min_samples,
                error_limit: r.error_limit,
                failure_limit: r.failure_limit,
                max_hold: r.max_hold,
                max_tick_gap: r.max_tick_gap,
                strict_checks: r.strict_checks,
            },
            judge: JudgeCriteria {
                alpha: self.judge.alpha,
                beta: self.judge.beta,
                inconclusive: self.judge.inconclusive,
            },
            checks: self
                .checks
                .iter()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        CheckCriteria {
                            metric: c.metric.clone(),
                            condition: c.condition.clone(),
                            min_samples: c.min_samples,
                        },
                    )
                })
                .collect(),
            validation: ValidationCriteria {
                window: if hotfix {
                    self.hotfix.validation_window
                } else {
                    self.validation.window
                },
                on_failure: self.validation.on_failure,
                resource_checks: self.validation.resource_checks.clone(),
            },
        }
    }
}
