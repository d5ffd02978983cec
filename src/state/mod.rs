//! The state directory: every file `migrate` keeps there named in one place ([`StateDir`]), the
//! atomic write and the bounded read they all go through, the file lock, the clock. A leaf: the
//! engine, the MSK backend, cutover, teardown and the commands share it, and it needs none of them.
//!
//! - `control.json`: which side each app runs on, written by cutover/rollback and read by the
//!   engine every second (the documented control interface; see the README) ([`control`]).
//! - `move.json`, `moves.lock`, `audit.jsonl`, `clients/`: a move's progress, the lock of the
//!   mutating commands, the audit log ([`audit`]), the apps' client files (`crate::cutover::record`).
//! - `engine/`: the embedded engine's lock, checkpoints, clean-shutdown marker and `status.json`
//!   (`crate::engine::checkpoints`).
//! - `replicators.json` (MSK backend): when `migrate` first saw each replicator RUNNING.
//! - `synced-acls.json`: the ACLs `apply` synced onto the target, for `teardown` to remove.
//! - `teardown.json`: written once the migration is torn down.

pub mod audit;
pub mod control;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::control::Control;
use crate::plan::Side;

/// Milliseconds since the Unix epoch: the time every state file and report records.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Every file of one state directory, by name.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn control(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// The unfinished move, if any.
    pub fn move_record(&self) -> PathBuf {
        self.root.join("move.json")
    }

    /// Held by cutover, rollback and teardown.
    pub fn moves_lock(&self) -> PathBuf {
        self.root.join("moves.lock")
    }

    /// The process group of the hook a move is running (`<group> <leader's start time>`), kept
    /// while it runs: a move killed with `kill -9` leaves its hook running, and the next move
    /// finds it here and kills it before going on.
    pub fn running_hook(&self) -> PathBuf {
        self.root.join("hook.pid")
    }

    pub fn audit_log(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }

    /// The client properties a move writes for `app` on `side`.
    pub fn client_config(&self, app: &str, side: Side) -> PathBuf {
        self.root.join("clients").join(format!("{app}.{side}.properties"))
    }

    pub fn engine_dir(&self) -> PathBuf {
        self.root.join("engine")
    }

    /// Held while an engine runs.
    pub fn engine_lock(&self) -> PathBuf {
        self.engine_dir().join("engine.lock")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.engine_dir().join("checkpoints.json")
    }

    pub fn clean_shutdown(&self) -> PathBuf {
        self.engine_dir().join("clean-shutdown")
    }

    /// The engine's progress and alarms, rewritten every second.
    pub fn engine_status(&self) -> PathBuf {
        self.engine_dir().join("status.json")
    }

    /// MSK backend: when `migrate` first saw each replicator RUNNING (see `crate::msk::reverse`).
    pub fn replicators(&self) -> PathBuf {
        self.root.join("replicators.json")
    }

    /// The ACLs `apply` synced onto the target.
    pub fn synced_acls(&self) -> PathBuf {
        self.root.join("synced-acls.json")
    }

    /// Written once the migration is torn down.
    pub fn teardown(&self) -> PathBuf {
        self.root.join("teardown.json")
    }
}

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
    let written = File::options().write(true).create_new(true).mode(mode).open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written {
        // A full disk, say: the file itself is untouched, and no half-written temporary stays.
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
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
}
