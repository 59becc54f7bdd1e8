//! Step 5, outcome measurement: each metric of a mission's outcome contract measured at a
//! checkpoint (Prometheus: an instant query for the actual and a range query for the chart;
//! builtin: ship's proxy for the actual and the samples ship recorded for the chart), the
//! report with its charts, and the performance signal missed targets owe (Step 6).

use crate::outcome_sources::measure_metric;
use crate::{store_err, Result};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use shiploop_artifacts::outcome::{Checkpoint, OutcomeContract};
use shiploop_artifacts::report::{chart, OutcomeReport};
use shiploop_store::event::{Event, OutcomeMeasured, SignalWritten};
use shiploop_store::{LoggedEvent, StateStore};
use shiploop_workspace::{Error, Workspace};

/// The event log keys mission events by this "release" name, beside the releases' own.
pub fn log_key(mission: &str) -> String {
    format!("mission:{mission}")
}

/// One measured checkpoint: its report, its charts, and which targets were met.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The mission.
    pub mission: String,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// The outcome report written, relative to the workspace.
    pub report_file: String,
    /// The chart files written, relative to the workspace.
    pub charts: Vec<String>,
    /// Metrics that met their target.
    pub met: usize,
    /// Metrics that missed their target.
    pub missed: Vec<String>,
    /// Metrics the source gave no value for.
    pub unmeasured: Vec<String>,
    /// The performance signal for missed targets: (file, written now — false when an earlier
    /// measurement of the checkpoint already wrote it).
    pub signal: Option<(String, bool)>,
    /// The report itself (not serialized).
    #[serde(skip)]
    pub report: OutcomeReport,
}

impl Measured {
    /// Every metric has an actual (met or missed).
    pub fn complete(&self) -> bool {
        self.unmeasured.is_empty()
    }
}

/// The checkpoint to measure: the one named, or the latest one due. A checkpoint whose date
/// has not come is refused (its period has not ended).
pub fn pick_checkpoint<'c>(
    c: &'c OutcomeContract,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<&'c Checkpoint> {
    let today = now.date_naive();
    let mission = &c.meta.mission;
    let listed = || {
        c.meta
            .measurement_schedule
            .iter()
            .map(|k| format!("{} ({})", k.name, k.date))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if c.meta.measurement_schedule.is_empty() {
        return Err(Error::Usage(format!(
            "mission `{mission}` has no measurement_schedule: add checkpoints to its outcome contract"
        )));
    }
    match name {
        Some(n) => {
            let k = c
                .meta
                .measurement_schedule
                .iter()
                .find(|k| k.name == n)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "mission `{mission}` has no checkpoint `{n}`; its checkpoints: {}",
                        listed()
                    ))
                })?;
            if k.date > today {
                return Err(Error::Refused(format!(
                    "checkpoint `{n}` of `{mission}` is due on {}: its measurement period has not ended",
                    k.date
                )));
            }
            Ok(k)
        }
        None => c.due(today).last().copied().ok_or_else(|| {
            Error::Refused(format!(
                "no checkpoint of `{mission}` is due yet; its checkpoints: {}",
                listed()
            ))
        }),
    }
}

/// Where the checkpoint's measurement period starts: the previous checkpoint's date; for the
/// first, the earliest rollout start of the mission's releases (when its changes reached
/// production), or `outcome.default_period` before now.
pub fn period_start(
    ws: &Workspace,
    c: &OutcomeContract,
    k: &Checkpoint,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let previous = c
        .meta
        .measurement_schedule
        .iter()
        .filter(|p| p.date < k.date)
        .map(|p| p.date)
        .max()
        .map(|d| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)));
    let started = || {
        c.meta
            .releases
            .iter()
            .filter_map(|id| ws.resolve(id).ok())
            .filter_map(|r| r.contract.meta.rollout.and_then(|x| x.started_at))
            .min()
    };
    let start = previous
        .or_else(started)
        .unwrap_or_else(|| now - to_chrono(ws.config.outcome.default_period.0));
    // A period must have some length to chart; a checkpoint measured at its very start gets
    // the last minute.
    start.min(now - Duration::minutes(1))
}

fn to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or_else(|_| Duration::days(7))
}

/// Measures one checkpoint, writes the report and charts, the performance signal when a target
/// was missed (only once per checkpoint), records `outcome-measured` in the event log and the
/// measurement in STATUS.md. Fails, writing nothing, when no metric could be measured at all.
pub async fn measure(
    ws: &Workspace,
    mission: &str,
    checkpoint: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Measured> {
    let (_, contract) = ws.load_outcome(mission)?;
    let k = pick_checkpoint(&contract, checkpoint, now)?.clone();
    if contract.meta.metrics.is_empty() {
        return Err(Error::Usage(format!(
            "mission `{mission}`'s outcome contract defines no metrics"
        )));
    }
    // Outcomes are the Operate loop's: before the handoff, the mission's release may still be
    // at 5 % and a measurement would describe the canary, not the outcome.
    let status = ws.load_status()?;
    if !status
        .mission(mission)
        .is_some_and(|e| e.phase == shiploop_artifacts::status::Phase::Operate)
    {
        return Err(Error::Refused(format!(
            "mission `{mission}` is not in Operate: outcomes are measured after the handoff (`ship handoff <release>`)"
        )));
    }
    // The values describe the checkpoint: a measurement taken late (a tick that did not run
    // for days) asks Prometheus about the end of the checkpoint's day, not about today.
    let day_end = Utc.from_utc_datetime(&k.date.and_time(NaiveTime::MIN)) + Duration::days(1)
        - Duration::seconds(1);
    let at = now.min(day_end);
    let start = period_start(ws, &contract, &k, at);
    let shipped = shipped_releases(ws, &contract);
    let mut results = vec![];
    for m in &contract.meta.metrics {
        results.push(measure_metric(ws, &shipped, m, &contract.meta.mission, start, at).await);
    }
    if results
        .iter()
        .all(|r| r.actual.is_none() && r.error.is_some())
    {
        let why: Vec<String> = results
            .iter()
            .map(|r| format!("{}: {}", r.metric.name, r.error.clone().unwrap_or_default()))
            .collect();
        return Err(Error::Usage(format!(
            "no metric of `{mission}` could be measured, nothing written:\n  {}",
            why.join("\n  ")
        )));
    }
    let report = OutcomeReport {
        mission: mission.to_string(),
        checkpoint: k.name.clone(),
        checkpoint_date: k.date,
        measured_at: at,
        period_start: start,
        releases: shipped,
        metrics: results,
    };
    let stem = report.stem();
    let mut store = crate::open_store(ws)?;
    if !report.unmeasured().is_empty() {
        if let Some(file) = complete_report(&*store, mission, &k.name)? {
            let names: Vec<&str> = report
                .unmeasured()
                .iter()
                .map(|m| m.metric.name.as_str())
                .collect();
            return Err(Error::Refused(format!(
                "{file} already holds a complete measurement of `{}`; not replacing it with one where {} could not be measured",
                k.name,
                names.join(", ")
            )));
        }
    }
    let charts: Vec<(String, String)> = report
        .metrics
        .iter()
        .map(|r| (r.chart_file(&stem), chart(r)))
        .collect();
    let path = ws.write_outcome_report(mission, &stem, &report.render(), &charts)?;
    let dir = ws.reports_dir(mission);

    let key = log_key(mission);
    let signal = match report.missed_signal() {
        None => None,
        Some(mut sig) => {
            sig.meta.created = now;
            let (p, new) = ws.write_signal(&sig)?;
            if new {
                store
                    .append(
                        &key,
                        &Event::SignalWritten(SignalWritten {
                            file: Some(ws.rel(&p)),
                            error: None,
                            event: sig.meta.event.clone(),
                        }),
                        now,
                    )
                    .map_err(store_err)?;
            }
            Some((ws.rel(&p), new))
        }
    };
    let out = Measured {
        mission: mission.to_string(),
        checkpoint: k.name.clone(),
        report_file: ws.rel(&path),
        charts: charts.iter().map(|(f, _)| ws.rel(&dir.join(f))).collect(),
        met: report
            .metrics
            .iter()
            .filter(|m| m.met() == Some(true))
            .count(),
        missed: report
            .missed()
            .iter()
            .map(|m| m.metric.name.clone())
            .collect(),
        unmeasured: report
            .unmeasured()
            .iter()
            .map(|m| m.metric.name.clone())
            .collect(),
        signal,
        report,
    };
    let measured = Event::OutcomeMeasured(OutcomeMeasured {
        checkpoint: out.checkpoint.clone(),
        date: k.date,
        report: out.report_file.clone(),
        complete: out.complete(),
        met: out.met,
        missed: out.missed.clone(),
        unmeasured: out.unmeasured.clone(),
        period_start: start,
    });
    store.append(&key, &measured, now).map_err(store_err)?;
    if out.complete() {
        // Read again: a rollout may have written STATUS.md while the queries ran.
        let mut status = ws.load_status()?;
        if status.mission(mission).is_some() {
            status.mark_measured(mission, &k.name);
            ws.save_status(&status)?;
        }
    }
    Ok(out)
}

/// The mission's releases that reached production (shipped): the releases an outcome
/// includes. Drafts and rolled-back releases linked to the mission are not.
fn shipped_releases(ws: &Workspace, c: &OutcomeContract) -> Vec<String> {
    c.meta
        .releases
        .iter()
        .filter(|id| {
            ws.resolve(id).is_ok_and(|r| {
                r.contract.meta.status == shiploop_artifacts::release::Status::Shipped
            })
        })
        .cloned()
        .collect()
}

/// The checkpoint's last measurement in the event log that was (or was not) complete.
fn last_measurement(
    store: &dyn StateStore,
    mission: &str,
    checkpoint: &str,
    complete: bool,
) -> Result<Option<(DateTime<Utc>, OutcomeMeasured)>> {
    Ok(store
        .events(Some(&log_key(mission)))
        .map_err(store_err)?
        .into_iter()
        .rev()
        .find_map(|e: LoggedEvent| match e.event {
            Event::OutcomeMeasured(o) if o.checkpoint == checkpoint && o.complete == complete => {
                Some((e.at, o))
            }
            _ => None,
        }))
}

/// The report file of the checkpoint's last complete measurement, if any.
fn complete_report(
    store: &dyn StateStore,
    mission: &str,
    checkpoint: &str,
) -> Result<Option<String>> {
    Ok(last_measurement(store, mission, checkpoint, true)?.map(|(_, o)| o.report))
}

/// When the checkpoint was last measured without every metric (the next tick waits a day
/// before trying again, so a metric that never answers does not flood the event log).
pub fn last_incomplete(
    store: &dyn StateStore,
    mission: &str,
    checkpoint: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(last_measurement(store, mission, checkpoint, false)?.map(|(at, _)| at))
}

/// Whether the event log shows a complete measurement of the checkpoint.
pub fn measured(store: &dyn StateStore, mission: &str, checkpoint: &str) -> Result<bool> {
    Ok(last_measurement(store, mission, checkpoint, true)?.is_some())
}
