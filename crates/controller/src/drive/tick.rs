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
                self.reassert_from(found, m).await;
                self.execute(vec![Effect::Complete], m, log).await?;
            }
            Phase::RollingBack { .. } => {
                self.execute(vec![Effect::RollBack], m, log).await?;
            }
            _ => self.reassert_from(found, m).await,
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
        let recorded = self.store.record_step(shiploop_store::Step {
            release: &id,
            holder: Some(&self.holder),
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
                let _ = self.store.append(&id, &failed, now);
            }
        }
        if decision.pause_cause == Some(shiploop_rollout::PauseCause::Inconclusive) {
            self.inconclusive_signal(&decision, now);
        }
        self.execute(effects, m, log).await?;
        Ok(decision)
    }

    /// Writes the signal of a stage the judge could not decide (once per stage); a failure to
    /// write it is recorded, never a reason to stop the rollout.
    pub(crate) fn inconclusive_signal(&mut self, d: &Decision, now: DateTime<Utc>) {
        let id = self.id().to_string();
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
        let _ = self.store.append(&id, &written, now);
    }

    /// One tick: queued commands, re-assertion if needed, measurement, decision, action.
    pub async fn tick(&mut self, now: DateTime<Utc>, log: &mut dyn FnMut(&Decision)) -> Result<()> {
        let m = Moment::new(now);
        let id = self.id().to_string();
        if !self
            .store
            .acquire_lease(&id, &self.holder, self.lease_ttl(), now)
            .map_err(store_err)?
        {
            let who = self
                .store
                .lease_holder(&id, now)
                .map_err(store_err)?
                .unwrap_or_default();
            return Err(store_err(shiploop_store::StoreError::LeaseLost(who)));
        }
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
                    let _ = self.store.append(&id, &rejected, now);
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
            self.reassert(m).await;
            self.execute(vec![Effect::Complete], m, log).await?;
            return Ok(());
        }
        if self.router_dirty {
            self.reassert(m).await;
            if self.router_failures >= self.plan.settings.error_limit {
                let reason = format!("the router failed {} times in a row", self.router_failures);
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
        let failed = obs
            .iter()
            .any(|(k, m)| required.contains(k) && matches!(m, Measurement::Error { .. }));
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
        let result = self.drive(clock, stop, log).await;
        self.release_lease();
        result
    }

    pub(crate) async fn drive(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<Outcome> {
        self.begin(clock.now(), log).await?;
        let tick = self.ws.config.tick_interval();
        let mut stop = stop.clone();
        loop {
            if let Some(o) = self.outcome() {
                self.finish(clock.now())?;
                return Ok(o);
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(Outcome::Interrupted);
            }
            let started = tokio::time::Instant::now();
            self.tick(clock.now(), log).await?;
            if let Some(t) = &self.telemetry {
                t.tick(started.elapsed());
            }
        }
    }
}
