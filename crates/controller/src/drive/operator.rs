//! Operator commands (pause, resume, promote, abort) from the command line or the API: which
//! ones a rollout admits in which state — one rule for both channels — applying one at once
//! when no controller drives the rollout or queueing it for the one that does, and settling a
//! rollback that nobody else would retry.

use super::*;

/// Whether an operator's command acts on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The rollout is in flight, or completed and still being validated (an abort): the
    /// command acts on it.
    Admitted,
    /// The rollout ended: the command has nothing to act on. The command line lets the state
    /// machine record it as ignored (exit 1); the API refuses it.
    Ended,
    /// An abort of a completed rollout whose post-deployment validation is not running: once
    /// validation passed the release is shipped and belongs to Operate.
    ValidationOver,
}

/// The admission rule: a rollout not in a terminal phase admits every command; a completed
/// one admits an abort while its release is being validated (`status`: None when the contract
/// cannot be read); an ended one admits nothing.
pub fn admit(phase: &Phase, status: Option<Status>, input: &Input) -> Admission {
    let abort = matches!(input, Input::Abort { .. });
    let validating = *phase == Phase::Completed && status == Some(Status::Validating);
    if !phase.is_terminal() || (validating && abort) {
        Admission::Admitted
    } else if *phase == Phase::Completed && abort {
        Admission::ValidationOver
    } else {
        Admission::Ended
    }
}

/// What became of an operator's command.
#[derive(Debug, Clone)]
pub enum Commanded {
    /// Another live process drives the rollout: queued for its next tick.
    Queued {
        /// The process that holds the rollout's lease.
        holder: String,
    },
    /// Applied here (nobody drove the rollout): the decision it led to.
    Applied(Decision),
}

impl Controller<'_> {
    /// [`admit`] for this rollout as recorded.
    pub fn admit(&self, input: &Input) -> Admission {
        let status = self.release.contract.meta.status;
        admit(&self.state.phase, Some(status), input)
    }

    /// An operator's command from the command line: refused when the rollout does not admit
    /// it, queued when another live process drives the rollout, applied at once otherwise —
    /// with a rollback it starts settled here, and the webhooks told.
    pub async fn command(
        &mut self,
        input: Input,
        clock: &mut dyn Clock,
        warn: &dyn Fn(&str),
    ) -> Result<Commanded> {
        let now = clock.now();
        let id = self.id().to_string();
        if self.store.rollout(&id).map_err(store_err)?.is_none() {
            return Err(Error::Usage(format!(
                "{id} has no rollout yet: `ship rollout start {id}`"
            )));
        }
        if self.admit(&input) == Admission::ValidationOver {
            return Err(Error::Refused(format!(
                "{id} is {}: a rollout can be aborted until its post-deployment validation passed",
                self.release.contract.meta.status
            )));
        }
        if let Some(holder) = self.driven_elsewhere(now)? {
            if self.holder_applies_commands(&holder, now)? {
                self.queue(&input, now)?;
                return Ok(Commanded::Queued { holder });
            }
            self.wait_until_let_go(clock).await?;
        }
        let now = clock.now();
        self.acquire(now)?;
        let result = async {
            let d = self.apply(input, now, None, &mut |_| {}).await?;
            self.settle_rollback(clock).await?;
            Ok::<_, Error>(d)
        }
        .await;
        self.release_lease();
        // Operator commands applied here (no controller was running) reach the webhooks too.
        self.send_webhooks(clock.now(), warn).await;
        Ok(Commanded::Applied(result?))
    }

    /// Whether the process holding the lease would apply a queued command (see
    /// [`super::lease::holder_applies_commands`]).
    fn holder_applies_commands(&self, holder: &str, now: DateTime<Utc>) -> Result<bool> {
        let nobody_validates = self.state.phase == Phase::Completed
            && (!self.ws.config.validation.auto || self.recorded_validation().is_some());
        super::lease::holder_applies_commands(&*self.store, holder, nobody_validates, now)
    }

    /// Waits, up to a lease TTL, for a replica ending its run to let go of the lease.
    async fn wait_until_let_go(&mut self, clock: &mut dyn Clock) -> Result<()> {
        let give_up =
            clock.now() + chrono::Duration::from_std(self.lease_ttl()).unwrap_or_default();
        while let Some(h) = self.driven_elsewhere(clock.now())? {
            if clock.now() >= give_up {
                return Err(Error::Refused(format!(
                    "{} is held by {h}, which is ending its run but has not let go of it within {} s; try again",
                    self.id(),
                    self.lease_ttl().as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Retries a rollback the router has not confirmed yet, a tick interval apart, up to the
    /// router's error limit — as a controller's ticks would, for nobody else will — then, when
    /// the rollout ended, writes what a finished rollout owes (its signal, the contract's
    /// records).
    pub async fn settle_rollback(&mut self, clock: &mut dyn Clock) -> Result<()> {
        let tick = self.ws.config.tick_interval();
        let mut tries = 0;
        while matches!(self.state.phase, Phase::RollingBack { .. })
            && tries < self.plan.settings.error_limit
        {
            tries += 1;
            tokio::time::sleep(tick).await;
            self.tick(clock.now(), &mut |_| {}).await?;
        }
        if self.state.phase.is_terminal() {
            self.finish(clock.now())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands() -> [Input; 4] {
        let reason = || "why".to_string();
        [
            Input::Pause { reason: reason() },
            Input::Resume,
            Input::Promote { reason: reason() },
            Input::Abort { reason: reason() },
        ]
    }

    #[test]
    fn a_rollout_in_flight_admits_every_command() {
        let paused = Phase::Paused { reason: "x".into() };
        for phase in [
            Phase::Pending,
            Phase::Progressing,
            paused,
            Phase::Completing,
        ] {
            for input in commands() {
                assert_eq!(
                    admit(&phase, None, &input),
                    Admission::Admitted,
                    "{phase:?}"
                );
            }
        }
    }

    #[test]
    fn a_completed_rollout_admits_only_an_abort_and_only_while_it_is_validated() {
        let validating = Some(Status::Validating);
        for input in commands() {
            let abort = matches!(input, Input::Abort { .. });
            let want = if abort {
                Admission::Admitted
            } else {
                Admission::Ended
            };
            assert_eq!(admit(&Phase::Completed, validating, &input), want);
            let want = if abort {
                Admission::ValidationOver
            } else {
                Admission::Ended
            };
            assert_eq!(
                admit(&Phase::Completed, Some(Status::Shipped), &input),
                want
            );
            assert_eq!(admit(&Phase::Completed, None, &input), want);
        }
    }

    #[test]
    fn a_rolled_back_or_failed_rollout_admits_nothing() {
        let ended = [
            Phase::RolledBack { reason: "x".into() },
            Phase::Failed { reason: "x".into() },
        ];
        for phase in ended {
            for input in commands() {
                let status = Some(Status::Validating);
                assert_eq!(admit(&phase, status, &input), Admission::Ended);
            }
        }
    }
}
