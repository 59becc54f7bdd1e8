use super::*;

impl Controller<'_> {
    /// Takes the lease, or says who holds it. Each taking gets a new fencing token, recorded
    /// in the event log with the holder (`lease-acquired`), so the log says which controller
    /// recorded what.
    pub fn acquire(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.check_binding()?;
        let id = self.id().to_string();
        let ttl = self.lease_ttl();
        if let Some(token) = self
            .store
            .lease_acquire(&id, &self.holder, ttl, now)
            .map_err(store_err)?
        {
            return self.took(token, None, now);
        }
        // A lease left by a dead process on this machine (killed, crashed) is taken over at
        // once instead of waiting for it to expire.
        let who = self
            .store
            .lease_holder(&id, now)
            .map_err(store_err)?
            .unwrap_or_default();
        if holder_is_dead(&who) {
            if let Some(token) = self
                .store
                .lease_take_over(&id, &who, &self.holder, ttl, now)
                .map_err(store_err)?
            {
                return self.took(token, Some(who), now);
            }
        }
        Err(Error::Held {
            release: id,
            holder: who,
        })
    }

    /// Holding the lease with `token` (from a dead `from`, when taken over): recorded, then
    /// the state re-read.
    fn took(&mut self, token: i64, from: Option<String>, now: DateTime<Utc>) -> Result<()> {
        let renewed = self.token == Some(token);
        self.token = Some(token);
        self.held_until = Some(shiploop_store::lease_end(now, self.lease_ttl()));
        if !renewed {
            let event = match from {
                Some(from) => Event::LeaseTakenOver(shiploop_store::event::LeaseTakenOver {
                    from,
                    to: self.holder.clone(),
                }),
                None => Event::LeaseAcquired(shiploop_store::event::LeaseAcquired {
                    holder: self.holder.clone(),
                    token,
                }),
            };
            // A rollout not created yet has no log to write to: its creation comes next.
            if self.store.rollout(self.id()).map_err(store_err)?.is_some() {
                self.log_event(&event, now)?;
            }
        }
        self.reload()
    }

    /// Checks, at the start of a tick, that this controller still holds the lease with its
    /// token (renewing it too, unless `ship serve` renews it): a controller that lost it
    /// stops before it measures, records or acts.
    ///
    /// Under `ship serve` the answer is known without a read most of the time: a lease with
    /// a holder and an expiry is this controller's until then — only the holder gives it up
    /// before, and only after expiry can another take it. So the lease is read only when what
    /// this controller knows (its taking, the replica's last renewal that named it, its last
    /// read) runs out within a margin. Every record is fenced all the same.
    pub(crate) fn still_held(&mut self, now: DateTime<Utc>) -> Result<()> {
        let id = self.id().to_string();
        let lost = |who: Option<String>| {
            store_err(shiploop_store::StoreError::LeaseLost(
                who.unwrap_or_else(|| "nobody".into()),
            ))
        };
        if self.renewed_elsewhere {
            let margin = chrono::Duration::from_std(self.lease_ttl() / 5).unwrap_or_default();
            let known = |until: Option<DateTime<Utc>>| until.is_some_and(|u| now + margin < u);
            if known(self.held_until) {
                return Ok(());
            }
            // Only then the replica's last renewal (a lock and a lookup), and only then a read.
            if let (Some(renewals), Some(token)) = (&self.renewals, self.token) {
                let renewed = renewals.until(&id, token);
                if known(renewed) {
                    self.held_until = renewed;
                    return Ok(());
                }
            }
            return match self.store.lease(&id, now).map_err(store_err)? {
                Some(l) if l.holder == self.holder && Some(l.token) == self.token => {
                    self.held_until = Some(l.expires_at);
                    Ok(())
                }
                other => {
                    self.held_until = None;
                    Err(lost(other.map(|l| l.holder)))
                }
            };
        }
        let ttl = self.lease_ttl();
        match self
            .store
            .lease_acquire(&id, &self.holder, ttl, now)
            .map_err(store_err)?
        {
            Some(t) if self.token.is_none_or(|mine| mine == t) => {
                self.token = Some(t);
                Ok(())
            }
            // Taken again after it lapsed: someone else may have driven it in between.
            Some(_) => Err(lost(None)),
            None => Err(lost(self.store.lease_holder(&id, now).map_err(store_err)?)),
        }
    }

    /// Re-reads the recorded state: what this process read before taking the lease may have
    /// been changed by the previous holder since.
    pub(crate) fn reload(&mut self) -> Result<()> {
        let id = self.id().to_string();
        if let Some(row) = self.store.rollout(&id).map_err(store_err)? {
            self.state = row.state;
        }
        Ok(())
    }

    /// Gives up this process's lease on the rollout, so another process may drive it.
    pub fn release_lease(&mut self) {
        let id = self.id().to_string();
        let _ = self.store.release_lease(&id, &self.holder);
        self.token = None;
        self.held_until = None;
    }

    /// Whether another live process holds the lease.
    pub fn driven_elsewhere(&self, now: DateTime<Utc>) -> Result<Option<String>> {
        let h = self.store.lease_holder(self.id(), now).map_err(store_err)?;
        Ok(h.filter(|h| *h != self.holder && !holder_is_dead(h)))
    }
}

/// Whether `holder`, the live process holding a rollout's lease, would apply a queued operator
/// command. It would, except on a completed rollout whose validation nobody will run
/// (`nobody_validates`: validation.auto off, or the validation ended) when it is a `ship serve`
/// replica (its heartbeat is live): such a replica is only ending its run, recording the
/// completion and then letting go. Only a foreground run (`ship rollout validate`) applies a
/// command there. The API and the command line both decide with this.
pub fn holder_applies_commands(
    store: &dyn shiploop_store::StateStore,
    holder: &str,
    nobody_validates: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    if !nobody_validates {
        return Ok(true);
    }
    let heartbeat = super::heartbeat::replica_lease(holder);
    let replica = store.lease_holder(&heartbeat, now).map_err(store_err)?;
    Ok(replica.as_deref() != Some(holder))
}

/// A holder is `host:pid`; on this host, a pid that no longer exists is a dead holder.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    host == hostname()
        && pid
            .parse::<u32>()
            .is_ok_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A foreground run's own renewal of its lease, every third of the TTL, from its own handle
/// on the state database — so the lease stays held through a long router call or smoke test.
/// Runs until dropped; a failed renewal is retried at the next period (the controller's own
/// checks and fenced writes stop it if the lease is lost meanwhile).
pub(crate) async fn renew_forever(
    ws: &Workspace,
    release: String,
    holder: String,
    ttl: std::time::Duration,
    mut clock: crate::TokioClock,
) {
    let Ok(mut store) = crate::open_store(ws) else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(ttl / 3).await;
        let now = clock.now();
        if let Ok(Some(l)) = store.lease(&release, now) {
            if l.holder == holder {
                let _ = store.renew_leases(&holder, ttl, now);
            }
        }
    }
}
