//! `control.json`: where each app runs, the control interface between cutover/rollback and the
//! engine (or the MSK backend's reverse-replication checks).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_json, write_atomically};
use crate::plan::Side;

/// Where each app runs: the control interface between cutover/rollback and the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// App name → the side it runs (and produces) on. Apps not listed run on the source.
    #[serde(default)]
    pub apps: BTreeMap<String, Side>,
}

impl Control {
    /// The control file, or the default (every app on the source) when there is none.
    pub fn load(path: &Path) -> Result<Self, String> {
        Ok(read_json(path)?.unwrap_or_default())
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    pub fn side_of(&self, app: &str) -> Side {
        self.apps.get(app).copied().unwrap_or(Side::Source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_defaults_to_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.json");
        let mut control = Control::load(&path).unwrap();
        assert_eq!(control.side_of("orders"), Side::Source);
        control.apps.insert("orders".into(), Side::Target);
        control.save(&path).unwrap();
        assert_eq!(Control::load(&path).unwrap().side_of("orders"), Side::Target);
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"orders\": \"target\""));
    }
}
