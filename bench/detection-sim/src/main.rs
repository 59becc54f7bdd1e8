//! `detection`: the detection benchmark of docs/BENCHMARKS.md. Seeded synthetic request streams
//! replayed through ship's judge, ship's old threshold rule, Flagger's default analysis, a
//! typical Argo Rollouts AnalysisTemplate and Kayenta's NetflixACAJudge; printed as tables.
//!
//! `bench/detection` runs it; every number it prints comes with the seed that reproduces it.

mod algos;
mod clear;
mod latency;
mod mannwhitney;
mod report;
mod rollout;
mod stream;

use algos::{argo::Argo, flagger::Flagger, kayenta::Kayenta, ship::Ship, threshold::Threshold};
use clap::Parser;
use report::Summary;
use rollout::{Algorithm, End, Plan};
use shiploop_judge::Settings;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use stream::{Effect, Scenario, Stream};

#[derive(Debug, Parser)]
#[command(name = "detection")]
struct Args {
    /// Runs per cell.
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    /// The base seed; each cell's runs use seeds derived from it and the cell.
    #[arg(long, default_value_t = 20261202)]
    seed: u64,
    /// `stage`: one stage at each canary weight on its own; `rollout`: the default plan
    /// (5 % 10m, 25 % 30m, 50 % 1h) to its end; `clear`: how long a healthy stage at each
    /// weight takes to clear (ship's judge only).
    #[arg(long, default_value = "rollout", value_parser = ["stage", "rollout", "clear"])]
    mode: String,
    /// Total requests per second (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,5,20,100,1000,10000")]
    rates: Vec<f64>,
    /// Background error rates in percent.
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,1,5")]
    backgrounds: Vec<f64>,
    /// Canary weights in percent (stage mode).
    #[arg(long, value_delimiter = ',', default_value = "5,25,50")]
    weights: Vec<u8>,
    /// Effects: none, +PP (e.g. +2), xF (e.g. x5), slowF (e.g. slow5: 5 % of requests 3× slower).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,+0.5,+1,+2,+5,x5,slow1,slow5"
    )]
    effects: Vec<String>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// ship's judge: α and β.
    #[arg(long, default_value_t = 0.01)]
    alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    beta: f64,
}

fn parse_effect(s: &str) -> Result<Effect, String> {
    let num = |x: &str| {
        x.parse::<f64>()
            .map_err(|_| format!("effect {s:?}: {x:?} is not a number"))
    };
    if s == "none" {
        Ok(Effect::None)
    } else if let Some(x) = s.strip_prefix('+') {
        Ok(Effect::PlusPp(num(x)?))
    } else if let Some(x) = s.strip_prefix('x') {
        Ok(Effect::Times(num(x)?))
    } else if let Some(x) = s.strip_prefix("slow") {
        Ok(Effect::Slower(num(x)? / 100.0))
    } else {
        Err(format!("effect {s:?}: expected none, +PP, xF or slowF"))
    }
}

#[derive(Debug, Clone)]
struct Cell {
    plan: Plan,
    weight: Option<u8>,
    scenario: Scenario,
    seed: u64,
}

fn run_cell(cell: &Cell, runs: usize, settings: &Settings) -> Vec<Summary> {
    let mut out = vec![Summary::default(); algos::NAMES.len()];
    for r in 0..runs {
        let stream = Stream::new(stream::mix(cell.seed, r as u64), cell.scenario);
        let ends = run_one(cell, &stream, settings);
        for (s, e) in out.iter_mut().zip(&ends) {
            s.add(e);
        }
    }
    out
}

fn run_one<'a>(cell: &Cell, stream: &'a Stream, settings: &Settings) -> Vec<End> {
    {
        let mut algos: Vec<Box<dyn Algorithm + 'a>> = vec![
            Box::new(Ship::new(&cell.plan, settings.clone(), false)),
            Box::new(Ship::new(&cell.plan, settings.clone(), true)),
            Box::<Threshold>::default(),
            Box::<Flagger>::default(),
            Box::<Argo>::default(),
            Box::new(Kayenta::new(stream)),
        ];
        rollout::run(
            &cell.plan,
            stream,
            &mut algos,
            cell.scenario.effect.is_latency(),
        )
    }
}

fn main() {
    let args = Args::parse();
    let effects: Vec<Effect> = match args.effects.iter().map(|e| parse_effect(e)).collect() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let settings = Settings {
        alpha: args.alpha,
        beta: args.beta,
        ..Settings::default()
    };
    if args.mode == "clear" {
        print_clear(&args, &settings);
        return;
    }
    let mut cells = vec![];
    let plans: Vec<(Option<u8>, Plan)> = if args.mode == "stage" {
        args.weights
            .iter()
            .map(|w| (Some(*w), Plan::single(*w)))
            .collect()
    } else {
        vec![(None, Plan::default_rollout())]
    };
    for effect in &effects {
        for (weight, plan) in &plans {
            for rate in &args.rates {
                for bg in &args.backgrounds {
                    let scenario = Scenario {
                        rate: *rate,
                        background: bg / 100.0,
                        effect: *effect,
                    };
                    let key = format!("{}|{:?}|{rate}|{bg}|{effect:?}", args.mode, weight);
                    let seed = key
                        .bytes()
                        .fold(args.seed, |h, b| stream::mix(h, u64::from(b)));
                    cells.push(Cell {
                        plan: plan.clone(),
                        weight: *weight,
                        scenario,
                        seed,
                    });
                }
            }
        }
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Vec<Summary>>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|s| {
        for _ in 0..args.threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cell) = cells.get(i) else { break };
                let r = run_cell(cell, args.runs, &settings);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    let results: Vec<Vec<Summary>> = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    print_tables(&args, &cells, &results);
}

/// The time a healthy stage takes to clear, by background error rate (rows) and traffic
/// (columns), one table per canary weight.
fn print_clear(args: &Args, settings: &Settings) {
    println!(
        "# time to clear a healthy stage — {} runs per cell, seed {}, ship judge α = {}, β = {}\n",
        args.runs, args.seed, args.alpha, args.beta
    );
    let cells: Vec<(u8, f64, f64)> = args
        .weights
        .iter()
        .flat_map(|w| {
            args.backgrounds
                .iter()
                .flat_map(move |b| args.rates.iter().map(move |r| (*w, *b, *r)))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Vec<clear::Cleared>>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|s| {
        for _ in 0..args.threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((w, b, r)) = cells.get(i) else { break };
                let seed = format!("clear|{w}|{b}|{r}")
                    .bytes()
                    .fold(args.seed, |h, x| stream::mix(h, u64::from(x)));
                let t = clear::times(seed, args.runs, *r, b / 100.0, *w, settings);
                out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(t);
            });
        }
    });
    let out = out.into_inner().unwrap_or_else(|p| p.into_inner());
    for w in &args.weights {
        println!(
            "## canary at {w} %: median time to clear (90th percentile), median canary requests\n"
        );
        print!("| errors \\ req/s |");
        for r in &args.rates {
            print!(" {r} |");
        }
        println!("\n|---|{}", "---|".repeat(args.rates.len()));
        for b in &args.backgrounds {
            print!("| {b} % |");
            for r in &args.rates {
                let i = cells.iter().position(|c| c == &(*w, *b, *r)).unwrap_or(0);
                let runs = out[i].clone().unwrap_or_default();
                let mut times: Vec<u64> = runs.iter().flatten().map(|(t, _)| *t).collect();
                let mut reqs: Vec<u64> = runs.iter().flatten().map(|(_, n)| *n).collect();
                times.sort_unstable();
                reqs.sort_unstable();
                let never = runs.iter().filter(|x| x.is_none()).count();
                if times.len() * 2 <= runs.len() {
                    print!(" > 24 h |");
                    continue;
                }
                let p90 = times.get(runs.len() * 9 / 10).copied();
                print!(
                    " {} ({}) · {}",
                    human(times[runs.len() / 2]),
                    p90.map_or("> 24 h".into(), human),
                    reqs[runs.len() / 2]
                );
                if never > 0 {
                    print!(" · {never} never");
                }
                print!(" |");
            }
            println!();
        }
        println!();
    }
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} m", (secs + 30) / 60),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

fn print_tables(args: &Args, cells: &[Cell], results: &[Vec<Summary>]) {
    println!(
        "# detection benchmark — mode {}, {} runs per cell, seed {}, ship judge α = {}, β = {}\n",
        args.mode, args.runs, args.seed, args.alpha, args.beta
    );
    let mut i = 0;
    while i < cells.len() {
        let head = &cells[i];
        let same = |c: &Cell| c.scenario.effect == head.scenario.effect && c.weight == head.weight;
        let group: Vec<usize> = (i..cells.len()).take_while(|j| same(&cells[*j])).collect();
        let effect = head.scenario.effect;
        let aa = effect == Effect::None;
        let what = match head.weight {
            Some(w) => format!(
                "one stage at {w} % ({})",
                rollout::Plan::single(w).stages[0].secs / 60
            ),
            None => "the default rollout".into(),
        };
        println!("## {} — {what}\n", effect.label());
        if aa {
            println!("False rollbacks (95 % upper bound); ship's judge also: promoted / paused for a person.\n");
        } else {
            println!("Rolled back · median seconds to the rollback · median bad canary requests before it{}.\n",
                if head.weight.is_none() { "; ship's judge also: paused / reached the end" } else { "" });
        }
        print!("| req/s | errors |");
        for n in algos::NAMES {
            print!(" {n} |");
        }
        println!("\n|---|---|{}", "---|".repeat(algos::NAMES.len()));
        for j in group.iter().copied() {
            let c = &cells[j];
            print!(
                "| {} | {} % |",
                c.scenario.rate,
                c.scenario.background * 100.0
            );
            for (k, s) in results[j].iter().enumerate() {
                if aa {
                    print!(
                        " {} ({})",
                        report::pct(s.rate(s.rolled_back)),
                        report::pct(report::upper95(s.rolled_back, s.runs))
                    );
                    if k <= 1 {
                        print!(
                            " · {} / {}",
                            report::pct(s.rate(s.completed)),
                            report::pct(s.rate(s.paused))
                        );
                    }
                    print!(" |");
                } else {
                    print!(
                        " {} · {} · {}",
                        report::pct(s.rate(s.rolled_back)),
                        report::secs(s.median_time()),
                        s.median_bad().map_or("–".into(), |b| b.to_string())
                    );
                    if k <= 1 {
                        print!(
                            " · {} / {}",
                            report::pct(s.rate(s.paused)),
                            report::pct(s.rate(s.completed))
                        );
                    }
                    print!(" |");
                }
            }
            println!();
        }
        println!();
        i = group.last().map_or(i + 1, |l| l + 1);
    }
}
