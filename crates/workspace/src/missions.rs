//! Missions and their outcome contracts: `work/missions/<name>/OUTCOME-CONTRACT.md`.

use crate::template::outcome_template;
use crate::{fsutil, validate_name, Error, Result, Workspace};
use shiploop_artifacts::outcome::OutcomeContract;
use shiploop_artifacts::status::StatusFile;
use std::path::PathBuf;

/// A mission's outcome contract file.
pub const OUTCOME_FILE: &str = "OUTCOME-CONTRACT.md";
pub const OUTCOME_TEMPLATE_FILE: &str = "_TEMPLATE-OUTCOME-CONTRACT.md";

impl Workspace {
    /// The missions' folder (`paths.missions`).
    pub fn missions_dir(&self) -> PathBuf {
        self.path(&self.config.paths.missions)
    }

    /// The outcome contract of `mission`.
    pub fn outcome_path(&self, mission: &str) -> PathBuf {
        self.missions_dir().join(mission).join(OUTCOME_FILE)
    }

    /// Writes the mission's outcome contract from the missions folder's template (or the
    /// built-in one for this workspace's metric source), with the mission's name and the
    /// checkpoint dates filled in (launch `today`, week-1 a week later, day-30 thirty days
    /// later); never overwrites.
    pub fn mission_new(&self, mission: &str, today: chrono::NaiveDate) -> Result<PathBuf> {
        validate_name("mission", mission)?;
        let path = self.outcome_path(mission);
        if path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists: ship never overwrites an outcome contract",
                self.rel(&path)
            )));
        }
        let template_path = self.missions_dir().join(OUTCOME_TEMPLATE_FILE);
        let template = if template_path.is_file() {
            fsutil::read(&template_path)?
        } else {
            outcome_template(self.config.metrics.kind.as_str())
        };
        let day = |n: u64| {
            (today + chrono::Days::new(n))
                .format("%Y-%m-%d")
                .to_string()
        };
        let text = template
            .replace("MISSION-NAME", mission)
            .replace("LAUNCH-DATE", &day(0))
            .replace("WEEK-1-DATE", &day(7))
            .replace("DAY-30-DATE", &day(30));
        // What is written must parse: a broken template is reported against the template.
        OutcomeContract::parse(&text).map_err(|e| Error::parse(&template_path, e))?;
        if let Some(dir) = path.parent() {
            fsutil::create_dir(dir)?;
        }
        fsutil::write_atomic(&path, &text, true)?;
        Ok(path)
    }

    /// The outcome reports' folder of `mission`.
    pub fn reports_dir(&self, mission: &str) -> PathBuf {
        self.missions_dir().join(mission).join("reports")
    }

    /// Writes an outcome report and its charts (`(file name, svg)`, next to it), the charts
    /// first so a report never points at a chart that is not there. Measuring the same
    /// checkpoint again the same day replaces them.
    pub fn write_outcome_report(
        &self,
        mission: &str,
        stem: &str,
        text: &str,
        charts: &[(String, String)],
    ) -> Result<PathBuf> {
        validate_name("mission", mission)?;
        let dir = self.reports_dir(mission);
        fsutil::create_dir(&dir)?;
        for (file, svg) in charts {
            fsutil::write_atomic(&dir.join(file), svg, false)?;
        }
        let path = dir.join(format!("{stem}.md"));
        fsutil::write_atomic(&path, text, false)?;
        Ok(path)
    }

    /// Writes STATUS.md (loaded with `load_status` and changed by the caller).
    pub fn save_status(&self, status: &StatusFile) -> Result<()> {
        fsutil::write_atomic(
            &self.path(&self.config.paths.status),
            &status.render(),
            false,
        )
    }

    /// The mission's outcome contract, parsed (errors name the file and line).
    pub fn load_outcome(&self, mission: &str) -> Result<(PathBuf, OutcomeContract)> {
        validate_name("mission", mission)?;
        let path = self.outcome_path(mission);
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "mission `{mission}` has no outcome contract ({}): `ship mission new {mission}`",
                self.rel(&path)
            )));
        }
        let text = fsutil::read(&path)?;
        let c = OutcomeContract::parse(&text).map_err(|e| Error::parse(&path, e))?;
        if c.meta.mission != mission {
            return Err(Error::Parse {
                file: path.clone(),
                line: 2,
                column: 1,
                message: format!(
                    "the outcome contract says mission `{}`, but it is in the folder of `{mission}`",
                    c.meta.mission
                ),
            });
        }
        Ok((path, c))
    }
}
