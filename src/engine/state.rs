//! The engine's files in the state directory, all written atomically (write, fsync, rename).
//!
//! - `engine/engine.lock`: held (flock) while an engine runs: two engines copying the same plan
//!   would duplicate records.
//! - `engine/checkpoints.json`: per direction and partition, the last copy whose delivery the
//!   destination acknowledged (destination offset, origin offset). Only a hint that bounds the tail
//!   scan at start-up; the truth is in the destination's provenance header.
//! - `engine/clean-shutdown`: present after a graceful stop; absent after a crash, when start-up
//!   waits for produce requests of the killed process that may still land.
//! - `engine/status.json`: progress and alarms, rewritten every second, for `migrate status`.
//! - `control.json`: which side each app runs on, written by cutover/rollback and read by the
//!   engine every second (the documented control interface; see the README).
//! - `replicators.json` (MSK backend): when `migrate` first saw each replicator RUNNING, by ARN.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Side;

/// Writes `bytes` to `path` so that readers see either the old or the new content, never a mix,
/// and the new content survives a crash once this returns.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with_mode(path, bytes, 0o666)
}

/// [`write_atomically`], the file created with `mode` (before the umask) from its first byte: a
/// file holding a password (mode 0o600) is never readable by others, not even as the temporary.
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("state")));
    // A temporary left by a crash may carry another mode: start from a new file.
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    {
        let mut file = File::options().write(true).create_new(true).mode(mode).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    // The rename itself is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

/// The JSON document in `path`, or `None` when there is no such file.
///
/// Read through [`crate::files::read_bounded`]: a FIFO, a device or a file over
/// [`crate::files::MAX_STATE_BYTES`] in its place is refused by name, never waited on.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match crate::files::read_bounded(path, crate::files::MAX_STATE_BYTES, "a state file") {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is not valid: {e}", path.display()))
        }
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

/// The engine's files under one state directory.
#[derive(Debug, Clone)]
pub struct StateFiles {
    pub root: PathBuf,
}

impl StateFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn engine_dir(&self) -> PathBuf {
        self.root.join("engine")
    }

    pub fn lock(&self) -> PathBuf {
        self.engine_dir().join("engine.lock")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.engine_dir().join("checkpoints.json")
    }

    pub fn clean_shutdown(&self) -> PathBuf {
        self.engine_dir().join("clean-shutdown")
    }

    pub fn status(&self) -> PathBuf {
        self.engine_dir().join("status.json")
    }

    pub fn control(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// MSK backend: when `migrate` first saw each replicator RUNNING (see `crate::msk::reverse`).
    pub fn replicators(&self) -> PathBuf {
        self.root.join("replicators.json")
    }
}

/// An exclusive lock on a file, held until dropped (the OS releases it if the process dies). flock
/// locks belong to the open file, so even the same process cannot take one twice.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock, or fails with `busy` when someone holds it.
    pub fn acquire(path: &Path, busy: &str) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // A FIFO or device in the lock's place is refused, not opened and waited on.
        let file = crate::files::open_regular(path, File::options().create(true).truncate(false).write(true))
            .map_err(|e| e.to_string())?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!("{busy} (it holds {})", path.display())),
            Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

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
    fn atomic_write_replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_second_engine_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.lock");
        let first = EngineLock::acquire(&path).unwrap();
        assert!(EngineLock::acquire(&path).err().unwrap().contains("another engine already runs"));
        drop(first);
        assert!(EngineLock::acquire(&path).is_ok());
    }

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
