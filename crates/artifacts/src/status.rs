//! `STATUS.md`: where each mission and release stands, for people and for the other loops.
//!
//! The frontmatter is the record; the "Missions" and "Releases" tables in the body are rendered
//! from it inside ship blocks. Anything else people write in STATUS.md is left alone.

use crate::document::Document;
use crate::error::ParseError;
use crate::markdown;
use crate::outcome::Checkpoint;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which loop a mission is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Being built (the Build loop).
    Build,
    /// Being shipped (the Ship loop).
    Ship,
    /// Handed over to Operate and running in production.
    Operate,
    /// Finished.
    Done,
}

impl Phase {
    /// The phase as STATUS.md spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Build => "build",
            Phase::Ship => "ship",
            Phase::Operate => "operate",
            Phase::Done => "done",
        }
    }
}

/// One mission's entry in STATUS.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissionEntry {
    /// The mission's name.
    pub name: String,
    /// The loop it is in.
    pub phase: Phase,
    /// Its most recent release, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// When it entered its phase.
    pub since: DateTime<Utc>,
    /// Who owns the mission now (set by the handoff to Operate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The outcome checkpoints handed over to Operate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_schedule: Vec<Checkpoint>,
    /// Checkpoints measured so far, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured: Vec<String>,
}

impl MissionEntry {
    /// The first handed-over checkpoint not measured yet.
    pub fn next_checkpoint(&self) -> Option<&Checkpoint> {
        let mut open: Vec<&Checkpoint> = self
            .measurement_schedule
            .iter()
            .filter(|c| !self.measured.contains(&c.name))
            .collect();
        open.sort_by_key(|c| c.date);
        open.into_iter().next()
    }
}

/// One release's entry in STATUS.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    /// The release id.
    pub id: String,
    /// The mission it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// Its status as the contract spells it (e.g. `pending-approval`).
    pub status: String,
    /// When the entry was last updated.
    pub updated_at: DateTime<Utc>,
}

/// STATUS.md's frontmatter: the record the tables are rendered from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StatusMeta {
    /// Every mission, in the order first recorded.
    #[serde(default)]
    pub missions: Vec<MissionEntry>,
    /// Every release, in the order first recorded.
    #[serde(default)]
    pub releases: Vec<ReleaseEntry>,
}

/// STATUS.md: its frontmatter record and the body around the tables.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusFile {
    /// The record.
    pub meta: StatusMeta,
    /// The markdown body: people's text and the ship blocks holding the tables.
    pub body: String,
}

/// The body of a new STATUS.md: a heading, a line of guidance and the two empty tables.
pub const DEFAULT_BODY: &str = "# Status\n\n\
Where each mission and release stands. ship keeps the two tables below up to date from this\n\
file's frontmatter; write anything else you like around them.\n\n\
## Missions\n\n<!-- ship:begin missions -->\n_No missions yet._\n<!-- ship:end missions -->\n\n\
## Releases\n\n<!-- ship:begin releases -->\n_No releases yet._\n<!-- ship:end releases -->\n";

impl StatusFile {
    /// A STATUS.md with no missions or releases, and the default body.
    pub fn new() -> StatusFile {
        StatusFile {
            meta: StatusMeta::default(),
            body: DEFAULT_BODY.to_string(),
        }
    }

    /// Parses STATUS.md.
    pub fn parse(text: &str) -> Result<StatusFile, ParseError> {
        let (meta, body) = Document::parse_file(text)?;
        Ok(StatusFile { meta, body })
    }

    /// STATUS.md as file text, its tables rendered from the record. (The changes below only
    /// change the record: rendering ten thousand rows after each of ten thousand updates made
    /// `ship serve`'s batched STATUS.md write take longer than a lease lives.)
    pub fn render(&self) -> String {
        Document::render_file(&self.meta, &self.refreshed_body())
    }

    /// Records a mission's phase (and release), adding its entry if new; `since` moves only when
    /// the phase changes.
    pub fn set_mission(
        &mut self,
        name: &str,
        phase: Phase,
        release: Option<&str>,
        now: DateTime<Utc>,
    ) {
        match self.meta.missions.iter_mut().find(|m| m.name == name) {
            Some(m) => {
                if m.phase != phase {
                    m.since = now;
                }
                m.phase = phase;
                if let Some(r) = release {
                    m.release = Some(r.to_string());
                }
            }
            None => self.meta.missions.push(MissionEntry {
                name: name.to_string(),
                phase,
                release: release.map(str::to_string),
                since: now,
                owner: None,
                measurement_schedule: vec![],
                measured: vec![],
            }),
        }
    }

    /// The handoff: the mission is in Operate, owned by `owner`, with its checkpoints.
    pub fn hand_over(
        &mut self,
        name: &str,
        release: &str,
        owner: &str,
        schedule: &[Checkpoint],
        now: DateTime<Utc>,
    ) {
        self.set_mission(name, Phase::Operate, Some(release), now);
        if let Some(m) = self.meta.missions.iter_mut().find(|m| m.name == name) {
            m.owner = Some(owner.to_string());
            m.measurement_schedule = schedule.to_vec();
            m.measured.retain(|c| schedule.iter().any(|s| &s.name == c));
        }
    }

    /// Replaces the mission's handed-over checkpoints (the outcome contract was edited); true
    /// when something changed.
    pub fn set_schedule(&mut self, name: &str, schedule: &[Checkpoint]) -> bool {
        let Some(m) = self.meta.missions.iter_mut().find(|m| m.name == name) else {
            return false;
        };
        if m.measurement_schedule == schedule {
            return false;
        }
        m.measurement_schedule = schedule.to_vec();
        true
    }

    /// Records that a checkpoint of the mission was measured.
    pub fn mark_measured(&mut self, name: &str, checkpoint: &str) {
        if let Some(m) = self.meta.missions.iter_mut().find(|m| m.name == name) {
            if !m.measured.iter().any(|c| c == checkpoint) {
                m.measured.push(checkpoint.to_string());
            }
        }
    }

    /// The mission named `name`.
    pub fn mission(&self, name: &str) -> Option<&MissionEntry> {
        self.meta.missions.iter().find(|m| m.name == name)
    }

    /// Records a release's status (and mission), adding its entry if new.
    pub fn set_release(
        &mut self,
        id: &str,
        mission: Option<&str>,
        status: &str,
        now: DateTime<Utc>,
    ) {
        match self.meta.releases.iter_mut().find(|r| r.id == id) {
            Some(r) => {
                r.status = status.to_string();
                r.updated_at = now;
                if mission.is_some() {
                    r.mission = mission.map(str::to_string);
                }
            }
            None => self.meta.releases.push(ReleaseEntry {
                id: id.to_string(),
                mission: mission.map(str::to_string),
                status: status.to_string(),
                updated_at: now,
            }),
        }
    }

    /// Re-renders the tables in `body`; puts them back in their sections if someone deleted the
    /// markers.
    pub fn refresh(&mut self) {
        self.body = self.refreshed_body();
    }

    fn refreshed_body(&self) -> String {
        let tables = [
            ("missions", "Missions", self.missions_table()),
            ("releases", "Releases", self.releases_table()),
        ];
        let mut body = self.body.clone();
        for (block, heading, table) in tables {
            body = match markdown::set_block(&body, block, &table) {
                Some(b) => b,
                None => markdown::set_section(&body, heading, &markdown::wrap_block(block, &table)),
            };
        }
        body
    }

    fn missions_table(&self) -> String {
        if self.meta.missions.is_empty() {
            return "_No missions yet._".into();
        }
        let mut t = String::from(
            "| mission | phase | release | since | owner | next measurement |\n|---|---|---|---|---|---|\n",
        );
        for m in &self.meta.missions {
            let next = match m.next_checkpoint() {
                Some(c) => format!("{} ({})", markdown::cell(&c.name), c.date),
                None if m.measurement_schedule.is_empty() => "—".into(),
                None => "all measured".into(),
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {next} |\n",
                markdown::cell(&m.name),
                m.phase.as_str(),
                m.release.as_deref().unwrap_or("—"),
                m.since.format("%Y-%m-%d %H:%M UTC"),
                markdown::cell(m.owner.as_deref().unwrap_or("—")),
            ));
        }
        t
    }

    fn releases_table(&self) -> String {
        if self.meta.releases.is_empty() {
            return "_No releases yet._".into();
        }
        let mut t = String::from("| release | mission | status | updated |\n|---|---|---|---|\n");
        for r in &self.meta.releases {
            t.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.id,
                r.mission.as_deref().unwrap_or("—"),
                r.status,
                r.updated_at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        t
    }
}

impl Default for StatusFile {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn updates_tables_and_keeps_human_text() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let mut s = StatusFile::new();
        s.body = s
            .body
            .replace("# Status\n", "# Status\n\nOur notes stay.\n");
        s.set_mission("checkout", Phase::Ship, Some("2026-11-27-a"), t0);
        s.set_release("2026-11-27-a", Some("checkout"), "pending-approval", t0);
        let text = s.render();
        let back = StatusFile::parse(&text).unwrap();
        assert_eq!(back.meta, s.meta);
        assert!(text.contains("Our notes stay."));
        assert!(text.contains("| checkout | ship | 2026-11-27-a |"));
        assert!(text.contains("| 2026-11-27-a | checkout | pending-approval |"));
        let mut again = back.clone();
        again.set_release("2026-11-27-a", None, "approved", t0);
        assert_eq!(again.meta.releases.len(), 1);
        assert_eq!(again.meta.releases[0].mission.as_deref(), Some("checkout"));
    }

    #[test]
    fn the_handoff_records_owner_and_checkpoints() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let d = |s: &str| s.parse().unwrap();
        let schedule = vec![
            Checkpoint {
                name: "day-30".into(),
                date: d("2026-12-27"),
            },
            Checkpoint {
                name: "week-1".into(),
                date: d("2026-12-04"),
            },
        ];
        let mut s = StatusFile::new();
        s.set_mission("checkout", Phase::Ship, Some("r1"), t0);
        s.hand_over("checkout", "r1", "Quality Layer", &schedule, t0);
        let text = s.render();
        assert!(
            text.contains("| checkout | operate | r1 | 2026-11-27 09:00 UTC | Quality Layer | week-1 (2026-12-04) |"),
            "{text}"
        );
        s.mark_measured("checkout", "week-1");
        s.mark_measured("checkout", "week-1");
        assert_eq!(s.mission("checkout").unwrap().measured, vec!["week-1"]);
        assert!(s.render().contains("| day-30 (2026-12-27) |"));
        s.mark_measured("checkout", "day-30");
        assert!(s.render().contains("| all measured |"));
        assert_eq!(StatusFile::parse(&s.render()).unwrap().meta, s.meta);
    }

    // Any time will do: the test is about the markers.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn deleted_markers_come_back_in_their_section() {
        let mut s = StatusFile {
            meta: StatusMeta::default(),
            body: "# Status\n\nmine\n".into(),
        };
        s.set_mission("m", Phase::Operate, None, Utc::now());
        let text = s.render();
        assert!(text.contains("---\n# Status\n\nmine\n"), "{text}");
        assert!(text.contains("## Missions\n\n<!-- ship:begin missions -->"));
        s.refresh();
        assert!(s.body.starts_with("# Status\n\nmine\n"));
        assert!(s
            .body
            .contains("## Missions\n\n<!-- ship:begin missions -->"));
    }
}
