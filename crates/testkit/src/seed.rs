//! One convention for every randomised test: the seed is printed, and `SHIP_TEST_SEED=<n>`
//! replays it.
//!
//! A test calls [`seed`] once; it prints `SHIP_TEST_SEED=<n> replays <what>` on stderr, which
//! the test runner shows with a failing test's output (and always with `--nocapture`). To
//! replay: `SHIP_TEST_SEED=<n> cargo test -p <crate> --test <binary> <test name>`.

/// The environment variable that replays a seed.
pub const SEED_VAR: &str = "SHIP_TEST_SEED";

/// This run's seed: `$SHIP_TEST_SEED` when set (a replay), else a new one from the clock and
/// the process id. Printed with `what` (which test, what the seed chooses).
pub fn seed(what: &str) -> u64 {
    let seed = match std::env::var(SEED_VAR) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR} must be a number, not {s:?}")),
        Err(_) => fresh(),
    };
    eprintln!("{SEED_VAR}={seed} replays {what}");
    seed
}

fn fresh() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // Tests started in the same nanosecond by a parallel runner still differ.
    splitmix(nanos ^ (u64::from(std::process::id()) << 32))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A small deterministic generator (xorshift64*): the same seed gives the same numbers on
/// every machine, which is all a replay needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        // xorshift is stuck at 0.
        Rng(splitmix(seed).max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_every_time() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(42), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(42), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..5)
                .scan(Rng::new(43), |r, _| Some(r.next_u64()))
                .collect::<Vec<_>>()
        );
        assert!(Rng::new(0).below(10) < 10);
    }
}
