//! The one way a rollout is driven with its webhooks (`ship rollout`, `ship serve`): delivered
//! beside the work every half second, so a slow or failing receiver never delays a tick, and
//! once more when the work ends, so what the rollout logged last goes out before the caller
//! moves on.

use super::*;
use crate::notify::Notifier;
use std::future::Future;

/// How often webhooks go out while a rollout is driven.
const DELIVERY_INTERVAL: Duration = Duration::from_millis(500);

/// Runs `work` with `notifier`'s deliveries beside it, then flushes once more. Both run on the
/// caller's task: a controller is driven through `&mut` borrows, and both callers' runtimes
/// are single-threaded anyway. A flush that fails is told to `warn` (a receiver that fails is
/// recorded in the event log by the notifier); it never fails the work.
///
/// Not an `async fn`: `work` is boxed before anything waits, so neither this future nor its
/// caller's keeps a copy of it inline. `ship serve` holds one such future per rollout for the
/// rollout's whole life, and every future that moves it by value would hold it again.
pub fn with_webhooks<'a, T: 'a>(
    notifier: Option<&'a Notifier>,
    warn: &'a dyn Fn(&str),
    work: impl Future<Output = T> + 'a,
) -> impl Future<Output = T> + 'a {
    let work = Box::pin(work);
    deliver_beside(notifier, warn, work)
}

async fn deliver_beside<T>(
    notifier: Option<&Notifier>,
    warn: &dyn Fn(&str),
    mut work: std::pin::Pin<Box<dyn Future<Output = T> + '_>>,
) -> T {
    let Some(n) = notifier else {
        return work.await;
    };
    // The flushes are boxed: a rollout task holds this future while it sleeps between ticks,
    // and room for an HTTP delivery inline would be kilobytes in each of them.
    let delivery = || async {
        if let Err(e) = Box::pin(n.flush()).await {
            warn(&e.to_string());
        }
        tokio::time::sleep(DELIVERY_INTERVAL).await;
    };
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            () = delivery() => {}
        }
    };
    // What the work logged last; the loop above stopped mid-delivery at most, and a delivery
    // is at least once, so nothing is lost.
    if let Err(e) = Box::pin(n.flush()).await {
        warn(&e.to_string());
    }
    out
}

impl Controller<'_> {
    /// [`Controller::run`], with the rollout's webhooks delivered beside it.
    pub async fn run_with_webhooks(
        &mut self,
        clock: &mut dyn Clock,
        stop: &tokio::sync::watch::Receiver<bool>,
        log: &mut dyn FnMut(&Decision),
        warn: &dyn Fn(&str),
    ) -> Result<Outcome> {
        let notifier = self.notifier(clock.now())?;
        with_webhooks(notifier.as_ref(), warn, self.run(clock, stop, log)).await
    }

    /// Sends once what the event log holds for this rollout that the webhooks have not had
    /// yet. A receiver that fails is recorded in the log (at `now`, the caller's clock); it
    /// never fails the caller.
    pub async fn send_webhooks(&self, now: DateTime<Utc>, warn: &dyn Fn(&str)) {
        match self.notifier(now) {
            Ok(Some(n)) => {
                if let Err(e) = n.flush().await {
                    warn(&e.to_string());
                }
            }
            Ok(None) => {}
            Err(e) => warn(&e.to_string()),
        }
    }
}
