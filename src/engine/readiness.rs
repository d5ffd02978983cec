//! The embedded engine as the source of a move's gate ([`ReadinessSource`]): its `/status`,
//! read as the typed [`EngineStatus`] the engine serves.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::EngineStatus;
use crate::gate::{Gate, ReadinessSource};
use crate::plan::Side;

/// The embedded engine as the source of the gate: its `/status`.
pub struct EngineReadiness {
    pub address: SocketAddr,
}

impl EngineReadiness {
    /// The running engine's status; an engine that is starting or stopping is not a source.
    fn status(&self) -> Result<EngineStatus, String> {
        let status = super::http::fetch_status(self.address)
            .map_err(|e| format!("the engine does not answer on http://{}/status: {e}", self.address))?;
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
