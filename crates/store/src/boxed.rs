//! A boxed store is a store: `Box<dyn StateStore + Send>` (what [`crate::open`] returns) goes
//! wherever a `S: StateStore` does, and `&*boxed` / `&mut *boxed` wherever a `&dyn StateStore`
//! / `&mut dyn StateStore` does. Every method forwards, the defaulted ones too, so a backend's
//! own versions are the ones that run.

use chrono::{DateTime, Utc};
use shiploop_rollout::{Input, Rollout};
use std::time::Duration;

use crate::event::Event;
use crate::state_store::StateStore;
use crate::stored::{
    ChainReport, DecisionRow, Fence, Lease, LoggedEvent, QueuedCommand, Step, StoredPlan,
    StoredRollout,
};
use crate::Result;

impl<T: StateStore + ?Sized> StateStore for Box<T> {
    fn rollout(&self, release: &str) -> Result<Option<StoredRollout>> {
        (**self).rollout(release)
    }
    fn rollouts(&self) -> Result<Vec<StoredRollout>> {
        (**self).rollouts()
    }
    fn releases(&self) -> Result<Vec<String>> {
        (**self).releases()
    }
    fn phases(&self) -> Result<Vec<(String, String)>> {
        (**self).phases()
    }
    fn create_rollout(
        &mut self,
        release: &str,
        plan: &StoredPlan,
        state: &Rollout,
        at: DateTime<Utc>,
    ) -> Result<()> {
        (**self).create_rollout(release, plan, state, at)
    }
    fn record_step(&mut self, step: Step<'_>) -> Result<()> {
        (**self).record_step(step)
    }
    fn state_problem(&self, release: &str) -> Result<Option<String>> {
        (**self).state_problem(release)
    }
    fn decisions(&self, release: &str) -> Result<Vec<DecisionRow>> {
        (**self).decisions(release)
    }
    fn sample_values(
        &self,
        releases: &[String],
        key: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        (**self).sample_values(releases, key, since, until)
    }
    fn prune_samples(&mut self, before: DateTime<Utc>) -> Result<usize> {
        (**self).prune_samples(before)
    }
    fn append_fenced(
        &mut self,
        release: &str,
        event: &Event,
        at: DateTime<Utc>,
        fence: Option<Fence<'_>>,
    ) -> Result<LoggedEvent> {
        (**self).append_fenced(release, event, at, fence)
    }
    fn append(&mut self, release: &str, event: &Event, at: DateTime<Utc>) -> Result<LoggedEvent> {
        (**self).append(release, event, at)
    }
    fn events_since(
        &self,
        release: Option<&str>,
        after: i64,
        limit: Option<usize>,
    ) -> Result<Vec<LoggedEvent>> {
        (**self).events_since(release, after, limit)
    }
    fn events(&self, release: Option<&str>) -> Result<Vec<LoggedEvent>> {
        (**self).events(release)
    }
    fn last_seq(&self, release: Option<&str>) -> Result<i64> {
        (**self).last_seq(release)
    }
    fn rollout_created(&self, release: &str) -> Result<Option<LoggedEvent>> {
        (**self).rollout_created(release)
    }
    fn created_rollouts(&self) -> Result<Vec<String>> {
        (**self).created_rollouts()
    }
    fn head(&self) -> Result<(i64, String)> {
        (**self).head()
    }
    fn hash_of(&self, seq: i64) -> Result<Option<String>> {
        (**self).hash_of(seq)
    }
    fn verify_chain(&self) -> Result<ChainReport> {
        (**self).verify_chain()
    }
    fn cursor(&self, name: &str) -> Result<i64> {
        (**self).cursor(name)
    }
    fn advance_cursor(&mut self, name: &str, from: i64, to: i64) -> Result<bool> {
        (**self).advance_cursor(name, from, to)
    }
    fn lease_acquire(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        (**self).lease_acquire(release, holder, ttl, now)
    }
    fn acquire_lease(
        &mut self,
        release: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        (**self).acquire_lease(release, holder, ttl, now)
    }
    fn lease_take_over(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        (**self).lease_take_over(release, old, holder, ttl, now)
    }
    fn take_over_lease(
        &mut self,
        release: &str,
        old: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        (**self).take_over_lease(release, old, holder, ttl, now)
    }
    fn release_lease(&mut self, release: &str, holder: &str) -> Result<()> {
        (**self).release_lease(release, holder)
    }
    fn renew_leases(
        &mut self,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        (**self).renew_leases(holder, ttl, now)
    }
    fn lease(&self, release: &str, now: DateTime<Utc>) -> Result<Option<Lease>> {
        (**self).lease(release, now)
    }
    fn lease_holder(&self, release: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        (**self).lease_holder(release, now)
    }
    fn leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<Vec<(String, Lease)>> {
        (**self).leases(prefix, now)
    }
    fn push_command(
        &mut self,
        release: &str,
        command: &Input,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        (**self).push_command(release, command, by, at)
    }
    fn next_command(&self, release: &str) -> Result<Option<QueuedCommand>> {
        (**self).next_command(release)
    }
    fn reject_command(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        (**self).reject_command(id, at)
    }
}
