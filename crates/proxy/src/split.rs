//! Which version serves a request: a header override first (internal users), then a sticky key
//! (header or cookie) through monotone hashing, then an exact spread for keyless requests.
//!
//! Monotone: a key maps to a fixed point in [0, 10 000); it is on the new version while that
//! point is below `weight × 100`. Raising the weight only ever adds keys, so a user on the
//! canary at 5 % is still on it at 25 %, 50 % and 100 %, and nobody flips back and forth.

use std::sync::atomic::{AtomicU64, Ordering};

/// Which release serves a request: the stable one or the canary being rolled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The release in service before the rollout.
    Stable,
    /// The new release being rolled out.
    Canary,
}

impl Version {
    /// The version's name in measurement keys and the override header (`stable` / `canary`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::Stable => "stable",
            Version::Canary => "canary",
        }
    }

    /// The override header's value (`stable` / `canary`), case-insensitive.
    pub fn parse(s: &str) -> Option<Version> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stable" => Some(Version::Stable),
            "canary" => Some(Version::Canary),
            _ => None,
        }
    }
}

/// The point of a key in [0, 10 000): FNV-1a, then a 64-bit finaliser so that similar keys
/// (user-1, user-2, …) spread evenly. Stable across runs, machines and ship versions.
pub fn point(key: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % 10_000) as u32
}

/// The routing decision for one weight. Cheap to share; the keyless counter is atomic.
#[derive(Debug, Default)]
pub struct Splitter {
    keyless: AtomicU64,
}

impl Splitter {
    /// A splitter whose keyless counter starts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a version. `weight` is the new version's percentage (0–100).
    pub fn choose(&self, weight: u8, override_to: Option<Version>, key: Option<&[u8]>) -> Version {
        if let Some(v) = override_to {
            return v;
        }
        let weight = u32::from(weight.min(100));
        match key {
            Some(k) => {
                if point(k) < weight * 100 {
                    Version::Canary
                } else {
                    Version::Stable
                }
            }
            None => {
                // Exactly `weight` % of keyless requests, spread evenly rather than at random.
                let n = self.keyless.fetch_add(1, Ordering::Relaxed);
                let w = u64::from(weight);
                if ((n + 1) * w) / 100 > (n * w) / 100 {
                    Version::Canary
                } else {
                    Version::Stable
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        (0..10_000).map(|i| format!("user-{i}")).collect()
    }

    #[test]
    fn ten_thousand_keys_at_5_percent_land_5_percent_on_canary() {
        let s = Splitter::new();
        let canary = keys()
            .iter()
            .filter(|k| s.choose(5, None, Some(k.as_bytes())) == Version::Canary)
            .count();
        assert!((400..=600).contains(&canary), "{canary} of 10000");
    }

    #[test]
    fn stickiness_is_monotone_as_the_weight_grows() {
        let s = Splitter::new();
        let weights = [0u8, 5, 25, 50, 100];
        for k in keys() {
            let mut was_canary = false;
            for w in weights {
                let now = s.choose(w, None, Some(k.as_bytes())) == Version::Canary;
                assert!(now || !was_canary, "{k} left the canary going to {w} %");
                // The same key always gets the same answer at one weight.
                assert_eq!(
                    now,
                    s.choose(w, None, Some(k.as_bytes())) == Version::Canary
                );
                was_canary = now;
            }
            assert!(was_canary, "at 100 % everyone is on the new version");
        }
    }

    #[test]
    fn the_override_header_wins() {
        let s = Splitter::new();
        assert_eq!(
            s.choose(0, Some(Version::Canary), Some(b"x")),
            Version::Canary
        );
        assert_eq!(s.choose(100, Some(Version::Stable), None), Version::Stable);
        assert_eq!(Version::parse(" Canary "), Some(Version::Canary));
        assert_eq!(Version::parse("v2"), None);
    }

    #[test]
    fn keyless_requests_split_exactly() {
        let s = Splitter::new();
        let canary = (0..1000)
            .filter(|_| s.choose(25, None, None) == Version::Canary)
            .count();
        assert_eq!(canary, 250);
        assert!((0..100).all(|_| s.choose(0, None, None) == Version::Stable));
    }

    #[test]
    fn points_are_stable_across_runs() {
        // Pinned values: changing the hash would move users between versions mid-rollout.
        assert_eq!(point(b"user-1"), 7624);
        assert_eq!(point(b"alice"), 572);
        assert_eq!(point(b""), 6203);
        let spread: std::collections::BTreeSet<u32> = (0..100)
            .map(|i| point(format!("u{i}").as_bytes()) / 1000)
            .collect();
        assert!(
            spread.len() >= 8,
            "similar keys spread over the range: {spread:?}"
        );
    }
}
