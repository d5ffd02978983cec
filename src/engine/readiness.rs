//! The embedded engine as the source of a move's gate ([`ReadinessSource`]): its `/status`,
//! read as the typed [`EngineStatus`] the engine serves.

use std::collections::BTreeMap;

use super::EngineStatus;
use crate::gate::{Gate, ReadinessSource};
use crate::plan::{Plan, Side};
use crate::state::StateDir;

/// The embedded engine as the source of the gate: its `/status`.
pub struct EngineReadiness {
    plan: Plan,
    files: StateDir,
}

impl EngineReadiness {
    pub fn new(plan: &Plan, files: StateDir) -> Self {
        Self { plan: plan.clone(), files }
    }

    /// The running engine's status; an engine that is starting or stopping is not a source. Its
    /// address is looked up for every request: an engine restarted in the middle of a move (on a
    /// port of its own choosing, with `listen: …:0`) is found where it now listens.
    fn status(&self) -> Result<EngineStatus, String> {
        let address = super::http::endpoint(&self.plan, &self.files);
        let status = super::http::fetch_status(address)
            .map_err(|e| format!("the engine does not answer on http://{address}/status: {e}"))?;
        if status.state != "running" {
            return Err(format!("the engine is {}", status.state));
        }
        Ok(status)
    }
}

impl ReadinessSource for EngineReadiness {
    fn gate(&self) -> Result<Gate, String> {
        Ok(self.status()?.gate)
    }

    fn applied_side(&self, app: &str) -> Result<Side, String> {
        Ok(self.status()?.groups.applied_control.side_of(app))
    }

    fn cluster_ids(&self) -> Result<BTreeMap<Side, String>, String> {
        Ok(self.status()?.cluster_ids)
    }
}
