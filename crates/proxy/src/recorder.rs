//! The golden metrics shared by the serving threads, recorded without a lock shared between
//! them on every request.
//!
//! Why: with one `Mutex<Golden>` every request of every serving thread took the same lock and
//! wrote the same buckets, counters and histograms, so those cache lines went from core to
//! core on every request. Now each serving thread queues its requests' measurements in its
//! own [`Queue`] and applies them to the shared [`Golden`] in batches: when [`BATCH`] are
//! queued, or when the second changes, and only if no one else has the metrics at that moment
//! (it tries again on its next request rather than wait). Reading goes through [`Recorder::lock`], which applies
//! every queue first, so a reader sees every request counted so far, exactly as before; and a
//! batch applied late lands in the bucket of its own second ([`crate::metrics::Window`]).

use crate::metrics::{Golden, Outcome};
use crate::split::Version;
use std::sync::{Arc, LockResult, Mutex, MutexGuard, PoisonError, TryLockError};

/// Measurements a serving thread queues before it applies them.
pub const BATCH: usize = 64;

/// Measurements a serving thread may have queued while the metrics are busy before it waits
/// for them.
const MAX_QUEUED: usize = 16 * BATCH;

/// One request's measurement, as [`Golden::record`] takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measurement {
    pub second: u64,
    pub version: Version,
    /// The instance's place in the pool.
    pub instance: usize,
    pub outcome: Outcome,
    pub answered: u16,
    pub micros: u64,
}

/// One serving thread's measurements not yet applied.
#[derive(Debug, Default)]
pub struct Queue(Mutex<Vec<Measurement>>);

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Vec<Measurement>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The golden metrics, and the queues of the serving threads that feed them.
#[derive(Debug)]
pub struct Recorder {
    golden: Mutex<Golden>,
    queues: Mutex<Vec<Arc<Queue>>>,
    /// Instance names by place in the pool.
    names: Vec<String>,
}

impl Recorder {
    /// Empty metrics keeping `keep_secs` seconds, for the instances `names` (by pool place).
    pub fn new(keep_secs: u64, names: Vec<String>) -> Recorder {
        Recorder {
            golden: Mutex::new(Golden::new(keep_secs)),
            queues: Mutex::new(Vec::new()),
            names,
        }
    }

    /// A queue for one serving thread.
    pub fn queue(&self) -> Arc<Queue> {
        let q = Arc::new(Queue(Mutex::new(Vec::with_capacity(BATCH))));
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(q.clone());
        q
    }

    /// The metrics with every queued measurement applied. Lock order: the metrics, then a queue.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, Golden>> {
        let (mut golden, poisoned) = match self.golden.lock() {
            Ok(g) => (g, false),
            Err(p) => (p.into_inner(), true),
        };
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for q in queues.iter() {
            self.apply(&mut golden, &mut q.lock());
        }
        drop(queues);
        if poisoned {
            Err(PoisonError::new(golden))
        } else {
            Ok(golden)
        }
    }

    /// Queues `m` on `queue`, and applies the queue when it is full or `m` is of a new second.
    pub(crate) fn record(&self, queue: &Queue, m: Measurement) {
        let apply = {
            let mut q = queue.lock();
            let new_second = q.first().is_some_and(|first| first.second != m.second);
            q.push(m);
            new_second || q.len() >= BATCH
        };
        if !apply {
            return;
        }
        // The other serving thread (or a reader) has the metrics: this thread does not wait
        // for them, which would stall every connection it serves; its queue is applied on a
        // later request, or by the reader (who applies every queue). Only a queue grown well
        // past a batch waits.
        let mut golden = match self.golden.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) if queue.lock().len() < MAX_QUEUED => return,
            Err(TryLockError::WouldBlock) => self.golden.lock().unwrap_or_else(|p| p.into_inner()),
        };
        self.apply(&mut golden, &mut queue.lock());
    }

    fn apply(&self, golden: &mut Golden, queue: &mut Vec<Measurement>) {
        for m in queue.drain(..) {
            let name = self.names.get(m.instance).map_or("", String::as_str);
            golden.record(m.second, m.version, name, m.outcome, m.answered, m.micros);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: u64, micros: u64) -> Measurement {
        Measurement {
            second,
            version: Version::Canary,
            instance: 0,
            outcome: Outcome::Status(200),
            answered: 200,
            micros,
        }
    }

    #[test]
    fn a_reader_sees_every_queued_measurement_in_its_own_second() {
        let r = Recorder::new(60, vec!["v2-a".into()]);
        let (a, b) = (r.queue(), r.queue());
        // Thread a's second-5 requests are still queued when thread b's second 6 is applied.
        r.record(&a, at(5, 1_000));
        for _ in 0..BATCH {
            r.record(&b, at(6, 9_000));
        }
        let g = r.lock().unwrap();
        assert_eq!(g.totals(Version::Canary).requests, BATCH as u64 + 1);
        assert_eq!(g.version(Version::Canary, 5, 1).requests, 1, "second 5");
        assert_eq!(g.version(Version::Canary, 6, 1).requests, BATCH as u64);
        let (name, _, t) = g.instance_totals().next().unwrap();
        assert_eq!((name, t.requests), ("v2-a", BATCH as u64 + 1));
    }

    #[test]
    fn a_serving_thread_does_not_wait_for_metrics_someone_else_has() {
        let r = Recorder::new(60, vec!["v2-a".into()]);
        let a = r.queue();
        let held = r.lock().unwrap();
        // With the old blocking lock this thread would wait on itself here, forever.
        for _ in 0..2 * BATCH {
            r.record(&a, at(5, 1_000));
        }
        assert_eq!(
            held.totals(Version::Canary).requests,
            0,
            "none applied while held"
        );
        drop(held);
        assert_eq!(
            r.lock().unwrap().totals(Version::Canary).requests,
            2 * BATCH as u64,
            "the reader applies what waited"
        );
    }
}
