use super::*;
use shiploop_store::event::{RouterAction, RouterCall, RouterPhase};

impl Controller<'_> {
    /// After a router failure or a restart: make the router carry the recorded weight
    /// (idempotent).
    pub(crate) async fn reassert(&mut self, m: Moment) -> Result<()> {
        let have = self
            .providers
            .router
            .effective_weight(&self.route_ctx())
            .await;
        self.reassert_from(have, m).await
    }

    /// `reassert`, given what the router was found to carry.
    pub(crate) async fn reassert_from(&mut self, have: Found, m: Moment) -> Result<()> {
        let want = self.state.weight;
        if let Ok(Some(w)) = have {
            if w == want {
                self.router_dirty = false;
                self.router_failures = 0;
                return Ok(());
            }
        }
        self.router_intent(RouterAction::ReassertWeight, want, m)?;
        let ctx = self.route_ctx();
        let result = self.providers.router.set_weight(&ctx, want).await;
        self.router_event(
            RouterAction::ReassertWeight,
            want,
            &result.map(|o| o.detail),
            m.now(),
        );
        Ok(())
    }

    /// On resume: what the router carries now, recorded as a `found` router event (the weight,
    /// or null when the router cannot tell) next to the weight the recorded state expects.
    pub(crate) async fn found(&mut self, m: Moment) -> Found {
        let have = self
            .providers
            .router
            .effective_weight(&self.route_ctx())
            .await;
        let recorded = self.state.weight;
        let found = match &have {
            Ok(w) => RouterCall::found(*w, recorded),
            Err(e) => RouterCall::unreadable(e.to_string(), recorded),
        };
        let _ = self.log_event(&Event::Router(found), m.now());
        have
    }

    /// Recorded before a router call that moves traffic, so a crash during the call (or
    /// before its confirmation is written) still leaves the change in the log. Written only
    /// while this controller holds the lease with its token: one that lost it (or cannot
    /// reach the database) never calls the router.
    ///
    /// The write proves the lease only at the instant it committed. A process paused right
    /// after it (SIGSTOP, a frozen VM) wakes up with the call still ahead of it, perhaps after
    /// another replica took the rollout over and set the router itself. So the lease is
    /// checked again after the write, at a time read afresh from the monotonic clock (which
    /// runs on while a process is stopped): from what this controller knows when that covers
    /// the moment, else from the database.
    pub(crate) fn router_intent(
        &mut self,
        action: RouterAction,
        weight: u8,
        m: Moment,
    ) -> Result<()> {
        let intent = Event::Router(RouterCall::intent(action, weight));
        self.log_event(&intent, m.now())?;
        self.still_held(m.now())
    }

    /// The confirmation of a router call (`phase: done`): what the router answered.
    pub(crate) fn router_event(
        &mut self,
        action: RouterAction,
        weight: u8,
        result: &std::result::Result<String, shiploop_providers::ProviderError>,
        at: DateTime<Utc>,
    ) {
        let done = Event::Router(match result {
            Ok(detail) => RouterCall::done(action, weight, detail.clone()),
            Err(e) => RouterCall::failed(action, weight, e.to_string()),
        });
        self.router_dirty = result.is_err();
        if let Err(e) = result {
            // The controller's own trouble is retried, never counted against the release.
            if e.is_local() {
                self.provider_error("controller");
            } else {
                self.provider_error("router");
                self.router_failures += 1;
                self.router_error = Some(e.to_string());
            }
        } else {
            self.router_failures = 0;
        }
        let _ = self.log_event(&done, at);
    }

    /// Carries out effects on the router: each call is recorded as an intent before it and
    /// confirmed after it, at the times they happened; the router's answer to a rollback or a
    /// completion is decided at the time it came.
    pub(crate) async fn execute(
        &mut self,
        effects: Vec<Effect>,
        m: Moment,
        log: &mut dyn FnMut(&Decision),
    ) -> Result<()> {
        for e in effects {
            let ctx = self.route_ctx();
            match e {
                Effect::SetWeight { weight, .. } => {
                    self.router_intent(RouterAction::SetWeight, weight, m)?;
                    let r = self.providers.router.set_weight(&ctx, weight).await;
                    self.router_event(
                        RouterAction::SetWeight,
                        weight,
                        &r.map(|o| o.detail),
                        m.now(),
                    );
                }
                Effect::RollBack => {
                    self.router_intent(RouterAction::RollBack, 0, m)?;
                    let r = self.providers.router.roll_back(&ctx).await;
                    let local = r.as_ref().is_err_and(|e| e.is_local());
                    let ok = r.is_ok();
                    let err = r.as_ref().err().map(|e| e.to_string());
                    self.router_event(RouterAction::RollBack, 0, &r.map(|o| o.detail), m.now());
                    if local {
                        // Still rolling back; the next tick tries again, not counted.
                        continue;
                    }
                    let input = if ok {
                        Input::RolledBack
                    } else {
                        Input::RollbackFailed {
                            error: err.unwrap_or_default(),
                        }
                    };
                    Box::pin(self.apply_command(input, None, m.now(), m, None, log)).await?;
                }
                Effect::Complete => {
                    self.router_intent(RouterAction::Promote, 100, m)?;
                    let r = self.providers.router.promote(&ctx).await;
                    let local = r.as_ref().is_err_and(|e| e.is_local());
                    let err = r.as_ref().err().map(|e| e.to_string());
                    self.router_event(RouterAction::Promote, 100, &r.map(|o| o.detail), m.now());
                    if local {
                        continue;
                    }
                    let input = match err {
                        None => Input::Promoted,
                        Some(error) => Input::PromoteFailed { error },
                    };
                    Box::pin(self.apply_command(input, None, m.now(), m, None, log)).await?;
                }
            }
        }
        Ok(())
    }
}

/// What `effective_weight` answered: the weight, None when the router cannot tell.
pub(crate) type Found = std::result::Result<Option<u8>, shiploop_providers::ProviderError>;

/// The weights router events (oldest first) show the router carried: a confirmed call's
/// weight, and an intent's weight when the next thing recorded is that weight found in place
/// (the confirmation was lost to a crash). Events from before intents were recorded have no
/// `phase` and count as confirmations.
pub(crate) fn weights_carried<'e>(events: impl Iterator<Item = &'e RouterCall>) -> Vec<u8> {
    let mut out: Vec<u8> = vec![];
    let mut intent: Option<u8> = None;
    for call in events {
        let weight = call.weight;
        let carried = match call.phase {
            Some(RouterPhase::Intent) => {
                intent = weight;
                continue;
            }
            Some(RouterPhase::Found) => weight.filter(|w| intent == Some(*w)),
            _ => weight.filter(|_| call.ok == Some(true)),
        };
        intent = None;
        if let Some(w) = carried {
            if out.last() != Some(&w) {
                out.push(w);
            }
        }
    }
    out
}
