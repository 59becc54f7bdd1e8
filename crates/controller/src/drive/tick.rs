use super::*;

impl Controller<'_> {
    /// Starts the rollout if it is new; otherwise re-asserts what the router should have.
    pub async fn begin(
        &mut self,
        now: DateTime<Utc>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        self.report_drift(now);
        let m = Moment::new(now);
        if self.submit(now)? {
            // Taken before the rollout existed: said now that it has a log.
            if let Some(token) = self.token {
                let taken = Event::LeaseAcquired(shiploop_store::event::LeaseAcquired {
                    holder: self.holder.clone(),
                    token,
                });
                self.log_event(&taken, now)?;
            }
            self.apply_command(Input::Start, None, now, m, None, log)
                .await?;
            self.first_reading(m.now(), log).await?;
            return Ok(());
        }
        if self.state.phase == Phase::Pending {
            // Recorded but never started (a crash between the two): start now.
            self.apply_command(Input::Start, None, now, m, None, log)
                .await?;
            self.first_reading(m.now(), log).await?;
            return Ok(());
        }
        if self.state.phase.is_terminal() {
            return Ok(());
        }
        // Resuming: nobody watched since the last recorded tick, and the previous process may
        // have died between a router call and its confirmation — record what the router does.
        self.state.lost_sight();
        let found = self.found(m).await;
        match self.state.phase {
            Phase::Completing => {
                self.reassert_from(found, m).await?;
                self.execute(vec![Effect::Complete], m, log).await?;
            }
            Phase::RollingBack { .. } => {
                self.execute(vec![Effect::RollBack], m, log).await?;
            }
            _ => self.reassert_from(found, m).await?,
        }
        Ok(())
    }

    /// A source with running counters (ship's proxy) is read once as the rollout starts, so the
    /// judge's first interval begins with the canary's first request, not a tick later.
    pub(crate) async fn first_reading(
        &mut self,
        now: DateTime<Utc>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        if self.plan.settings.judge.origin == shiploop_judge::Origin::Counter
            && self.state.phase == Phase::Progressing
        {
            self.tick(now, log).await?;
        }
        Ok(())
    }

    /// Applies one input: decide, record, then act.
    pub async fn apply(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
        samples: Option<&shiploop_rollout::Observation>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Decision> {
        self.apply_command(input, None, now, Moment::new(now), samples, log)
            .await
    }

    /// Decides at `now`, records (only while holding the lease; taking the queued command
    /// `command` in the same transaction), then acts, recording the router's calls as they
    /// happen within `m`.
    pub(crate) async fn apply_command(
        &mut self,
        input: Input,
        command: Option<i64>,
        now: DateTime<Utc>,
        m: Moment,
        samples: Option<&shiploop_rollout::Observation>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Decision> {
        let before = self.state.clone();
        let Step { effects, decision } = self.state.step(&self.plan, now, input);
        let id = self.id().to_string();
        if command.is_none() && effects.is_empty() && self.unremarkable(&before, &decision, now) {
            log(&decision);
            if let Some(t) = &self.telemetry {
                t.decision(&id, &decision);
            }
            return Ok(decision);
        }
        let recorded = self.store.record_step(shiploop_store::Step {
            release: &id,
            holder: Some(&self.holder),
            token: self.token,
            command,
            state: &self.state,
            decision: &decision,
            samples,
            events: &[],
        });
        if let Err(e) = recorded {
            // Nothing recorded: nothing may be acted on either.
            self.state = before;
            return Err(store_err(e));
        }
        self.last_recorded = Some(now);
        log(&decision);
        if let Some(t) = &self.telemetry {
            t.decision(&id, &decision);
        }
        if !matches!(decision.kind, DecisionKind::Hold | DecisionKind::Ignored) {
            // A contract that cannot be updated (edited by hand, unreadable) must not stop the
            // rollout: the state database has the decision; record why the contract lacks it.
            if let Err(e) = self.sync_contract(now) {
                let failed = Event::ContractUpdateFailed(shiploop_store::event::Failure {
                    error: e.to_string(),
                });
                let _ = self.log_event(&failed, now);
            }
        }
        if decision.pause_cause == Some(shiploop_rollout::PauseCause::Inconclusive) {
            self.inconclusive_signal(&decision, now);
        }
        self.execute(effects, m, log).await?;
        Ok(decision)
    }

    /// A hold that changes nothing a reader or a successor needs — same phase, stage, weight,
    /// counters, baseline, pause and rollback — within `state.evidence_every` of the last
    /// recorded decision: decided and shown, but not recorded. What it leaves out (watched
    /// time, the judge's running evidence) a successor recounts: it resumes from the last
    /// recorded state, so it watches longer, never less.
    fn unremarkable(&self, before: &Rollout, d: &Decision, now: DateTime<Utc>) -> bool {
        let every = chrono::Duration::from_std(self.ws.config.state.evidence_every.0);
        let recent = self
            .last_recorded
            .is_some_and(|at| every.is_ok_and(|every| now - at < every));
        let s = &self.state;
        recent
            && d.kind == DecisionKind::Hold
            && s.phase == before.phase
            && s.stage == before.stage
            && s.weight == before.weight
            && s.consecutive_errors == before.consecutive_errors
            && s.consecutive_failures == before.consecutive_failures
            && s.rollback_attempts == before.rollback_attempts
            && s.stable_baseline == before.stable_baseline
            && s.hold_from_ms == before.hold_from_ms
            && s.stage_started == before.stage_started
            && s.rollback == before.rollback
    }

    /// Writes the signal of a stage the judge could not decide (once per stage); a failure to
    /// write it is recorded, never a reason to stop the rollout.
    pub(crate) fn inconclusive_signal(&mut self, d: &Decision, now: DateTime<Utc>) {
        let signal = signals::for_inconclusive(&self.release, d, now);
        let (file, error) = match self.ws.write_signal(&signal) {
            Ok((path, true)) => (Some(self.ws.rel(&path)), None),
            Ok((_, false)) => return,
            Err(e) => (None, Some(e.to_string())),
        };
        let written = Event::SignalWritten(shiploop_store::event::SignalWritten {
            file,
            error,
            event: signal.meta.event.clone(),
        });
        let _ = self.log_event(&written, now);
    }

    /// One tick: queued commands, re-assertion if needed, measurement, decision, action.
    pub async fn tick(&mut self, now: DateTime<Utc>, log: &mut dyn FnMut(&Decision)) -> Result<()> {
        let m = Moment::new(now);
        let id = self.id().to_string();
        self.still_held(now)?;
        // One queued command at a time, taken in the transaction that records its decision.
        while let Some(queued) = self.store.next_command(&id).map_err(store_err)? {
            match queued {
                QueuedCommand::Input { id: cid, input } => {
                    self.apply_command(input, Some(cid), now, m, None, log)
                        .await?;
                }
                QueuedCommand::Unreadable { id: cid, error } => {
                    let rejected = Event::CommandRejected(shiploop_store::event::CommandRejected {
                        id: cid,
                        error,
                    });
                    self.log_event(&rejected, now)?;
                    self.store.reject_command(cid, now).map_err(store_err)?;
                }
            }
        }
        if self.state.phase.is_terminal() {
            return Ok(());
        }
        if let Phase::RollingBack { .. } = self.state.phase {
            self.execute(vec![Effect::RollBack], m, log).await?;
            return Ok(());
        }
        if self.state.phase == Phase::Completing {
            self.reassert(m).await?;
            self.execute(vec![Effect::Complete], m, log).await?;
            return Ok(());
        }
        if self.router_dirty {
            self.reassert(m).await?;
            if self.router_failures >= self.plan.settings.error_limit {
                let reason = match &self.router_error {
                    Some(e) => format!(
                        "the router failed {} times in a row; last: {e}",
                        self.router_failures
                    ),
                    None => format!("the router failed {} times in a row", self.router_failures),
                };
                let input = Input::RouterFailing { reason };
                self.apply_command(input, None, m.now(), m, None, log)
                    .await?;
                return Ok(());
            }
        }
        let keys = self.plan.required_keys(self.state.stage);
        let window = self.ws.config.metrics.window.0.as_secs().max(1);
        let (slow_secs, target_secs) = self.plan.latency_bounds();
        let mctx = MetricContext {
            service: self.release.contract.meta.service.clone(),
            release: id.clone(),
            stage: self.stage_name(),
            weight: self.state.weight,
            window_secs: window,
            since_secs: self
                .state
                .stage_started
                .map_or(window, |s| (now - s).num_seconds().max(1) as u64),
            stage_started: self.state.stage_started.map(Into::into),
            slow_secs,
            target_secs,
        };
        let (mut metric_keys, integrity_keys): (Vec<String>, Vec<String>) = keys
            .into_iter()
            .partition(|k| shiploop_rollout::measure::integrity_check_of(k).is_none());
        let required = metric_keys.clone();
        // The charts' error rates and p99s ride along; they decide nothing.
        for k in shiploop_rollout::measure::DISPLAY {
            if !metric_keys.iter().any(|m| m == k) {
                metric_keys.push(k.to_string());
            }
        }
        let mut obs = if required.is_empty() {
            Default::default()
        } else {
            self.providers.metrics.measure(&metric_keys, &mctx).await
        };
        // A chart-only key's absence is not the source failing.
        // The controller's own trouble is counted below as such, not as the source failing.
        let failed = obs.iter().any(|(k, m)| {
            required.contains(k) && matches!(m, Measurement::Error { .. }) && !m.is_local()
        });
        if failed {
            self.provider_error("metrics");
        }
        for k in integrity_keys {
            let m = self.providers.integrity_check(&k).await;
            if matches!(m, Measurement::Error { .. }) {
                self.provider_error("integrity");
            }
            obs.insert(k, m);
        }
        // The controller's own trouble (out of file descriptors or memory, unable to start a
        // process) says nothing about the release: this tick did not happen — nothing is
        // decided or recorded, and the time until the next good tick is not counted as
        // watched. Four of these in a row must never roll a healthy release back.
        if obs.values().any(|m| m.is_local()) {
            self.provider_error("controller");
            self.state.lost_sight();
            return Ok(());
        }
        // Decided at the tick's time, which the stage's watched time is counted from.
        let input = Input::Tick {
            observation: obs.clone(),
        };
        self.apply_command(input, None, now, m, Some(&obs), log)
            .await?;
        Ok(())
    }

    /// Drives the rollout to a terminal state (or until `stop` says so).
    pub async fn run(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Outcome> {
        let now = clock.now();
        self.acquire(now)?;
        let result = if self.renewed_elsewhere {
            self.drive(clock, stop, log).await
        } else {
            let renewer = super::lease::renew_forever(
                self.ws,
                self.id().to_string(),
                self.holder.clone(),
                self.lease_ttl(),
                crate::TokioClock::starting_at(now),
            );
            tokio::select! {
                r = self.drive(clock, stop, log) => r,
                () = renewer => Ok(Outcome::Interrupted),
            }
        };
        self.release_lease();
        result
    }

    pub(crate) async fn drive(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Outcome> {
        // A rollout is not ticked in step with every other one started or resumed at the same
        // moment (a restarted server, a replica taking over, a batch of releases approved
        // together): its ticks start at an offset within the interval drawn from its id, so a
        // thousand rollouts tick spread over the interval instead of all at once. A new
        // rollout's first tick comes sooner than a whole interval, with the data of a shorter
        // one: the judge holds on too little data.
        // `begin` and `tick` are boxed: their futures (kilobytes each) then live on the heap
        // only while they run, instead of inside every rollout task's future for as long as it
        // sleeps between ticks — and every caller up the chain that moves a future by value
        // (with_webhooks, ship serve's task) would hold them again.
        Box::pin(self.begin(clock.now(), log)).await?;
        let tick = self.ws.config.tick_interval();
        let first = spread(self.id(), tick);
        // Ticks keep their phase (an interval, not a sleep after each tick's work), so slow
        // ticks do not drift rollouts into step either.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut stop = stop.clone();
        loop {
            if let Some(o) = self.outcome() {
                self.finish(clock.now())?;
                return Ok(o);
            }
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(Outcome::Interrupted);
            }
            let started = tokio::time::Instant::now();
            Box::pin(self.tick(clock.now(), log)).await?;
            if let Some(t) = &self.telemetry {
                t.tick(started.elapsed());
            }
        }
    }
}

/// Where in each tick interval the rollout of `release` ticks: a fraction of `tick` drawn
/// from its id (FNV-1a), the same on every replica and every restart, at least 1 ms.
pub(crate) fn spread(release: &str, tick: Duration) -> Duration {
    let h = super::replicas::fnv1a(release.bytes());
    let ms = u64::try_from(tick.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis((h % ms).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumed_rollouts_tick_spread_over_the_interval() {
        let tick = Duration::from_secs(10);
        let mut per_second = [0u32; 10];
        for i in 0..1000 {
            let d = spread(&format!("2026-12-03-svc-{i}"), tick);
            assert!(d > Duration::ZERO && d < tick, "{d:?}");
            per_second[(d.as_millis() / 1000) as usize] += 1;
        }
        // 100 a second expected: none of the ten seconds gets more than half again.
        assert!(
            per_second.iter().all(|n| (50..=150).contains(n)),
            "{per_second:?}"
        );
        assert_eq!(spread("a", tick), spread("a", tick));
    }
}

#[cfg(test)]
mod future_sizes {
    use super::*;
    use std::future::Future;

    /// The size of the future `f` would return, without a controller to call it on.
    fn size<'c, F: Future>(_f: impl FnOnce(&'c mut Controller<'c>) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// `ship serve` holds one task per rollout for as long as it drives it, mostly asleep
    /// between ticks: its future must not carry room for a tick's, a validation's or a webhook
    /// delivery's (boxed while they run). It was ~90 kB per rollout before they were boxed.
    #[test]
    fn a_sleeping_rollout_holds_a_small_future() {
        let driving = size(|c| async move {
            let mut clock = SystemClock;
            let (_tx, stop) = tokio::sync::watch::channel(false);
            let notifier = c.notifier(clock.now())?;
            let work = async {
                let mut log = |_: &Decision| {};
                c.run(&mut clock, &stop, &mut log).await?;
                let mut vlog = |_: &str| {};
                c.validate(&mut clock, &stop, &mut vlog).await
            };
            with_webhooks(notifier.as_ref(), &|_| {}, work).await
        });
        assert!(driving < 6 * 1024, "{driving} bytes");
    }
}
