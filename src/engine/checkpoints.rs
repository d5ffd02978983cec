//! The embedded engine's own files under the state directory's `engine/` (named by
//! [`crate::state::StateDir`]):
//!
//! - `engine/engine.lock`: held (flock) while an engine runs: two engines copying the same plan
//!   would duplicate records.
//! - `engine/checkpoints.json`: per direction and partition, the last copy whose delivery the
//!   destination acknowledged (destination offset, origin offset). Only a hint that bounds the tail
//!   scan at start-up; the truth is in the destination's provenance header.
//! - `engine/clean-shutdown`: present after a graceful stop; absent after a crash, when start-up
//!   waits for produce requests of the killed process that may still land.
//! - `engine/status.json`: progress and alarms, rewritten every second, for `migrate status`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::state::{FileLock, read_json, write_atomically};

/// Held while an engine runs: two engines copying the same plan would duplicate records.
pub struct EngineLock;

impl EngineLock {
    pub fn acquire(path: &Path) -> Result<FileLock, String> {
        FileLock::acquire(path, "another engine already runs for this plan")
    }
}

/// The last acknowledged copy of one partition in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Offset of the copy on the destination; `None` when nothing was copied yet but the start
    /// position is fixed (starting position `latest`).
    pub dest_offset: Option<i64>,
    /// Offset of the copied record on the origin; the next record to copy is the one after.
    pub origin_offset: i64,
}

/// Direction name (`source->target`) → `topic/partition` → checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoints {
    pub directions: BTreeMap<String, BTreeMap<String, Checkpoint>>,
}

impl Checkpoints {
    pub fn load(path: &Path) -> Result<Option<Self>, String> {
        read_json(path)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    pub fn get(&self, direction: &str, topic: &str, partition: i32) -> Option<Checkpoint> {
        self.directions.get(direction)?.get(&partition_key(topic, partition)).copied()
    }

    pub fn set(&mut self, direction: &str, topic: &str, partition: i32, checkpoint: Checkpoint) {
        self.directions.entry(direction.to_string()).or_default().insert(partition_key(topic, partition), checkpoint);
    }
}

pub fn partition_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.lock");
        let first = EngineLock::acquire(&path).unwrap();
        assert!(EngineLock::acquire(&path).err().unwrap().contains("another engine already runs"));
        drop(first);
        assert!(EngineLock::acquire(&path).is_ok());
    }
}
