//! Teardown: removes what the migration created, once every app runs on the target.
//!
//! Embedded backend: the engine's own state (checkpoints, status, its lock file) goes, so no
//! offset-sync bookkeeping survives; `control.json` (where each app runs), the move records and
//! the audit log stay. MSK backend: both replicators are deleted and waited for until
//! `ListReplicators` no longer shows them; the MSK cluster, the secrets and the role are never
//! touched, and a replicator without the plan's `migrate:plan` tag is never deleted. Either way a `teardown.json` marker makes a later `apply` refuse: replicating again
//! from the starting position after the apps moved would copy everything a second time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::checkpoints::EngineLock;
use crate::msk::{self, Progress, ReplicatorError};
use crate::plan::{Backend, Plan, Side};
use crate::state::{StateDir, read_json, write_atomically};

/// Whether everything written is on both clusters, the check teardown makes before it removes
/// anything (after teardown nothing would copy what is missing).
pub enum Replication {
    /// MSK: every partition's last record reached the other cluster.
    TailsReplicated,
    /// MSK: these partitions' last record did not reach the other cluster.
    TailsMissing(Vec<String>),
    /// Embedded: `verify` found this many partitions equal, nothing left to copy.
    RecordsMatch { partitions: usize },
    /// Embedded: `verify`'s report, with partitions that differ or records not copied yet.
    RecordsDiffer { report: crate::verify::VerifyReport, differing: usize, pending: u64 },
}

/// The backend's own proof that the clusters hold the same records. MSK's copies carry no
/// provenance for `verify`'s record-by-record comparison: there it proves instead, by content,
/// that each partition's last record reached the other cluster. Unlike `verify` during
/// replication, records not yet copied count here. `Err` when the check itself could not run.
pub async fn check_replicated(plan: &Plan) -> Result<Replication, String> {
    match &plan.backend {
        Backend::Msk(_) => {
            let checked = plan.clone();
            let pending = tokio::task::spawn_blocking(move || crate::offsets::unreplicated_tails(&checked))
                .await
                .map_err(|error| format!("the check's thread: {error}"))?
                .map_err(|cause| format!("cannot check replication: {cause}"))?;
            Ok(if pending.is_empty() { Replication::TailsReplicated } else { Replication::TailsMissing(pending) })
        }
        Backend::Embedded => {
            let report = crate::verify::verify(plan, &crate::verify::NoProgress)
                .await
                .map_err(|cause| format!("cannot verify: {cause}"))?;
            let differing = report.partitions.iter().filter(|p| !p.matches()).count();
            let pending: u64 = report.partitions.iter().map(|p| p.pending).sum();
            Ok(if differing > 0 || pending > 0 {
                Replication::RecordsDiffer { report, differing, pending }
            } else {
                Replication::RecordsMatch { partitions: report.partitions.len() }
            })
        }
    }
}

/// The marker a finished teardown leaves in the state directory.
pub fn marker(state_dir: &Path) -> PathBuf {
    StateDir::new(state_dir).teardown()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TeardownRecord {
    pub at_unix_ms: u128,
    pub backend: String,
    pub removed: Vec<String>,
    /// Apps still on the source when `--force` overrode the refusal.
    pub forced_with_apps_on_source: Vec<String>,
}

/// The record of an earlier teardown, if any.
pub fn torn_down(state_dir: &Path) -> Result<Option<TeardownRecord>, String> {
    read_json(&marker(state_dir))
}

/// Takes the move lock (held until dropped) and refuses while a move is unfinished, as cutover
/// and rollback do.
pub fn refuse_while_moving(state_dir: &Path) -> Result<crate::state::FileLock, String> {
    use crate::cutover::record::{MoveFiles, MoveLock};
    let files = MoveFiles::new(state_dir);
    let lock = MoveLock::acquire(&files.lock())?;
    if let Some(record) = files.load()?.filter(|record| !record.changed_nothing()) {
        let undo = match record.command {
            crate::cutover::record::MoveCommand::Cutover => "rollback",
            crate::cutover::record::MoveCommand::Rollback => "cutover",
        };
        return Err(format!(
            "the {} of `{}` is unfinished: run `migrate {} {}` to finish it or `migrate {undo} {}` to undo it before teardown",
            record.command.as_str(),
            record.app,
            record.command.as_str(),
            record.app,
            record.app
        ));
    }
    Ok(lock)
}

/// The plan's apps that do not run on the target, per `control.json`.
pub fn apps_not_on_target(plan: &Plan, files: &StateDir) -> Result<Vec<String>, String> {
    let control = crate::state::Control::load(&files.control())?;
    Ok(plan.apps.iter().filter(|app| control.side_of(&app.name) != Side::Target).map(|app| app.name.clone()).collect())
}

#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    #[error("the engine is running for this plan ({0}): stop `migrate apply` first")]
    EngineRunning(String),
    #[error("cannot remove {path}: {cause}")]
    Io { path: String, cause: String },
    #[error(transparent)]
    Replicator(#[from] ReplicatorError),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
}

/// Removes the embedded engine's state; refuses while an engine holds its lock.
pub fn remove_engine_state(files: &StateDir) -> Result<Vec<String>, TeardownError> {
    let engine_dir = files.engine_dir();
    if !engine_dir.exists() {
        return Ok(Vec::new());
    }
    // Holding the engine's lock proves no engine runs, and keeps one from starting meanwhile.
    let lock = EngineLock::acquire(&files.engine_lock()).map_err(TeardownError::EngineRunning)?;
    let mut removed = Vec::new();
    for path in [files.checkpoints(), files.engine_status(), files.clean_shutdown()] {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path.display().to_string()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(TeardownError::Io { path: path.display().to_string(), cause: error.to_string() }),
        }
    }
    drop(lock);
    std::fs::remove_dir_all(&engine_dir)
        .map_err(|error| TeardownError::Io { path: engine_dir.display().to_string(), cause: error.to_string() })?;
    removed.push(engine_dir.display().to_string());
    Ok(removed)
}

/// Deletes each named replicator that exists and waits until it is gone; returns those deleted.
/// Each must carry `plan`'s `migrate:plan` tag: the first that does not stops the teardown before
/// anything is deleted ([`ReplicatorError::NotOurs`]).
pub async fn delete_replicators(
    kafka: &aws_sdk_kafka::Client,
    plan: &str,
    names: &[&str],
    poll: Duration,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<Vec<String>, ReplicatorError> {
    let mut found = Vec::new();
    for name in names {
        if let Some(replicator) = msk::find(kafka, name).await? {
            let described = msk::describe_replicator(kafka, &replicator).await?;
            msk::check_owner(name, &described, plan)?;
            found.push((name, replicator));
        }
    }
    let mut deleted = Vec::new();
    for (name, replicator) in found {
        {
            if replicator.state != "DELETING" {
                msk::delete(kafka, &replicator, poll, timeout, progress).await?;
            } else {
                msk::wait_gone(kafka, name, poll, timeout, progress).await?;
            }
            deleted.push(format!("replicator {name} ({})", replicator.arn));
        }
    }
    Ok(deleted)
}

/// Writes the marker.
pub fn record(state_dir: &Path, record: &TeardownRecord) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    write_atomically(&marker(state_dir), &serde_json::to_vec_pretty(record).unwrap_or_default())
}
