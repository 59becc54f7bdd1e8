//! `ship release new`: compile a release contract from the PASS verdicts and the template.

use crate::index::VerdictKey;
use crate::releases::{validate_name, LoadedRelease};
use crate::template::{fill, DEFAULT_RELEASE_TEMPLATE};
use crate::verdicts::VerdictFile;
use crate::{fsutil, Error, Result, Workspace};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiploop_artifacts::markdown::wrap_block;
use shiploop_artifacts::release::*;
use shiploop_artifacts::status::{Phase, StatusFile};
use shiploop_artifacts::verdict::Verdict;
use shiploop_artifacts::Dur;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
/// What `ship release new` wrote.
pub struct NewReport {
    /// The new release's id.
    pub id: String,
    /// Its contract file, relative to the workspace.
    pub file: String,
    /// The mission it belongs to.
    pub mission: Option<String>,
    /// The change ids it ships.
    pub changes: Vec<String>,
    /// (id, verdict) of verdicts that did not pass.
    pub excluded: Vec<(String, String)>,
    /// PASS verdicts left out because an earlier release already ships them.
    pub already_released: Vec<String>,
    /// Which template was used: the workspace's file, or the built-in one when it is missing.
    pub template: String,
    /// The mission's outcome contract the release was linked in (its `releases`), if it has one.
    pub outcome_contract: Option<String>,
    /// The stages `--stage` set, as "canary 10 % for 30s".
    pub stages_overridden: Vec<String>,
}

/// Options of `ship release new`.
#[derive(Debug, Clone, Default)]
pub struct NewOptions {
    /// The mission the release belongs to.
    pub mission: Option<String>,
    /// Only these verdict ids (default: every PASS verdict not yet released).
    pub verdicts: Vec<String>,
    /// A hotfix of this severity: abbreviated stages, security verdicts mandatory.
    pub hotfix: Option<Severity>,
    /// Feature flags the release relies on.
    pub flags: Vec<String>,
    /// Migration files or folders the release applies.
    pub migrations: Vec<String>,
    /// Stages overridden for this release (`--stage canary=10%:30s`), instead of ship.toml's.
    pub stages: Vec<StageOverride>,
}

/// One `--stage NAME=PERCENT%:DURATION` of `ship release new`: a stage's traffic share, how
/// long it is watched, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOverride {
    /// canary, early-adopters or ga.
    pub name: String,
    /// The stage's traffic share, in percent.
    pub weight: Option<u8>,
    /// How long the stage is watched.
    pub duration: Option<Dur>,
}

/// The stages `--stage` may change (the last, full rollout is always 100 % and unwatched).
pub const OVERRIDABLE_STAGES: [&str; 3] = ["canary", "early-adopters", "ga"];

/// Why a `--stage` argument does not parse; `arg` is the argument as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StageOverrideError {
    /// No `=` between the stage and its spec.
    #[error("--stage {arg:?}: write NAME=PERCENT%:DURATION, e.g. canary=10%:30s or ga=1m")]
    Form {
        /// The argument.
        arg: String,
    },
    /// A stage `--stage` cannot change.
    #[error("--stage {arg:?}: stage {name:?} is not one of {} (the full rollout is always 100 %)", OVERRIDABLE_STAGES.join(", "))]
    UnknownStage {
        /// The argument.
        arg: String,
        /// The stage it names.
        name: String,
    },
    /// Two `N%` parts.
    #[error("--stage {arg:?}: two percentages")]
    TwoPercentages {
        /// The argument.
        arg: String,
    },
    /// A `N%` part outside 1–99.
    #[error("--stage {arg:?}: {part:?} is not a percentage between 1 and 99 (the last stage is always 100 %)")]
    Percentage {
        /// The argument.
        arg: String,
        /// The part that is not a percentage.
        part: String,
    },
    /// Two duration parts.
    #[error("--stage {arg:?}: two durations")]
    TwoDurations {
        /// The argument.
        arg: String,
    },
    /// A part that is neither a percentage nor a duration.
    #[error("--stage {arg:?}: {part:?} is neither a percentage (10%) nor a duration (30s, 10m, 1h): {source}")]
    Neither {
        /// The argument.
        arg: String,
        /// The part.
        part: String,
        /// Why it is not a duration.
        source: shiploop_artifacts::duration::DurationError,
    },
    /// A duration of zero.
    #[error("--stage {arg:?}: a stage must be watched for longer than 0s")]
    ZeroDuration {
        /// The argument.
        arg: String,
    },
    /// Neither a percentage nor a duration given.
    #[error("--stage {arg:?}: give a percentage, a duration or both (e.g. {name}=10%:30s)")]
    Empty {
        /// The argument.
        arg: String,
        /// The stage it names.
        name: String,
    },
}

impl std::str::FromStr for StageOverride {
    type Err = StageOverrideError;

    /// `canary=10%:30s`, `ga=1m`, `early-adopters=30%` (percentage, duration or both).
    fn from_str(s: &str) -> std::result::Result<StageOverride, StageOverrideError> {
        let arg = || s.to_string();
        let (name, spec) = s
            .split_once('=')
            .ok_or_else(|| StageOverrideError::Form { arg: arg() })?;
        let name = name.trim();
        if !OVERRIDABLE_STAGES.contains(&name) {
            return Err(StageOverrideError::UnknownStage {
                arg: arg(),
                name: name.to_string(),
            });
        }
        let mut o = StageOverride {
            name: name.to_string(),
            weight: None,
            duration: None,
        };
        for part in spec.split(':') {
            let part = part.trim();
            if let Some(p) = part.strip_suffix('%') {
                if o.weight.is_some() {
                    return Err(StageOverrideError::TwoPercentages { arg: arg() });
                }
                let w: u8 = p
                    .trim()
                    .parse()
                    .ok()
                    .filter(|w| (1..100).contains(w))
                    .ok_or_else(|| StageOverrideError::Percentage {
                        arg: arg(),
                        part: part.to_string(),
                    })?;
                o.weight = Some(w);
            } else if !part.is_empty() {
                if o.duration.is_some() {
                    return Err(StageOverrideError::TwoDurations { arg: arg() });
                }
                let d: Dur = part.parse().map_err(|source| StageOverrideError::Neither {
                    arg: arg(),
                    part: part.to_string(),
                    source,
                })?;
                if d.0.is_zero() {
                    return Err(StageOverrideError::ZeroDuration { arg: arg() });
                }
                o.duration = Some(d);
            }
        }
        if o.weight.is_none() && o.duration.is_none() {
            return Err(StageOverrideError::Empty {
                arg: arg(),
                name: name.to_string(),
            });
        }
        Ok(o)
    }
}

/// ship.toml's configuration with `--stage` overrides applied to `[stages]`, checked as
/// ship.toml's own stages are (percentages strictly increasing, below 100).
fn with_stage_overrides(
    cfg: &shiploop_config::Config,
    overrides: &[StageOverride],
) -> Result<shiploop_config::Config> {
    let mut cfg = cfg.clone();
    let mut seen = BTreeSet::new();
    for o in overrides {
        if !seen.insert(o.name.clone()) {
            return Err(Error::Usage(format!(
                "--stage {} is given twice: give its percentage and duration together ({}=10%:30s)",
                o.name, o.name
            )));
        }
        let s = &mut cfg.stages;
        let (w, d) = match o.name.as_str() {
            "canary" => (&mut s.canary_percentage, &mut s.canary_duration),
            "early-adopters" => (
                &mut s.early_adopter_percentage,
                &mut s.early_adopter_duration,
            ),
            "ga" => (&mut s.ga_percentage, &mut s.ga_duration),
            other => {
                return Err(Error::Usage(format!(
                    "--stage {other}: not one of {}",
                    OVERRIDABLE_STAGES.join(", ")
                )))
            }
        };
        if let Some(weight) = o.weight {
            *w = weight;
        }
        if let Some(duration) = o.duration {
            *d = duration;
        }
    }
    let s = &cfg.stages;
    let weights = [
        ("canary", s.canary_percentage),
        ("early-adopters", s.early_adopter_percentage),
        ("ga", s.ga_percentage),
    ];
    for pair in weights.windows(2) {
        let ((a, wa), (b, wb)) = (pair[0], pair[1]);
        if wb <= wa {
            return Err(Error::Usage(format!(
                "--stage: the stages' percentages must increase: {a} {wa} % then {b} {wb} % (give the others with --stage too)"
            )));
        }
    }
    Ok(cfg)
}

impl Workspace {
    /// Compiles a release contract named `name` from the verdicts and ship.toml (`ship release new`).
    pub fn release_new(
        &self,
        name: &str,
        opts: &NewOptions,
        now: DateTime<Utc>,
    ) -> Result<NewReport> {
        let mission = opts.mission.as_deref();
        validate_name("release", name)?;
        if let Some(m) = mission {
            validate_name("mission", m)?;
        }
        for f in &opts.flags {
            if !shiploop_flags::is_valid_name(f) {
                return Err(Error::Usage(format!(
                    "--flag {f:?}: a flag name is [a-z0-9][a-z0-9._-]* (as in the flag registry)"
                )));
            }
        }
        for m in &opts.migrations {
            if m.trim().is_empty() || m.chars().any(char::is_control) {
                return Err(Error::Usage(format!("--migration {m:?} is not a path")));
            }
        }
        let id = format!("{}-{name}", now.format("%Y-%m-%d"));
        let path = self.releases_dir().join(format!("{id}.md"));
        if path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists: ship never overwrites a contract; pick another name",
                self.rel(&path)
            )));
        }

        // What every contract claims and every verdict is comes from the index: only files
        // written since the last release are parsed, and of the verdicts only those compiled
        // into this contract (as changes or as excluded) are read whole.
        let mut index = self.load_index();
        let claimed: BTreeSet<String> = self.claimed_changes(&mut index)?.into_iter().collect();
        let keys: Vec<VerdictKey> = self
            .verdict_keys(&mut index)?
            .into_iter()
            .filter(|v| mission.is_none() || v.mission.as_deref() == mission)
            .filter(|v| opts.verdicts.is_empty() || opts.verdicts.contains(&v.id))
            .collect();
        for wanted in &opts.verdicts {
            if !keys.iter().any(|v| &v.id == wanted) {
                return Err(Error::Usage(format!(
                    "no verdict `{wanted}` in {}",
                    self.config.paths.evaluations
                )));
            }
        }

        let mut verdicts = Vec::new();
        let mut already = Vec::new();
        for k in &keys {
            if claimed.contains(&k.id) {
                if k.passed {
                    already.push(k.id.clone());
                }
                continue;
            }
            let verdict =
                Verdict::parse(&fsutil::read(&k.path)?).map_err(|e| Error::parse(&k.path, e))?;
            verdicts.push(VerdictFile {
                rel: self.rel(&k.path),
                verdict,
            });
        }
        let mut changes = Vec::new();
        let mut excluded = Vec::new();
        for vf in &verdicts {
            let v = &vf.verdict;
            if v.passed() {
                changes.push(Change {
                    id: v.meta.id.clone(),
                    verdict_file: vf.rel.clone(),
                    verdict_digest: v.digest.clone(),
                    summary: v.summary(),
                    mission: v.meta.mission.clone(),
                    evaluated_at: v.meta.evaluated_at.clone(),
                    evaluator: v.meta.evaluator.clone(),
                });
            } else {
                excluded.push(Excluded {
                    id: v.meta.id.clone(),
                    verdict: v.verdict(),
                    verdict_file: vf.rel.clone(),
                    summary: v.summary(),
                });
            }
        }
        if opts.hotfix.is_some() {
            let unsafe_changes: Vec<String> = verdicts
                .iter()
                .filter(|v| {
                    v.verdict.passed() && changes.iter().any(|c: &Change| c.id == v.verdict.meta.id)
                })
                .filter(|v| !v.verdict.security_passed())
                .map(|v| v.verdict.meta.id.clone())
                .collect();
            if !unsafe_changes.is_empty() {
                return Err(Error::Refused(format!(
                    "a hotfix keeps security checks mandatory: {} lack(s) `security: PASS` in the verdict; nothing written",
                    unsafe_changes.join(", ")
                )));
            }
        }
        if changes.is_empty() {
            let scope = mission
                .map(|m| format!(" for mission `{m}`"))
                .unwrap_or_default();
            let mut msg = format!(
                "no PASS verdict to release{scope} in {} ({} verdict(s) read",
                self.config.paths.evaluations,
                keys.len()
            );
            if !already.is_empty() {
                msg.push_str(&format!("; already released: {}", already.join(", ")));
            }
            if !excluded.is_empty() {
                let e: Vec<String> = excluded
                    .iter()
                    .map(|e| format!("{} {}", e.id, e.verdict))
                    .collect();
                msg.push_str(&format!("; not passed: {}", e.join(", ")));
            }
            msg.push_str("); nothing written");
            return Err(Error::Refused(msg));
        }

        let cfg = with_stage_overrides(&self.config, &opts.stages)?;
        let stages = match opts.hotfix {
            None => cfg.rollout_stages(),
            Some(_) => {
                for o in &opts.stages {
                    if self.config.hotfix.skip_stages.contains(&o.name) {
                        return Err(Error::Usage(format!(
                            "--stage {}: a hotfix skips that stage (hotfix.skip_stages)",
                            o.name
                        )));
                    }
                }
                hotfix_stages_of(&cfg)?
            }
        };
        let configured = self.config.rollout_stages();
        let mut stages = stages;
        let mut overridden = Vec::new();
        for st in stages.iter_mut() {
            if opts.stages.iter().any(|o| o.name == st.name) {
                let was = configured
                    .iter()
                    .find(|c| c.name == st.name)
                    .map(|c| {
                        format!(
                            "{} %, {}",
                            c.weight,
                            c.duration.map(|d| d.to_string()).unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                st.notes.push(format!(
                    "set for this release with --stage (ship.toml: {was})"
                ));
                overridden.push(format!(
                    "{} {} % for {}",
                    st.name,
                    st.weight,
                    st.duration.map(|d| d.to_string()).unwrap_or_default()
                ));
            }
        }
        let meta = ReleaseMeta {
            id: id.clone(),
            name: name.to_string(),
            kind: if opts.hotfix.is_some() {
                Kind::Hotfix
            } else {
                Kind::Standard
            },
            severity: opts.hotfix,
            mission: mission.map(str::to_string),
            service: self.config.service.name.clone(),
            created_at: now,
            changes,
            excluded,
            stages,
            rollback: self.config.rollback(),
            status: Status::Draft,
            submitted_by: None,
            submitted_at: None,
            digest: None,
            digest_parts: Default::default(),
            approvals: vec![],
            rollout: None,
            flags: opts.flags.clone(),
            migrations: opts.migrations.clone(),
            criteria: Some(self.config.criteria(opts.hotfix.is_some())),
            checks: None,
            validation: None,
            handoff: None,
            anchors: vec![],
            withdrawn: None,
        };

        let template_path = self.template_path();
        let (template, template_used) = if template_path.is_file() {
            (fsutil::read(&template_path)?, self.rel(&template_path))
        } else {
            (
                DEFAULT_RELEASE_TEMPLATE.to_string(),
                "built-in (no template file)".to_string(),
            )
        };
        let mut values: Vec<(&str, String)> = vec![
            ("RELEASE_ID", id.clone()),
            ("RELEASE_NAME", name.to_string()),
            ("MISSION", mission.unwrap_or("—").to_string()),
            ("DATE", now.format("%Y-%m-%d").to_string()),
            (
                "CHANGES",
                wrap_block("changes", &render_changes(&meta, &self.link_root())),
            ),
            (
                "EXCLUDED",
                wrap_block("excluded", &render_excluded(&meta, &self.link_root())),
            ),
            ("STAGES", wrap_block("stages", &render_stages(&meta.stages))),
            (
                "ROLLBACK_TRIGGERS",
                wrap_block("triggers", &render_triggers(&meta.rollback)),
            ),
            (
                "MANUAL_TRIGGERS",
                wrap_block("manual-triggers", &render_manual(&meta.rollback)),
            ),
            ("RELEASE_NOTES", release_notes(&meta)),
        ];
        values.extend(cfg.placeholders());
        let body = fill(&template, &values).map_err(|(line, column, message)| Error::Parse {
            file: template_path.clone(),
            line,
            column,
            message,
        })?;
        let mut contract = ReleaseContract { meta, body };
        contract.refresh_records();

        let report = NewReport {
            id: id.clone(),
            file: self.rel(&path),
            mission: mission.map(str::to_string),
            changes: contract.meta.changes.iter().map(|c| c.id.clone()).collect(),
            excluded: contract
                .meta
                .excluded
                .iter()
                .map(|e| (e.id.clone(), e.verdict.clone()))
                .collect(),
            already_released: already,
            template: template_used,
            outcome_contract: None,
            stages_overridden: overridden,
        };
        let mut report = report;
        // Read STATUS.md and the mission's outcome contract before writing anything, so a
        // malformed one stops us with nothing changed.
        let status = self.load_status()?;
        let outcome = match mission {
            Some(m) if self.outcome_path(m).is_file() => Some(self.load_outcome(m)?),
            _ => None,
        };
        fsutil::write_atomic(&path, &contract.render(), true)?;
        // Only once the contract is written: a refused command leaves every file as it was.
        self.save_index(index);
        if let Some((opath, mut oc)) = outcome {
            if !oc.meta.releases.contains(&id) {
                oc.meta.releases.push(id.clone());
                fsutil::write_atomic(&opath, &oc.render(), false)?;
            }
            report.outcome_contract = Some(self.rel(&opath));
        }
        self.record_status(status, &LoadedRelease { path, contract }, now)?;
        Ok(report)
    }

    /// Records a release's status (and its mission's phase) in STATUS.md — or, in a batch
    /// ([`Workspace::batch_status`]), at the next [`Workspace::flush_status`].
    pub fn update_status(&self, r: &LoadedRelease, now: DateTime<Utc>) -> Result<()> {
        if let Some(batch) = &self.status_batch {
            let mut pending = batch.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(crate::StatusUpdate {
                release: r.clone(),
                at: now,
            });
            return Ok(());
        }
        self.record_status(self.load_status()?, r, now)
    }

    /// From now on, STATUS.md updates wait for [`Workspace::flush_status`] (`ship serve`
    /// flushes once a poll): the file lists every release, so rewriting it for each milestone
    /// of thousands of rollouts would cost each one the whole file.
    pub fn batch_status(&mut self) {
        self.status_batch = Some(Default::default());
    }

    /// Writes the batched STATUS.md updates, in order, in one rewrite of the file; nothing to
    /// do without a batch or updates.
    pub fn flush_status(&self) -> Result<()> {
        let Some(batch) = &self.status_batch else {
            return Ok(());
        };
        let pending: Vec<crate::StatusUpdate> =
            std::mem::take(&mut *batch.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        let mut status = self.load_status()?;
        for u in &pending {
            self.apply_status(&mut status, &u.release, u.at);
        }
        let path = self.path(&self.config.paths.status);
        fsutil::write_atomic(&path, &status.render(), false)
    }

    /// [`Workspace::update_status`] with STATUS.md already read.
    fn record_status(
        &self,
        mut status: StatusFile,
        r: &LoadedRelease,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let path = self.path(&self.config.paths.status);
        self.apply_status(&mut status, r, now);
        fsutil::write_atomic(&path, &status.render(), false)
    }

    /// A release's status (and its mission's phase) set in `status`.
    fn apply_status(&self, status: &mut StatusFile, r: &LoadedRelease, now: DateTime<Utc>) {
        let m = &r.contract.meta;
        status.set_release(&m.id, m.mission.as_deref(), m.status.as_str(), now);
        if let Some(mission) = &m.mission {
            // A mission in Operate stays there: its outcomes are being measured whatever its
            // next release does, until that release is handed over in turn (`ship handoff`
            // then names it). Only the handoff moves a mission into Operate.
            let operating = status
                .mission(mission)
                .is_some_and(|e| e.phase == Phase::Operate);
            if !operating {
                status.set_mission(mission, Phase::Ship, Some(&m.id), now);
            }
        }
    }
}

impl Workspace {
    /// The hotfix path: the configured stages minus `hotfix.skip_stages`; the final 100 % stage
    /// is followed by post-deployment validation for `hotfix.validation_window`.
    pub fn hotfix_stages(&self) -> Result<Vec<Stage>> {
        hotfix_stages_of(&self.config)
    }
}

fn hotfix_stages_of(cfg: &shiploop_config::Config) -> Result<Vec<Stage>> {
    {
        let skip = &cfg.hotfix.skip_stages;
        let mut stages: Vec<Stage> = cfg
            .rollout_stages()
            .into_iter()
            .filter(|s| !skip.contains(&s.name))
            .collect();
        if let Some(last) = stages.last_mut() {
            if last.weight == 100 {
                last.notes.push(format!(
                    "then post-deployment validation for {} (`ship validate`)",
                    cfg.hotfix.validation_window
                ));
            }
        }
        if stages.len() < 2 || stages.last().map(|s| s.weight) != Some(100) {
            return Err(Error::Usage(format!(
                "hotfix.skip_stages {skip:?} leaves {} stage(s): a hotfix still needs a canary stage before 100 %",
                stages.len()
            )));
        }
        Ok(stages)
    }
}

impl Workspace {
    /// The relative path from the releases folder back to the workspace root, for links.
    pub fn link_root(&self) -> String {
        let depth = std::path::Path::new(&self.config.paths.releases)
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count();
        "../".repeat(depth)
    }

    /// The status file (`paths.status`), or an empty one when it does not exist yet.
    pub fn load_status(&self) -> Result<StatusFile> {
        let path = self.path(&self.config.paths.status);
        if path.is_file() {
            StatusFile::parse(&fsutil::read(&path)?).map_err(|e| Error::parse(&path, e))
        } else {
            Ok(StatusFile::new())
        }
    }
}

/// Customer-facing notes drafted from the changes' summaries, for a person to polish.
fn release_notes(meta: &ReleaseMeta) -> String {
    let mut out = String::from(
        "<!-- Drafted from the evaluation summaries: rewrite for customers before submitting. -->\n",
    );
    for c in &meta.changes {
        out.push_str(&format!("- {}\n", c.summary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> std::result::Result<StageOverride, StageOverrideError> {
        s.parse()
    }

    #[test]
    fn stage_overrides_parse_percentages_and_durations() {
        assert_eq!(
            o("canary=10%:30s").unwrap(),
            StageOverride {
                name: "canary".into(),
                weight: Some(10),
                duration: Some(Dur::from_secs(30)),
            }
        );
        assert_eq!(o("ga=1m").unwrap().duration, Some(Dur::from_secs(60)));
        assert_eq!(o("early-adopters=30%").unwrap().weight, Some(30));
        assert_eq!(o("ga=2m:60%").unwrap().weight, Some(60));
        for (bad, says) in [
            ("full=100%", "not one of"),
            ("canary", "NAME=PERCENT%:DURATION"),
            ("canary=100%", "between 1 and 99"),
            ("canary=0%", "between 1 and 99"),
            ("canary=ten", "neither a percentage"),
            ("canary=0s", "longer than 0s"),
            ("canary=", "give a percentage"),
            ("canary=5%:6%", "two percentages"),
        ] {
            let e = o(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn overridden_stages_must_still_increase() {
        let cfg = shiploop_config::Config::default();
        let c = with_stage_overrides(&cfg, &[o("canary=10%:30s").unwrap(), o("ga=1m").unwrap()])
            .unwrap();
        let st = c.rollout_stages();
        assert_eq!(
            st.iter().map(|s| s.weight).collect::<Vec<_>>(),
            vec![10, 25, 50, 100]
        );
        assert_eq!(st[0].duration, Some(Dur::from_secs(30)));
        assert_eq!(st[2].duration, Some(Dur::from_secs(60)));
        let e = with_stage_overrides(&cfg, &[o("canary=30%").unwrap()]).unwrap_err();
        assert!(e.to_string().contains("must increase"), "{e}");
        let e =
            with_stage_overrides(&cfg, &[o("ga=1m").unwrap(), o("ga=5%").unwrap()]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
