//! Timers kept by a serving thread for its requests to reuse (the request timeout's, in
//! crate::server).
//!
//! Why: a new tokio timer is registered in the runtime's timer wheel on its first poll and
//! taken out again when dropped (profiled at ~700 instructions per request). A kept timer is
//! still registered; moving its deadline later only updates the deadline (tokio's wheel looks
//! again when the earlier deadline comes).
//!
//! hyper's own timer for reading a request head was tried over these too: it made no
//! difference in instructions per request (hyper boxes each one), so hyper keeps its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// At most this many idle timers are kept per serving thread (about one per request in flight
/// and one per client connection).
const KEPT: usize = 4096;

/// One serving thread's idle timers.
#[derive(Default)]
pub(crate) struct Timers(Mutex<Vec<Pin<Box<Sleep>>>>);

impl Timers {
    /// A timer set to `deadline`; it goes back to `timers` when dropped.
    pub(crate) fn take(timers: &Arc<Timers>, deadline: Instant) -> Kept {
        let kept = timers.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let sleep = match kept {
            Some(mut s) => {
                s.as_mut().reset(deadline);
                s
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        Kept {
            timers: timers.clone(),
            sleep: Some(sleep),
        }
    }
}

/// A timer in use; a future that is ready at its deadline.
pub(crate) struct Kept {
    timers: Arc<Timers>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Kept {
    fn sleep(&mut self) -> Pin<&mut Sleep> {
        self.sleep
            .as_mut()
            .expect("a kept timer holds its sleep until dropped")
            .as_mut()
    }

    /// Moves the deadline.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.sleep().reset(deadline);
    }
}

impl Future for Kept {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().sleep().poll(cx)
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let Some(s) = self.sleep.take() else { return };
        // One that fired is registered no more: keeping it would save nothing.
        if s.is_elapsed() {
            return;
        }
        let mut kept = self.timers.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < KEPT {
            kept.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_fires_at_its_new_deadline_and_goes_back_for_reuse() {
        let timers = Arc::new(Timers::default());
        let start = Instant::now();
        let t = Timers::take(&timers, start + Duration::from_secs(60));
        drop(t);
        assert_eq!(timers.0.lock().unwrap().len(), 1, "kept");
        // Reused with an earlier deadline and with a later one: each fires at its own.
        let t = Timers::take(&timers, start + Duration::from_secs(5));
        assert_eq!(timers.0.lock().unwrap().len(), 0, "taken");
        t.await;
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
        assert_eq!(
            timers.0.lock().unwrap().len(),
            0,
            "a fired timer is not kept"
        );
        let t = Timers::take(&timers, start + Duration::from_secs(100));
        drop(t);
        let mut t = Timers::take(&timers, Instant::now() + Duration::from_secs(1));
        t.reset(Instant::now() + Duration::from_secs(200));
        let before = Instant::now();
        t.await;
        assert_eq!(Instant::now() - before, Duration::from_secs(200));
    }
}
