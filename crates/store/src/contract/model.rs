//! The model test (after Vector's disk buffer): random sequences of operations applied to a
//! backend and to [`Model`], a few plain maps and vectors, compared after every operation —
//! each answer, and then everything the store can be asked.
//!
//! The seed is printed; `SHIP_TEST_SEED=<seed>` replays a run, and a failure names the case and
//! the operations that led to it.

use chrono::{DateTime, Utc};
use shiploop_rollout::{DecisionKind, Input, Measurement, Observation, Rollout};
use std::collections::BTreeMap;
use std::time::Duration;

use super::{at, decision, plan, state};
use crate::event::*;
use crate::{Fence, LoggedEvent, QueuedCommand, StateStore, Step, StoreError, StoredPlan};

/// Cases a run tries, each up to [`MAX_OPS`] operations on a fresh store.
pub const CASES: u64 = 300;
/// The longest sequence of operations in a case.
pub const MAX_OPS: u64 = 40;

const RELEASES: [&str; 3] = ["r1", "r2", "r3"];
const HOLDERS: [&str; 3] = ["a", "b", "c"];
const KEY: &str = "canary/error_rate";

/// SplitMix64: small, seedable, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

/// An engine step: a hold at `weight`, with a sample and events.
#[derive(Debug, Clone)]
struct StepOp {
    release: String,
    holder: Option<String>,
    token: Option<i64>,
    command: Option<i64>,
    weight: u8,
    sample: Option<f64>,
    events: Vec<Event>,
}

/// One operation on the store.
#[derive(Debug, Clone)]
enum Op {
    Create {
        release: String,
        digest: String,
    },
    Step(StepOp),
    Append {
        release: String,
        event: Event,
        fence: Option<(String, i64)>,
    },
    Acquire {
        release: String,
        holder: String,
        ttl_s: u64,
    },
    TakeOver {
        release: String,
        old: String,
        holder: String,
    },
    Release {
        release: String,
        holder: String,
    },
    Renew {
        holder: String,
        ttl_s: u64,
    },
    /// Samples older than this many seconds are pruned.
    Prune(i64),
    Push {
        release: String,
        input: Input,
        by: String,
    },
    Reject {
        id: i64,
    },
    Advance {
        name: String,
        from: i64,
        to: i64,
    },
    /// Time passes (seconds).
    Wait(i64),
}

struct Lease {
    /// None once released (the row and its token stay).
    holder: Option<String>,
    token: i64,
    expires: DateTime<Utc>,
}

struct Command {
    id: i64,
    release: String,
    input: Input,
    taken: bool,
}

struct ModelRollout {
    plan: StoredPlan,
    state: Rollout,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// What a store must hold after the operations so far.
#[derive(Default)]
struct Model {
    rollouts: BTreeMap<String, ModelRollout>,
    /// (release, event, at), in order: seq is the index + 1.
    events: Vec<(String, Event, DateTime<Utc>)>,
    decisions: BTreeMap<String, Vec<shiploop_rollout::Decision>>,
    /// (release, at, value) of every sample.
    samples: Vec<(String, DateTime<Utc>, f64)>,
    leases: BTreeMap<String, Lease>,
    commands: Vec<Command>,
    cursors: BTreeMap<String, i64>,
}

/// What an operation answered, in a form both sides can give.
#[derive(Debug, PartialEq)]
enum Answer {
    Done,
    Refused(&'static str),
    Bool(bool),
    Id(i64),
    Token(Option<i64>),
    Count(usize),
    Renewed(Vec<(String, i64)>),
}

fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound(_) => "not found",
        StoreError::Conflict(_) => "conflict",
        StoreError::LeaseLost(_) => "lease lost",
        StoreError::Corrupt(_) => "corrupt",
        StoreError::Unavailable(_) => "unavailable",
        _ => "database",
    }
}

fn small_event(rng: &mut Rng) -> Event {
    match rng.below(6) {
        0 => Event::Router(RouterCall::intent(
            RouterAction::SetWeight,
            rng.below(101) as u8,
        )),
        1 if rng.below(2) == 0 => {
            Event::Router(RouterCall::done(RouterAction::RollBack, 0, "ok".into()))
        }
        1 => Event::Router(RouterCall::failed(
            RouterAction::RollBack,
            0,
            "refused".into(),
        )),
        2 => Event::OncallAcked(OncallAcked {
            by: rng.pick(&HOLDERS).into(),
        }),
        3 => Event::SignalWritten(SignalWritten {
            file: Some(format!("signals/{}.md", rng.below(5))),
            error: None,
            event: Some("rollback".into()),
        }),
        4 => Event::FlagEvaluated(FlagEvaluated {
            flag: "f".into(),
            ok: rng.below(2) == 0,
            detail: "d".into(),
        }),
        _ => Event::Unrecognised(Unrecognised {
            kind: "x-note".into(),
            data: serde_json::json!({ "n": rng.below(1000) }),
        }),
    }
}

/// A random operation; command ids are drawn from those handed out so far (and one beyond).
fn random_op(rng: &mut Rng, commands_pushed: i64) -> Op {
    let release = rng.pick(&RELEASES).to_string();
    let holder = rng.pick(&HOLDERS).to_string();
    let command_id = |rng: &mut Rng| 1 + rng.below(commands_pushed as u64 + 1) as i64;
    match rng.below(22) {
        0..=1 => Op::Create {
            release,
            digest: format!("sha256:{}", rng.below(3)),
        },
        2..=6 => Op::Step(StepOp {
            release,
            token: (rng.below(2) == 0).then(|| 1 + rng.below(4) as i64),
            holder: (rng.below(3) > 0).then_some(holder.clone()),
            command: (rng.below(3) == 0).then(|| command_id(rng)),
            weight: rng.below(101) as u8,
            sample: (rng.below(2) == 0).then(|| rng.below(100) as f64 / 8.0),
            events: (0..rng.below(3)).map(|_| small_event(rng)).collect(),
        }),
        7..=8 => Op::Append {
            release,
            event: small_event(rng),
            fence: (rng.below(3) == 0).then(|| (holder, 1 + rng.below(4) as i64)),
        },
        9..=10 => Op::Acquire {
            release,
            holder,
            ttl_s: 5 + rng.below(30),
        },
        11 => Op::TakeOver {
            release,
            old: rng.pick(&HOLDERS).into(),
            holder,
        },
        12 => Op::Release { release, holder },
        13..=14 => Op::Push {
            release,
            input: match rng.below(3) {
                0 => Input::Pause { reason: "r".into() },
                1 => Input::Resume,
                _ => Input::Abort { reason: "a".into() },
            },
            by: format!("cli {holder}"),
        },
        15 => Op::Reject {
            id: command_id(rng),
        },
        16..=17 => {
            let from = rng.below(4) as i64;
            Op::Advance {
                name: format!("webhooks:{release}"),
                from,
                to: from + rng.below(3) as i64,
            }
        }
        20 => Op::Renew {
            holder,
            ttl_s: 5 + rng.below(30),
        },
        21 => Op::Prune(rng.below(60) as i64),
        _ => Op::Wait(1 + rng.below(20) as i64),
    }
}

impl Model {
    fn live_lease(&self, release: &str, now: DateTime<Utc>) -> Option<crate::Lease> {
        let l = self.leases.get(release)?;
        Some(crate::Lease {
            holder: l.holder.clone()?,
            token: l.token,
            expires_at: l.expires,
        })
        .filter(|_| l.expires > now)
    }

    fn take_command(&mut self, id: i64) {
        if let Some(c) = self.commands.iter_mut().find(|c| c.id == id) {
            c.taken = true;
        }
    }

    /// Whether a write for `holder` (with `token`, when given) passes the lease row.
    fn fenced(&self, release: &str, holder: &str, token: Option<i64>) -> bool {
        // The lease row, expired or not: a holder whose lease ran out but that nobody
        // replaced still records.
        self.leases.get(release).is_some_and(|l| {
            l.holder.as_deref() == Some(holder) && token.is_none_or(|t| t == l.token)
        })
    }

    fn apply(&mut self, op: &Op, now: DateTime<Utc>) -> Answer {
        match op {
            Op::Create { release, digest } => {
                if self.rollouts.contains_key(release) {
                    return Answer::Refused("conflict");
                }
                let plan = plan(digest);
                let initial = state(0);
                self.events.push((
                    release.clone(),
                    Event::RolloutCreated(RolloutCreated {
                        kind: "standard".into(),
                        plan: plan.clone(),
                        state_sha256: crate::chain::sha256_hex(
                            &serde_json::to_value(&initial).unwrap().to_string(),
                        ),
                    }),
                    now,
                ));
                self.rollouts.insert(
                    release.clone(),
                    ModelRollout {
                        plan,
                        state: initial,
                        created_at: now,
                        updated_at: now,
                    },
                );
                Answer::Done
            }
            Op::Step(s) => {
                let StepOp {
                    release,
                    holder,
                    token,
                    ..
                } = s;
                if let Some(h) = holder {
                    if !self.fenced(release, h, *token) {
                        return Answer::Refused("lease lost");
                    }
                }
                let Some(r) = self.rollouts.get_mut(release) else {
                    return Answer::Refused("not found");
                };
                let new_state = state(s.weight);
                r.state = new_state.clone();
                r.updated_at = now;
                let d = decision(DecisionKind::Hold, now, s.weight);
                self.decisions
                    .entry(release.clone())
                    .or_default()
                    .push(d.clone());
                if let Some(v) = s.sample {
                    self.samples.push((release.clone(), now, v));
                }
                let text = serde_json::to_value(&new_state).unwrap().to_string();
                self.events.push((
                    release.clone(),
                    Event::Decision(DecisionEvent {
                        decision: d,
                        state_sha256: Some(crate::chain::sha256_hex(&text)),
                    }),
                    now,
                ));
                for e in &s.events {
                    self.events.push((release.clone(), e.clone(), now));
                }
                if let Some(id) = s.command {
                    self.take_command(id);
                }
                Answer::Done
            }
            Op::Append {
                release,
                event,
                fence,
            } => {
                if let Some((h, t)) = fence {
                    if !self.fenced(release, h, Some(*t)) {
                        return Answer::Refused("lease lost");
                    }
                }
                self.events.push((release.clone(), event.clone(), now));
                Answer::Done
            }
            Op::Acquire {
                release,
                holder,
                ttl_s,
            } => {
                let token = match self.leases.get(release) {
                    None => 1,
                    Some(l) => match &l.holder {
                        Some(h) if l.expires > now && h != holder => return Answer::Token(None),
                        Some(_) if l.expires > now => l.token,
                        _ => l.token + 1,
                    },
                };
                let expires = now + chrono::Duration::seconds(*ttl_s as i64);
                self.leases.insert(
                    release.clone(),
                    Lease {
                        holder: Some(holder.clone()),
                        token,
                        expires,
                    },
                );
                Answer::Token(Some(token))
            }
            Op::TakeOver {
                release,
                old,
                holder,
            } => match self.leases.get_mut(release) {
                Some(l) if l.holder.as_ref() == Some(old) => {
                    l.holder = Some(holder.clone());
                    l.token += 1;
                    l.expires = now + chrono::Duration::seconds(30);
                    Answer::Token(Some(l.token))
                }
                _ => Answer::Token(None),
            },
            Op::Release { release, holder } => {
                if let Some(l) = self.leases.get_mut(release) {
                    if l.holder.as_ref() == Some(holder) {
                        l.holder = None;
                    }
                }
                Answer::Done
            }
            Op::Renew { holder, ttl_s } => {
                let mut renewed = vec![];
                for (name, l) in self.leases.iter_mut() {
                    if l.holder.as_ref() == Some(holder) && l.expires > now {
                        l.expires = now + chrono::Duration::seconds(*ttl_s as i64);
                        renewed.push((name.clone(), l.token));
                    }
                }
                renewed.sort();
                Answer::Renewed(renewed)
            }
            Op::Prune(age) => {
                let before = now - chrono::Duration::seconds(*age);
                let n = self.samples.len();
                self.samples.retain(|s| s.1 >= before);
                Answer::Count(n - self.samples.len())
            }
            Op::Push { release, input, by } => {
                let id = self.commands.len() as i64 + 1;
                self.commands.push(Command {
                    id,
                    release: release.clone(),
                    input: input.clone(),
                    taken: false,
                });
                self.events.push((
                    release.clone(),
                    Event::CommandQueued(CommandQueued {
                        id,
                        command: input.clone(),
                        by: by.clone(),
                    }),
                    now,
                ));
                Answer::Id(id)
            }
            Op::Reject { id } => {
                self.take_command(*id);
                Answer::Done
            }
            Op::Advance { name, from, to } => {
                let current = self.cursors.get(name).copied().unwrap_or(0);
                if current != *from {
                    return Answer::Bool(false);
                }
                self.cursors.insert(name.clone(), *to);
                Answer::Bool(true)
            }
            Op::Wait(_) => Answer::Done,
        }
    }
}

fn apply_store<S: StateStore>(st: &mut S, op: &Op, now: DateTime<Utc>) -> Answer {
    let answer = |r: crate::Result<()>| match r {
        Ok(()) => Answer::Done,
        Err(e) => Answer::Refused(error_kind(&e)),
    };
    match op {
        Op::Create { release, digest } => {
            answer(st.create_rollout(release, &plan(digest), &state(0), now))
        }
        Op::Step(s) => {
            let obs: Option<Observation> = s
                .sample
                .map(|v| [(KEY.to_string(), Measurement::value(v, 100))].into());
            let d = decision(DecisionKind::Hold, now, s.weight);
            answer(st.record_step(Step {
                release: &s.release,
                holder: s.holder.as_deref(),
                token: s.token,
                command: s.command,
                state: &state(s.weight),
                decision: &d,
                samples: obs.as_ref(),
                events: &s.events,
            }))
        }
        Op::Append {
            release,
            event,
            fence,
        } => {
            let fence = fence.as_ref().map(|(holder, token)| Fence {
                holder,
                token: *token,
            });
            answer(st.append_fenced(release, event, now, fence).map(|_| ()))
        }
        Op::Acquire {
            release,
            holder,
            ttl_s,
        } => Answer::Token(
            st.lease_acquire(release, holder, Duration::from_secs(*ttl_s), now)
                .unwrap(),
        ),
        Op::TakeOver {
            release,
            old,
            holder,
        } => Answer::Token(
            st.lease_take_over(release, old, holder, Duration::from_secs(30), now)
                .unwrap(),
        ),
        Op::Release { release, holder } => answer(st.release_lease(release, holder)),
        Op::Renew { holder, ttl_s } => Answer::Renewed(
            st.renew_leases(holder, Duration::from_secs(*ttl_s), now)
                .unwrap(),
        ),
        Op::Prune(age) => Answer::Count(
            st.prune_samples(now - chrono::Duration::seconds(*age))
                .unwrap(),
        ),
        Op::Push { release, input, by } => {
            Answer::Id(st.push_command(release, input, by, now).unwrap())
        }
        Op::Reject { id } => answer(st.reject_command(*id, now)),
        Op::Advance { name, from, to } => {
            Answer::Bool(st.advance_cursor(name, *from, *to).unwrap())
        }
        Op::Wait(_) => Answer::Done,
    }
}

/// Everything the store can be asked, compared with the model; the first difference.
fn compare<S: StateStore>(st: &S, m: &Model, now: DateTime<Utc>) -> Result<(), String> {
    let differ = |what: &str, store: &dyn std::fmt::Debug, model: &dyn std::fmt::Debug| {
        Err(format!("{what}:\n  store: {store:?}\n  model: {model:?}"))
    };
    // Rollouts, in creation order (then by release).
    let got = st.rollouts().map_err(|e| e.to_string())?;
    let mut want: Vec<_> = m.rollouts.iter().collect();
    want.sort_by_key(|(release, r)| (r.created_at, (*release).clone()));
    if got.len() != want.len() {
        return differ("rollouts", &got, &want.len());
    }
    let releases = st.releases().map_err(|e| e.to_string())?;
    let want_releases: Vec<&String> = want.iter().map(|(r, _)| *r).collect();
    if releases.iter().collect::<Vec<_>>() != want_releases {
        return differ("releases", &releases, &want_releases);
    }
    for (g, (release, w)) in got.iter().zip(want) {
        let same = &g.release == release
            && g.plan == w.plan
            && g.state == w.state
            && g.created_at == w.created_at
            && g.updated_at == w.updated_at
            && g.kind == "standard";
        if !same {
            return differ("rollout", g, release);
        }
        if st.rollout(release).map_err(|e| e.to_string())?.as_ref() != Some(g) {
            return Err(format!("rollout({release}) differs from rollouts()"));
        }
        if let Some(p) = st.state_problem(release).map_err(|e| e.to_string())? {
            return Err(format!("state_problem({release}): {p}"));
        }
    }
    // The event log, whole and per release, and its chain.
    let events = st.events(None).map_err(|e| e.to_string())?;
    let as_model = |e: &LoggedEvent| (e.release.clone(), e.event.clone(), e.at);
    let got: Vec<_> = events.iter().map(as_model).collect();
    if got != m.events {
        return differ("events", &got, &m.events);
    }
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as i64 + 1 {
            return Err(format!("event {i} has seq {}", e.seq));
        }
    }
    let report = st.verify_chain().map_err(|e| e.to_string())?;
    if !report.ok || report.events != events.len() {
        return differ("verify_chain", &report, &events.len());
    }
    let head = st.head().map_err(|e| e.to_string())?;
    let want_head = events
        .last()
        .map(|e| (e.seq, e.hash.clone()))
        .unwrap_or((0, crate::chain::GENESIS.to_string()));
    if head != want_head {
        return differ("head", &head, &want_head);
    }
    for release in RELEASES {
        let mine: Vec<_> = events.iter().filter(|e| e.release == release).collect();
        let got = st.events(Some(release)).map_err(|e| e.to_string())?;
        if got.iter().collect::<Vec<_>>() != mine {
            return Err(format!("events({release}) differ from the log's"));
        }
        let last = mine.last().map_or(0, |e| e.seq);
        if st.last_seq(Some(release)).map_err(|e| e.to_string())? != last {
            return Err(format!("last_seq({release})"));
        }
        // Decisions, samples, the next command, the lease, the cursor.
        let got: Vec<_> = st
            .decisions(release)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| d.decision)
            .collect();
        let want = m.decisions.get(release).cloned().unwrap_or_default();
        if got != want {
            return differ(&format!("decisions({release})"), &got, &want);
        }
        let got = st
            .sample_values(&[release.to_string()], KEY, at(-1), now)
            .map_err(|e| e.to_string())?;
        let want: Vec<_> = m
            .samples
            .iter()
            .filter(|s| s.0 == release)
            .map(|s| (s.1, s.2))
            .collect();
        if got != want {
            return differ(&format!("sample_values({release})"), &got, &want);
        }
        let got = st.next_command(release).map_err(|e| e.to_string())?;
        let want = m
            .commands
            .iter()
            .find(|c| c.release == release && !c.taken)
            .map(|c| QueuedCommand::Input {
                id: c.id,
                input: c.input.clone(),
            });
        if got != want {
            return differ(&format!("next_command({release})"), &got, &want);
        }
        let got = st.lease(release, now).map_err(|e| e.to_string())?;
        let want = m.live_lease(release, now);
        if got != want {
            return differ(&format!("lease({release})"), &got, &want);
        }
        let got = st.lease_holder(release, now).map_err(|e| e.to_string())?;
        let want = want.map(|l| l.holder);
        if got != want {
            return differ(&format!("lease_holder({release})"), &got, &want);
        }
        let name = format!("webhooks:{release}");
        let got = st.cursor(&name).map_err(|e| e.to_string())?;
        let want = m.cursors.get(&name).copied().unwrap_or(0);
        if got != want {
            return differ(&format!("cursor({name})"), &got, &want);
        }
    }
    for prefix in ["", "r", "r2", "x"] {
        let got = st.leases(prefix, now).map_err(|e| e.to_string())?;
        let want: Vec<_> = m
            .leases
            .keys()
            .filter(|r| r.starts_with(prefix))
            .filter_map(|r| Some((r.clone(), m.live_lease(r, now)?)))
            .collect();
        if got != want {
            return differ(&format!("leases({prefix:?})"), &got, &want);
        }
    }
    let created = st.created_rollouts().map_err(|e| e.to_string())?;
    let want: Vec<String> = m.rollouts.keys().cloned().collect();
    if created != want {
        return differ("created_rollouts", &created, &want);
    }
    Ok(())
}

/// The seed of this run: `SHIP_TEST_SEED` when set (to replay), otherwise a new one.
pub fn seed() -> u64 {
    match std::env::var("SHIP_TEST_SEED") {
        Ok(s) => s.parse().expect("SHIP_TEST_SEED must be a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// Runs `cases` random cases from `seed`, each on a fresh store from `fresh`; panics at the
/// first difference with the seed, the case and its operations.
pub fn run<S: StateStore>(seed: u64, cases: u64, mut fresh: impl FnMut() -> S) {
    println!("store model: SHIP_TEST_SEED={seed} ({cases} cases)");
    let mut rng = Rng::new(seed);
    for case in 0..cases {
        let mut st = fresh();
        let mut model = Model::default();
        let mut ops = vec![];
        let mut t = 0;
        let mut pushed = 0;
        let n = 1 + rng.below(MAX_OPS);
        for _ in 0..n {
            let op = random_op(&mut rng, pushed);
            if let Op::Wait(s) = op {
                t += s;
            }
            let now = at(t);
            ops.push(op.clone());
            let want = model.apply(&op, now);
            let got = apply_store(&mut st, &op, now);
            if let Answer::Id(id) = got {
                pushed = pushed.max(id);
            }
            let result = if got != want {
                Err(format!("answer:\n  store: {got:?}\n  model: {want:?}"))
            } else {
                compare(&st, &model, now)
            };
            if let Err(problem) = result {
                let listed: Vec<String> = ops.iter().map(|o| format!("  {o:?}")).collect();
                panic!(
                    "store model: case {case} differs after {} operations — replay with SHIP_TEST_SEED={seed}\n{problem}\noperations:\n{}",
                    ops.len(),
                    listed.join("\n")
                );
            }
        }
    }
}
