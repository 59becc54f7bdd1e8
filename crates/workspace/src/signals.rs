//! Writing feedback signals to `work/signals/`, never two for the same event.

use crate::{fsutil, Error, Result, Workspace};
use shiploop_artifacts::signal::Signal;
use std::path::PathBuf;

impl Workspace {
    /// The signals' folder (`paths.signals`).
    pub fn signals_dir(&self) -> PathBuf {
        self.path(&self.config.paths.signals)
    }

    /// Every signal in the signals folder, with its path. Unreadable files are skipped here:
    /// listing must not stop at one broken signal (`ship signal list` reports them).
    pub fn signals(&self) -> Result<Vec<(PathBuf, Signal)>> {
        let dir = self.signals_dir();
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        let mut out = vec![];
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "md") {
                if let Ok(s) = Signal::parse(&fsutil::read(&p)?) {
                    out.push((p, s));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every signal file that cannot be read or parsed, with why (file and line).
    pub fn broken_signals(&self) -> Result<Vec<(PathBuf, String)>> {
        let dir = self.signals_dir();
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let mut out = vec![];
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "md") {
                let text = match fsutil::read(&p) {
                    Ok(t) => t,
                    Err(e) => {
                        out.push((p, e.to_string()));
                        continue;
                    }
                };
                if let Err(e) = Signal::parse(&text) {
                    out.push((p, e.to_string()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes the signal unless one for the same event exists; returns the path written, or
    /// the existing signal's path with `false`.
    pub fn write_signal(&self, signal: &Signal) -> Result<(PathBuf, bool)> {
        if let Some(event) = &signal.meta.event {
            if let Some((p, _)) = self
                .signals()?
                .into_iter()
                .find(|(_, s)| s.meta.event.as_ref() == Some(event))
            {
                return Ok((p, false));
            }
        }
        let dir = self.signals_dir();
        let base = signal.file_name();
        let mut path = dir.join(&base);
        let mut n = 2;
        while path.exists() {
            path = dir.join(base.replace(".md", &format!("-{n}.md")));
            n += 1;
        }
        fsutil::write_atomic(&path, &signal.render(), true)?;
        Ok((path, true))
    }
}
