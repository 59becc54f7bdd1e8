//! The judge of one rollout: the error-rate and p99-latency triggers, and the `latency` stage
//! check, decided from the request counts seen so far, with a false-rollback probability
//! bounded by α over the whole rollout.
//!
//! Each of them is one test, and α is shared among the tests (a union bound). Within a test,
//! every watched stage starts a fresh bettor when it begins — a canary can behave differently at
//! 25 % than at 5 % — and each keeps betting until the rollout ends; the first stage's bettor
//! gets half the test's α (it watches the whole rollout, and the canary stage is where a broken
//! version must be caught), the later stages share the other half. The sum of the bettors'
//! capital, weighted by their shares, is one supermartingale starting at 1: the test rolls back
//! when it reaches 1/α_test.
//!
//! Promotion needs the opposite evidence, from the current stage alone: a bettor that the
//! canary is *better* than the limit must reach 1/β, so a canary worse by the whole margin
//! passes a stage with probability at most β.

use crate::bet::{self, Counts, RateBets, Side, Wealth, GRID};
use crate::tally::{self, Last, Origin, Reading, Step};
use crate::text;
use serde::{Deserialize, Serialize};

/// The error probabilities a team chooses (ship.toml `[judge]`), frozen into a rollout's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Chance that the judge rolls back a canary that is within its limits, over the whole
    /// rollout and however often it looks.
    pub alpha: f64,
    /// Chance that a canary worse by exactly a limit passes one stage.
    pub beta: f64,
    /// Where the metric source's counts start.
    pub origin: Origin,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alpha: 0.01,
            beta: 0.05,
            origin: Origin::Stage,
        }
    }
}

/// What the approved contract allows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// The error-rate trigger's margin over the stable version, as a fraction (1 pp = 0.01).
    pub error_margin: Option<f64>,
    /// The p99 trigger's limit in seconds (factor × target): at most 1 % of requests slower.
    pub slow_limit_secs: Option<f64>,
    /// The `latency` stage check's target in seconds (p99 within target), when a stage has it.
    pub target_secs: Option<f64>,
}

/// The fraction of requests a p99 lets be slower than it.
pub const SLOW_ALLOWED: f64 = 0.01;

/// What the judge knows of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageInfo {
    /// The stage's traffic weight on the canary, in percent.
    pub weight: u8,
    /// Watched for a duration (the stages whose evidence decides anything).
    pub watched: bool,
}

/// Which latency bound a test is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The p99 trigger: factor × target.
    Limit,
    /// The `latency` stage check: the target.
    Target,
}

/// The judge's view of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    /// The error probabilities.
    pub settings: Settings,
    /// The limits a regression is measured against.
    pub limits: Limits,
    /// The plan's stages, in order.
    pub stages: Vec<StageInfo>,
    slow_worse: RateBets,
    slow_better: RateBets,
}

/// A test's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Call {
    /// The data show, at level α, that the canary is worse than the limit: roll back.
    Regression,
    /// The data rule out, at level β, that the canary is worse by the limit.
    Clear,
    /// Not enough evidence either way yet.
    Open,
    /// The source gave none of the counts this test needs.
    NoCounts,
}

/// The numbers behind a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The counts the sentence cites are those since stage `since_stage` began.
    pub since_stage: usize,
    /// Requests and errors (error rate), or requests and those slower than the bound (latency).
    pub stable: Counts,
    /// The canary's counts over the same span.
    pub canary: Counts,
    /// ln of the capital that bets on a regression, and the level that rolls back.
    pub regression: f64,
    /// The level `regression` must reach to roll back.
    pub regression_needed: f64,
    /// ln of the capital that bets against one (this stage), and the level that clears it.
    pub clear: f64,
    /// The level `clear` must reach to clear the stage.
    pub clear_needed: f64,
}

#[derive(Debug, Clone, PartialEq)]
/// A test's verdict with its explanation.
pub struct Verdict {
    /// What the test decided.
    pub call: Call,
    /// One sentence: what was seen and what it shows.
    pub sentence: String,
    /// The numbers behind it.
    pub evidence: Evidence,
}

/// Counts of one stage, from the intervals between readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The stable version's counts.
    pub stable: Counts,
    /// The canary's counts.
    pub canary: Counts,
    /// Canary requests in intervals whose slow requests were counted, and how many were slow.
    pub timed: u64,
    /// Of the timed canary requests, how many were slower than the p99 limit.
    pub slow: u64,
    /// The same against the latency target.
    #[serde(default)]
    pub timed_target: u64,
    #[serde(default)]
    /// Of the canary requests timed against the target, how many were slower than it.
    pub slow_target: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.stable.add(&other.stable);
        self.canary.add(&other.canary);
        self.timed += other.timed;
        self.slow += other.slow;
        self.timed_target += other.timed_target;
        self.slow_target += other.slow_target;
    }

    /// (requests timed, requests slower than the bound).
    fn latency(&self, bound: Bound) -> (u64, u64) {
        match bound {
            Bound::Limit => (self.timed, self.slow),
            Bound::Target => (self.timed_target, self.slow_target),
        }
    }
}

/// One grid of bettors, started when stage `stage` began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// The stage whose start began this grid.
    pub stage: usize,
    /// The bettors' capital.
    pub wealth: Wealth,
}

/// What the judge has seen of a rollout; kept in the rollout's recorded state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    /// The last reading, to count the next interval from.
    pub last: Option<Last>,
    /// By stage index.
    #[serde(default)]
    pub stages: Vec<Tally>,
    /// Error-rate regression bettors, one per watched stage begun.
    #[serde(default)]
    pub worse: Vec<Component>,
    /// The current stage's bettor against an error-rate regression.
    #[serde(default)]
    pub better: Option<Component>,
}

/// A test's state in numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Numbers {
    /// What the test decides now.
    pub call: Call,
    /// ln of the weighted capital betting on a regression.
    pub regression: f64,
    /// ln of this stage's capital betting against one.
    pub clear: f64,
    /// The stage whose bettor holds the most of the regression capital.
    pub strongest: usize,
    /// The stable rate standing in for the stable version (at 100 %).
    pub baseline: Option<f64>,
}

impl Judge {
    /// A judge for a plan's stages with these error probabilities and limits.
    pub fn new(settings: Settings, limits: Limits, stages: Vec<StageInfo>) -> Judge {
        Judge {
            settings,
            limits,
            stages,
            slow_worse: RateBets::new(Side::Worse, SLOW_ALLOWED),
            slow_better: RateBets::new(Side::Better, SLOW_ALLOWED),
        }
    }

    fn weight(&self, stage: usize) -> u8 {
        self.stages.get(stage).map_or(0, |s| s.weight)
    }

    fn watched(&self, stage: usize) -> bool {
        self.stages.get(stage).is_some_and(|s| s.watched)
    }

    /// How many statistical tests share α.
    fn tests(&self) -> usize {
        let l = &self.limits;
        [
            l.error_margin.is_some(),
            l.slow_limit_secs.is_some(),
            l.target_secs.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    }

    /// α of one test.
    pub fn test_alpha(&self) -> f64 {
        self.settings.alpha / self.tests().max(1) as f64
    }

    /// The share of a test's α that the bettor started at `stage` gets.
    pub fn share(&self, stage: usize) -> f64 {
        let watched: Vec<usize> = (0..self.stages.len())
            .filter(|i| self.watched(*i))
            .collect();
        match watched.iter().position(|s| *s == stage) {
            None => 0.0,
            Some(_) if watched.len() == 1 => 1.0,
            Some(0) => 0.5,
            Some(_) => 0.5 / (watched.len() - 1) as f64,
        }
    }

    /// ln of the capital that rolls back.
    pub fn regression_needed(&self) -> f64 {
        (1.0 / self.test_alpha()).ln()
    }

    /// ln of the capital that clears a stage.
    pub fn clear_needed(&self) -> f64 {
        (1.0 / self.settings.beta).ln()
    }

    fn bound_secs(&self, bound: Bound) -> Option<f64> {
        match bound {
            Bound::Limit => self.limits.slow_limit_secs,
            Bound::Target => self.limits.target_secs,
        }
    }
}

/// Decides from the bettors' capital: `parts` are (share, ln capital, stage started).
fn numbers(
    j: &Judge,
    parts: &[(f64, f64, usize)],
    clear: f64,
    stage: usize,
    no_counts: bool,
    baseline: Option<f64>,
) -> Numbers {
    // No bettor yet is no evidence: capital 1 (and JSON has no −∞).
    let regression = Some(weighted(parts))
        .filter(|r| r.is_finite())
        .unwrap_or(0.0);
    let strongest = parts
        .iter()
        .filter(|(s, _, _)| *s > 0.0)
        .max_by(|a, b| (a.0.ln() + a.1).total_cmp(&(b.0.ln() + b.1)))
        .map_or(stage, |p| p.2);
    let call = if no_counts {
        Call::NoCounts
    } else if regression >= j.regression_needed() {
        Call::Regression
    } else if clear >= j.clear_needed() {
        Call::Clear
    } else {
        Call::Open
    };
    Numbers {
        call,
        regression,
        clear,
        strongest,
        baseline,
    }
}

/// ln Σ share·exp(ln capital) over (share, ln capital, _).
fn weighted(parts: &[(f64, f64, usize)]) -> f64 {
    let logs = || {
        parts
            .iter()
            .filter(|(s, _, _)| *s > 0.0)
            .map(|(s, l, _)| s.ln() + l)
    };
    let max = logs().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + logs().map(|l| (l - max).exp()).sum::<f64>().ln()
}

impl State {
    /// Takes one reading of cumulative counts at a tick of stage `stage`.
    pub fn observe(&mut self, j: &Judge, stage: usize, reading: Reading) {
        let (step, last) = tally::step(j.settings.origin, self.last.as_ref(), stage, reading);
        self.last = Some(last);
        let Step::Interval(iv) = step else {
            return;
        };
        if self.stages.len() <= stage {
            self.stages.resize(stage + 1, Tally::default());
        }
        let c = &iv.canary;
        let mut add = Tally {
            stable: Counts::new(iv.stable.requests, iv.stable.errors, None),
            canary: Counts::new(c.requests, c.errors, None),
            ..Tally::default()
        };
        if let Some(slow) = c.slow {
            (add.timed, add.slow) = (c.requests, slow.min(c.requests));
        }
        if let Some(slow) = c.slow_target {
            (add.timed_target, add.slow_target) = (c.requests, slow.min(c.requests));
        }
        self.stages[stage].add(&add);
        let Some(margin) = j.limits.error_margin else {
            return;
        };
        if j.weight(stage) >= 100 || iv.stable.requests == 0 || iv.canary.requests == 0 {
            return;
        }
        if j.watched(stage) && !self.worse.iter().any(|c| c.stage == stage) {
            self.worse.push(Component {
                stage,
                wealth: Wealth::default(),
            });
        }
        let growth: Vec<f64> = GRID
            .iter()
            .map(|g| bet::diff_log_growth(*g, Side::Worse, &iv.stable, &iv.canary, margin))
            .collect();
        for c in &mut self.worse {
            c.wealth.add(&growth);
        }
        if self.better.as_ref().is_none_or(|b| b.stage != stage) {
            self.better = Some(Component {
                stage,
                wealth: Wealth::default(),
            });
        }
        if let Some(b) = &mut self.better {
            b.wealth
                .grow(|g| bet::diff_log_growth(g, Side::Better, &iv.stable, &iv.canary, margin));
        }
    }

    /// Counts from the start of stage `from` to stage `to`, inclusive.
    fn since(&self, from: usize, to: usize) -> Tally {
        let mut out = Tally::default();
        for t in self.stages.iter().take(to + 1).skip(from) {
            out.add(t);
        }
        out
    }

    /// The counts of stage `stage` so far.
    pub fn stage_tally(&self, stage: usize) -> Tally {
        self.since(stage, stage)
    }

    /// The stable version's error rate before stage `stage`: the baseline where the stable
    /// version serves nothing (100 %).
    pub fn baseline_before(&self, stage: usize) -> Option<f64> {
        if stage == 0 {
            return None;
        }
        self.since(0, stage - 1).stable.error_rate()
    }

    /// The stable version's error rate over everything seen so far.
    pub fn stable_rate(&self) -> Option<f64> {
        self.since(0, self.stages.len().saturating_sub(1))
            .stable
            .error_rate()
    }

    /// The error-rate test's numbers in stage `stage` (None without that trigger).
    pub fn error_numbers(&self, j: &Judge, stage: usize) -> Option<Numbers> {
        let margin = j.limits.error_margin?;
        let mut parts: Vec<(f64, f64, usize)> = self
            .worse
            .iter()
            .map(|c| (j.share(c.stage), c.wealth.log_capital(Side::Worse), c.stage))
            .collect();
        let mut clear = self
            .better
            .as_ref()
            .filter(|b| b.stage == stage)
            .map_or(0.0, |b| b.wealth.log_capital(Side::Better));
        let full = j.weight(stage) >= 100;
        let baseline = full.then(|| self.baseline_before(stage)).flatten();
        if let Some(b) = baseline {
            // No stable traffic to compare with: the stable rate measured before this stage
            // stands in, as a fixed limit for this stage's canary requests.
            let limit = (b + margin).min(1.0 - 1e-9);
            let here = self.since(stage, stage).canary;
            let (n, e) = (here.requests, here.errors);
            parts.push((
                j.share(stage),
                bet::rate_log_capital(Side::Worse, n, e, limit),
                stage,
            ));
            clear = bet::rate_log_capital(Side::Better, n, e, limit);
        }
        let no_counts = full && baseline.is_none();
        Some(numbers(j, &parts, clear, stage, no_counts, baseline))
    }

    /// The error-rate trigger's call alone (the fast path of [`State::error_rate`]).
    pub fn error_call(&self, j: &Judge, stage: usize) -> Option<Call> {
        self.error_numbers(j, stage).map(|n| n.call)
    }

    /// The verdict of the error-rate trigger in stage `stage` (None without that trigger).
    pub fn error_rate(&self, j: &Judge, stage: usize) -> Option<Verdict> {
        let margin = j.limits.error_margin?;
        let n = self.error_numbers(j, stage)?;
        let evidence = self.evidence(j, stage, &n, |t| (t.stable, t.canary));
        let (shown_s, shown_c) = (evidence.stable, evidence.canary);
        let m = text::margin(margin);
        let canary = format!(
            "canary errors {}/{} ({})",
            text::count(shown_c.errors),
            text::count(shown_c.requests),
            rate(&shown_c),
        );
        let seen = match (j.weight(stage) >= 100, n.baseline) {
            (true, Some(b)) => format!(
                "{canary} vs the stable version's {} before this stage: {}",
                text::pct(b),
                diff(shown_c.error_rate(), Some(b)),
            ),
            (true, None) => format!("{canary}; no stable traffic was measured to compare with"),
            (false, _) => format!(
                "{canary} vs stable {}/{} ({}): {}",
                text::count(shown_s.errors),
                text::count(shown_s.requests),
                rate(&shown_s),
                diff(shown_c.error_rate(), shown_s.error_rate()),
            ),
        };
        let open = match n.call {
            Call::NoCounts => seen.clone(),
            _ if shown_c.requests == 0 => format!("{seen}; no canary requests yet"),
            _ => format!(
                "{seen}; not yet known to be within the {m} margin ({})",
                progress(j, &n)
            ),
        };
        let sentence = conclude(
            j,
            n.call,
            &seen,
            &format!("above the {m} margin"),
            &format!("below the {m} margin"),
            open,
        );
        Some(Verdict {
            call: n.call,
            sentence,
            evidence,
        })
    }

    /// The numbers of a latency test in stage `stage` (None without it).
    pub fn latency_numbers(&self, j: &Judge, stage: usize, bound: Bound) -> Option<Numbers> {
        j.bound_secs(bound)?;
        let parts: Vec<(f64, f64, usize)> = (0..=stage)
            .filter(|k| {
                j.watched(*k) && self.stages.get(*k).is_some_and(|t| t.latency(bound).0 > 0)
            })
            .map(|k| {
                let (n, slow) = self.since(k, stage).latency(bound);
                (j.share(k), j.slow_worse.log_capital(n, slow), k)
            })
            .collect();
        let (n, slow) = self.since(stage, stage).latency(bound);
        let clear = j.slow_better.log_capital(n, slow);
        let counted = self.stages.iter().any(|t| t.latency(bound).0 > 0)
            || self.last.is_some_and(|l| match bound {
                Bound::Limit => l.reading.canary.slow.is_some(),
                Bound::Target => l.reading.canary.slow_target.is_some(),
            });
        Some(numbers(j, &parts, clear, stage, !counted, None))
    }

    /// The p99 trigger's call alone (the fast path of [`State::latency`]).
    pub fn latency_call(&self, j: &Judge, stage: usize) -> Option<Call> {
        self.latency_numbers(j, stage, Bound::Limit).map(|n| n.call)
    }

    /// The verdict of the p99-latency trigger in stage `stage` (None without that trigger).
    pub fn latency(&self, j: &Judge, stage: usize) -> Option<Verdict> {
        self.latency_verdict(j, stage, Bound::Limit)
    }

    /// The `latency` stage check (p99 within target): Regression when the data show, at level
    /// α, that more than 1 % of the stage's canary requests are slower than the target; Clear
    /// as soon as the share seen so far is within it (a check, unlike a trigger, needs no proof
    /// of health to pass, only the absence of proof of harm); Open while the share seen is over
    /// the target without proof.
    pub fn latency_check(&self, j: &Judge, stage: usize) -> Option<Verdict> {
        let mut v = self.latency_verdict(j, stage, Bound::Target)?;
        if v.call == Call::Open || v.call == Call::Clear {
            let (n, slow) = self.since(stage, stage).latency(Bound::Target);
            let within = n > 0 && (slow as f64) <= SLOW_ALLOWED * n as f64;
            if within && v.call == Call::Open {
                v.call = Call::Clear;
                let limit = ms(j.limits.target_secs.unwrap_or(0.0));
                v.sentence = format!(
                    "canary requests slower than {limit}: {}/{} ({}), within the 1 % a p99 of {limit} allows so far",
                    text::count(slow),
                    text::count(n),
                    text::pct(slow as f64 / n as f64),
                );
            }
        }
        Some(v)
    }

    /// The latency check's call alone (the fast path of [`State::latency_check`]).
    pub fn latency_check_call(&self, j: &Judge, stage: usize) -> Option<Call> {
        let call = self.latency_numbers(j, stage, Bound::Target)?.call;
        if call != Call::Open {
            return Some(call);
        }
        let (n, slow) = self.since(stage, stage).latency(Bound::Target);
        let within = n > 0 && (slow as f64) <= SLOW_ALLOWED * n as f64;
        Some(if within { Call::Clear } else { Call::Open })
    }

    fn latency_verdict(&self, j: &Judge, stage: usize, bound: Bound) -> Option<Verdict> {
        let secs = j.bound_secs(bound)?;
        let n = self.latency_numbers(j, stage, bound)?;
        let evidence = self.evidence(j, stage, &n, |t| {
            let (timed, slow) = t.latency(bound);
            (Counts::default(), Counts::new(timed, slow, Some(slow)))
        });
        let (timed, slow) = (evidence.canary.requests, evidence.canary.errors);
        let limit = ms(secs);
        let key = match bound {
            Bound::Limit => "canary/slow",
            Bound::Target => "canary/slow_target",
        };
        let seen = format!(
            "canary requests slower than {limit}: {}/{} ({})",
            text::count(slow),
            text::count(timed),
            if timed > 0 {
                text::pct(slow as f64 / timed as f64)
            } else {
                "none yet".into()
            }
        );
        let open = match n.call {
            Call::NoCounts => {
                format!("{key}: no count of requests slower than {limit} from the metric source")
            }
            _ => format!(
                "{seen}; not yet known to be under the 1 % a p99 of {limit} allows ({})",
                progress(j, &n)
            ),
        };
        let sentence = conclude(
            j,
            n.call,
            &seen,
            &format!("more than the 1 % a p99 of {limit} allows,"),
            &format!("under the 1 % a p99 of {limit} allows,"),
            open,
        );
        Some(Verdict {
            call: n.call,
            sentence,
            evidence,
        })
    }

    /// The evidence of a test's numbers: a regression cites the counts since the stage of its
    /// strongest bettor, anything else the current stage's.
    fn evidence(
        &self,
        j: &Judge,
        stage: usize,
        n: &Numbers,
        counts: impl Fn(&Tally) -> (Counts, Counts),
    ) -> Evidence {
        let since = if n.call == Call::Regression {
            n.strongest
        } else {
            stage
        };
        let (stable, canary) = counts(&self.since(since, stage));
        Evidence {
            since_stage: since,
            stable,
            canary,
            regression: n.regression,
            regression_needed: j.regression_needed(),
            clear: n.clear,
            clear_needed: j.clear_needed(),
        }
    }

    /// Roughly how many more canary requests the current stage needs before the error-rate
    /// and latency tests clear it, if the rates seen so far hold: None when they cannot (a
    /// rate seen is not below its limit), Some(0) when nothing more is needed.
    pub fn more_canary_requests(&self, j: &Judge, stage: usize) -> Option<u64> {
        let here = self.since(stage, stage);
        let mut most = 0u64;
        if let (Some(margin), Some(Call::Open | Call::NoCounts)) =
            (j.limits.error_margin, self.error_call(j, stage))
        {
            if j.weight(stage) < 100 {
                let w = match here.canary.requests + here.stable.requests {
                    0 => f64::from(j.weight(stage)) / 100.0,
                    n => here.canary.requests as f64 / n as f64,
                };
                let (pc, ps) = (seen(&here.canary), seen(&here.stable));
                let logs = self
                    .better
                    .as_ref()
                    .filter(|b| b.stage == stage)
                    .map(|b| b.wealth.0.clone())
                    .unwrap_or_else(|| vec![0.0; GRID.len()]);
                let need = requests_to_clear(&logs, j.clear_needed(), |c| {
                    diff_growth_per_request(c, w, pc, ps, margin)
                })?;
                most = most.max((need * w).ceil() as u64);
            }
        }
        if self.latency_call(j, stage) == Some(Call::Open) {
            let (n, slow) = here.latency(Bound::Limit);
            let p = if n == 0 { 0.0 } else { slow as f64 / n as f64 };
            let logs: Vec<f64> = GRID
                .iter()
                .map(|c| bet::rate_log_growth(*c, Side::Better, n, slow, SLOW_ALLOWED))
                .collect();
            let need = requests_to_clear(&logs, j.clear_needed(), |c| {
                p * (-c).ln_1p() + (1.0 - p) * (c * SLOW_ALLOWED / (1.0 - SLOW_ALLOWED)).ln_1p()
            })?;
            most = most.max(need.ceil() as u64);
        }
        Some(most)
    }
}

fn ms(secs: f64) -> String {
    format!("{}ms", text::trim(secs * 1000.0))
}

fn rate(c: &Counts) -> String {
    c.error_rate().map_or("no requests".into(), text::pct)
}

fn diff(canary: Option<f64>, stable: Option<f64>) -> String {
    match (canary, stable) {
        (Some(c), Some(s)) => text::pp(c - s),
        _ => "no difference measurable yet".into(),
    }
}

/// A verdict's sentence: what was seen and, when it decides, what it shows at which
/// confidence (`open` otherwise).
fn conclude(j: &Judge, call: Call, seen: &str, over: &str, within: &str, open: String) -> String {
    match call {
        Call::Regression => format!(
            "{seen}, {over} with {} confidence",
            text::confidence(j.settings.alpha)
        ),
        Call::Clear => format!(
            "{seen}, {within} with {} confidence",
            text::confidence(j.settings.beta)
        ),
        Call::Open | Call::NoCounts => open,
    }
}

/// How far the evidence is towards each decision, in words.
fn progress(j: &Judge, n: &Numbers) -> String {
    let pct = |log: f64, needed: f64| -> u32 {
        if !log.is_finite() || log <= 0.0 {
            return 0;
        }
        ((log / needed) * 100.0).clamp(0.0, 99.0) as u32
    };
    format!(
        "evidence {} % of the way to a rollback, {} % to clearing the stage",
        pct(n.regression, j.regression_needed()),
        pct(n.clear, j.clear_needed())
    )
}

/// The error rate seen (0 without requests).
fn seen(c: &Counts) -> f64 {
    c.error_rate().unwrap_or(0.0)
}

/// Expected log growth per request (of either version) of a bettor against "canary worse by
/// the margin", when the canary serves a share `w` with rate `pc` and the stable version `ps`.
fn diff_growth_per_request(c: f64, w: f64, pc: f64, ps: f64, margin: f64) -> f64 {
    let stake = c / (1.0 / w - margin);
    let win = (stake * margin).ln_1p();
    w * (pc * (-c).ln_1p() + (1.0 - pc) * win)
        + (1.0 - w) * (ps * (stake * (1.0 / (1.0 - w) + margin)).ln_1p() + (1.0 - ps) * win)
}

/// The fewest requests after which some bettor of the grid, now at `logs`, would bring the
/// grid's capital to `needed` at expected growth `growth(c)` per request.
fn requests_to_clear(logs: &[f64], needed: f64, growth: impl Fn(f64) -> f64) -> Option<f64> {
    let target = needed + (GRID.len() as f64).ln();
    GRID.iter()
        .zip(logs)
        .filter_map(|(c, l)| {
            let g = growth(*c);
            (g > 0.0).then(|| ((target - l) / g).max(0.0))
        })
        .min_by(f64::total_cmp)
}
