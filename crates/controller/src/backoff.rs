//! The one backoff rule of the controller: a delay that doubles with each failure, up to a
//! cap. Used by `ship serve`'s retry of a failed rollout task and by webhook delivery.
//!
//! A helper rather than the `backon` or `backoff` crates: the rollout retry is not a loop that
//! sleeps but a time stored with the task (computed from the failure count, clock-free), and
//! the webhook loop is three lines on tokio's clock; a crate would bring its own retry driver
//! for one multiplication.

use std::time::Duration;

/// `first` doubled `n` times, at most `cap`: the delay before retry number `n + 1`.
/// Saturates instead of overflowing, however large `n` is.
pub(crate) fn doubling(first: Duration, n: u32, cap: Duration) -> Duration {
    first.saturating_mul(1u32 << n.min(31)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::doubling;
    use std::time::Duration;

    #[test]
    fn doubles_from_the_first_delay_up_to_the_cap() {
        let s = Duration::from_secs;
        let delays: Vec<Duration> = (0..7).map(|n| doubling(s(10), n, s(300))).collect();
        assert_eq!(delays, [s(10), s(20), s(40), s(80), s(160), s(300), s(300)]);
        assert_eq!(doubling(s(10), u32::MAX, s(300)), s(300));
        assert_eq!(doubling(Duration::MAX, 3, Duration::MAX), Duration::MAX);
        let ms = Duration::from_millis;
        assert_eq!(doubling(ms(500), 2, s(30)), s(2));
        assert_eq!(doubling(ms(500), 40, s(30)), s(30));
    }
}
