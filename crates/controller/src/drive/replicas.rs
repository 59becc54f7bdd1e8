//! Several `ship serve` processes sharing one state database: which of them drives which
//! rollout.
//!
//! Each replica keeps a heartbeat lease named `replica:<holder>` alive; the live ones are those
//! whose heartbeat has not expired. A rollout is preferred by one live replica, chosen by
//! rendezvous hashing of its release id over the live replicas' names: every replica computes
//! the same answer from the same list without talking to the others, adding or losing a
//! replica moves only the rollouts it gains or had, and the rollouts spread evenly. The
//! preference only says who should *try*: the rollout's own lease (with its fencing token)
//! still decides who drives it, so two replicas that briefly disagree about the live list
//! cannot both act.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The prefix of the replicas' heartbeat leases.
pub const REPLICA_LEASE: &str = "replica:";

/// What one replica knows of the others.
#[derive(Debug, Clone)]
pub struct Replicas {
    me: String,
    /// Live replicas, with when this one first saw each (a newcomer gets rollouts handed
    /// over only once it has been seen for `settle` — so a replica that is still starting,
    /// or flapping, does not make rollouts change hands back and forth).
    seen: HashMap<String, DateTime<Utc>>,
    settle: chrono::Duration,
}

impl Replicas {
    /// This replica (`me`), alone so far; newcomers count after `settle`.
    pub fn new(me: &str, settle: std::time::Duration) -> Replicas {
        Replicas {
            me: me.to_string(),
            seen: HashMap::new(),
            settle: chrono::Duration::from_std(settle).unwrap_or_default(),
        }
    }

    /// This replica's name (its holder id).
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The live replicas now (from the heartbeat leases), `me` among them whatever the
    /// database said (this replica is live: it is running this).
    pub fn update(&mut self, live: impl IntoIterator<Item = String>, now: DateTime<Utc>) {
        let live: Vec<String> = live.into_iter().collect();
        self.seen.retain(|h, _| live.contains(h) || *h == self.me);
        for h in live {
            self.seen.entry(h).or_insert(now);
        }
        self.seen.entry(self.me.clone()).or_insert(now);
    }

    /// How many replicas are live.
    pub fn count(&self) -> usize {
        self.seen.len()
    }

    /// The replica that should drive `release`: the live replica, settled by `now` (this one
    /// always counts), with the highest rendezvous score.
    pub fn preferred(&self, release: &str, now: DateTime<Utc>) -> &str {
        let mut best: (&str, u64) = (self.me.as_str(), score(release, &self.me));
        for (h, since) in &self.seen {
            if *h == self.me || now - *since < self.settle {
                continue;
            }
            let s = score(release, h);
            if s > best.1 || (s == best.1 && h.as_str() < best.0) {
                best = (h.as_str(), s);
            }
        }
        best.0
    }

    /// Whether this replica should drive `release`.
    pub fn mine(&self, release: &str, now: DateTime<Utc>) -> bool {
        self.preferred(release, now) == self.me
    }
}

/// The rendezvous score of a (release, replica) pair: FNV-1a over both, then a 64-bit
/// finaliser (splitmix64) so near-identical names still spread. Stable across builds and
/// machines, unlike std's hasher.
fn score(release: &str, replica: &str) -> u64 {
    let mut h = fnv1a(release.bytes().chain([0xff]).chain(replica.bytes()));
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// FNV-1a over `bytes`: a hash that is the same in every build and on every machine (std's
/// is not promised to be), for choices every replica must make alike.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(secs)
    }

    fn three() -> Vec<Replicas> {
        let names = ["a:1", "b:2", "c:3"];
        names
            .iter()
            .map(|me| {
                let mut r = Replicas::new(me, std::time::Duration::from_secs(3));
                r.update(names.iter().map(|s| s.to_string()), at(0));
                r
            })
            .collect()
    }

    #[test]
    fn every_replica_agrees_and_the_rollouts_spread() {
        let rs = three();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for i in 0..3000 {
            let id = format!("2026-12-03-web-{i}");
            let p = rs[0].preferred(&id, at(10));
            assert!(rs.iter().all(|r| r.preferred(&id, at(10)) == p), "{id}");
            assert_eq!(rs.iter().filter(|r| r.mine(&id, at(10))).count(), 1);
            *counts.entry(p).or_default() += 1;
        }
        // 1,000 each expected; a binomial's 4 sigma is about 100.
        for (who, n) in counts {
            assert!((900..=1100).contains(&n), "{who}: {n}");
        }
    }

    #[test]
    fn losing_a_replica_moves_only_its_rollouts() {
        let rs = three();
        let mut a = rs[0].clone();
        let before: Vec<String> = (0..600)
            .map(|i| a.preferred(&format!("r{i}"), at(10)).to_string())
            .collect();
        a.update(["a:1".to_string(), "b:2".to_string()], at(20));
        for (i, was) in before.iter().enumerate() {
            let now = a.preferred(&format!("r{i}"), at(20));
            if was != "c:3" {
                assert_eq!(now, was, "r{i} moved though its replica lives");
            } else {
                assert_ne!(now, "c:3");
            }
        }
    }

    #[test]
    fn a_newcomer_counts_only_once_settled() {
        let mut a = Replicas::new("a:1", std::time::Duration::from_secs(3));
        a.update(["a:1".to_string()], at(0));
        assert!((0..200).all(|i| a.mine(&format!("r{i}"), at(1))));
        a.update(["a:1".to_string(), "b:2".to_string()], at(5));
        assert!((0..200).all(|i| a.mine(&format!("r{i}"), at(6))));
        let theirs = (0..200)
            .filter(|i| !a.mine(&format!("r{i}"), at(9)))
            .count();
        assert!((60..=140).contains(&theirs), "{theirs}");
    }
}
