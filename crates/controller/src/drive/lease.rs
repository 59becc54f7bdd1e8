use super::*;

impl Controller<'_> {
    /// Takes the lease, or says who holds it.
    pub fn acquire(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.check_binding()?;
        // A lease left by a dead process on this machine (killed, crashed) is taken over at
        // once instead of waiting for it to expire.
        let id = self.id().to_string();
        let ttl = self.lease_ttl();
        if self
            .store
            .acquire_lease(&id, &self.holder, ttl, now)
            .map_err(store_err)?
        {
            return self.reload();
        }
        let who = self
            .store
            .lease_holder(&id, now)
            .map_err(store_err)?
            .unwrap_or_default();
        if holder_is_dead(&who)
            && self
                .store
                .take_over_lease(&id, &who, &self.holder, ttl, now)
                .map_err(store_err)?
        {
            let taken = Event::LeaseTakenOver(shiploop_store::event::LeaseTakenOver {
                from: who.clone(),
                to: self.holder.clone(),
            });
            let _ = self.store.append(&id, &taken, now);
            return self.reload();
        }
        Err(Error::Held {
            release: id,
            holder: who,
        })
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
    }

    /// Whether another live process holds the lease.
    pub fn driven_elsewhere(&self, now: DateTime<Utc>) -> Result<Option<String>> {
        let h = self.store.lease_holder(self.id(), now).map_err(store_err)?;
        Ok(h.filter(|h| *h != self.holder && !holder_is_dead(h)))
    }
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
