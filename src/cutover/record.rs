//! A move's durable progress and the lock that serialises mutating commands (the audit log is
//! `crate::state::audit`).
//!
//! - `move.json`: the unfinished move (at most one): its steps, the next one, whether it is being
//!   reverted. Written atomically after every step, so Ctrl-C or a crash at any point leaves a
//!   record the same command resumes from.
//! - `moves.lock`: held (flock) by cutover, rollback and teardown; the engine neither takes nor
//!   waits for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Side;
pub use crate::state::audit::{AuditEntry, MoveCommand, current_user};
use crate::state::{FileLock, StateDir, now_ms, read_json, write_atomically};

/// What a step does; each acts on one cluster ([`Step::side`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// The readiness gate holds.
    Gate,
    /// The `stop` hook, for the side the app runs on.
    Stop,
    /// Proof that the app stopped on that side: its groups have no member, its topics stand still.
    Fence,
    /// That side's records of the app's topics and its groups' offsets are on the other side.
    Drain,
    /// `control.json` names the side, and the engine acknowledged it.
    Switch,
    /// The app's client configuration for the side is written.
    Configure,
    /// The `start` hook, for the side.
    Start,
    /// The app works on the side: its groups have members, or its topics advance.
    Verify,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Gate => "gate",
            StepKind::Stop => "stop",
            StepKind::Fence => "fence",
            StepKind::Drain => "drain",
            StepKind::Switch => "switch",
            StepKind::Configure => "configure",
            StepKind::Start => "start",
            StepKind::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    pub side: Side,
}

impl Step {
    pub fn describe(&self, app: &str) -> String {
        let side = self.side;
        let other = side.other();
        match self.kind {
            StepKind::Gate => "wait for the readiness gate to hold".to_string(),
            StepKind::Stop => format!("run {app}'s stop hook on the {side}"),
            StepKind::Fence => format!("prove {app} stopped on the {side}: groups Empty, produced topics not moving"),
            StepKind::Drain => {
                format!("wait until {app}'s topics and group offsets on the {side} are replicated to the {other}")
            }
            StepKind::Switch => format!("record {app} on the {side} in control.json; wait for the engine's ack"),
            StepKind::Configure => format!("write {app}'s client configuration for the {side} (mode 0600)"),
            StepKind::Start => format!("run {app}'s start hook on the {side}"),
            StepKind::Verify => format!("verify {app} works on the {side}: groups active or topics advancing"),
        }
    }
}

/// The steps of a move from `from` to the other side.
pub fn forward_steps(from: Side) -> Vec<Step> {
    let to = from.other();
    [
        (StepKind::Gate, from),
        (StepKind::Stop, from),
        (StepKind::Fence, from),
        (StepKind::Drain, from),
        (StepKind::Switch, to),
        (StepKind::Configure, to),
        (StepKind::Start, to),
        (StepKind::Verify, to),
    ]
    .into_iter()
    .map(|(kind, side)| Step { kind, side })
    .collect()
}

/// The steps that put the app back on `from` after a failure, given what was done.
pub fn revert_steps(from: Side, switched: bool) -> Vec<Step> {
    let to = from.other();
    let mut steps = Vec::new();
    if switched {
        // The app may have run on the new side: move it back the whole way (no gate).
        steps.extend([(StepKind::Stop, to), (StepKind::Fence, to), (StepKind::Drain, to)]);
    }
    // Also without a completed switch: a switch that failed waiting for the engine's ack has
    // already written the new side into control.json. Writing the old side again is harmless.
    steps.extend([
        (StepKind::Switch, from),
        (StepKind::Configure, from),
        (StepKind::Start, from),
        (StepKind::Verify, from),
    ]);
    steps.into_iter().map(|(kind, side)| Step { kind, side }).collect()
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    pub step: Step,
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// `done` or `failed: …`
    pub result: String,
}

/// The unfinished move (`move.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveRecord {
    pub app: String,
    pub command: MoveCommand,
    pub from: Side,
    pub to: Side,
    pub started_at_ms: u64,
    /// When the first stop began: downtime counts from here.
    pub stop_started_at_ms: Option<u64>,
    pub steps: Vec<Step>,
    /// Index of the next step to run.
    pub next: usize,
    /// The steps are now the revert's.
    pub reverting: bool,
    /// Why the move is reverting or stopped.
    pub failure: Option<String>,
    pub log: Vec<StepLog>,
    /// MSK backend: per group, the records it may read again on the new side (MSK Replicator's
    /// translated offsets behind the exact position), as the last drain measured them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub duplicates_estimate: BTreeMap<String, i64>,
    /// The last run was interrupted (SIGINT/SIGTERM) at `steps[next]`: what was cut short, e.g.
    /// a hook killed before it finished, whose outcome is therefore unknown. Cleared once the
    /// step completes on a later run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

impl MoveRecord {
    pub fn new(app: &str, command: MoveCommand, from: Side) -> Self {
        Self {
            app: app.into(),
            command,
            from,
            to: from.other(),
            started_at_ms: now_ms(),
            stop_started_at_ms: None,
            steps: forward_steps(from),
            next: 0,
            reverting: false,
            failure: None,
            duplicates_estimate: BTreeMap::new(),
            log: Vec::new(),
            interrupted: None,
        }
    }

    /// Whether the move has changed nothing yet: it never stopped the app (only the gate, which
    /// only reads, may have run).
    pub fn changed_nothing(&self) -> bool {
        self.stop_started_at_ms.is_none() && !self.reverting
    }

    /// Whether this record is one a move could have written: acting on anything else (a step
    /// index past the end, steps that are no move's) would panic or claim a move that never ran.
    pub fn check(&self) -> Result<(), String> {
        if self.to != self.from.other() {
            return Err(format!("it moves `{}` from the {} to the {}", self.app, self.from, self.to));
        }
        if self.command.destination() != self.to {
            return Err(format!("a {} does not move an app to the {}", self.command.as_str(), self.to));
        }
        // `stop` records its start before it runs, and only a step after it can fail into a
        // revert: past the gate, or reverting, a move has stopped its app.
        if self.stop_started_at_ms.is_none() && (self.reverting || self.next > 1) {
            return Err("it records steps past the gate but no stop".into());
        }
        if self.next > self.steps.len() {
            return Err(format!("its next step is number {} of {} steps", self.next, self.steps.len()));
        }
        let possible = if self.reverting {
            vec![revert_steps(self.from, true), revert_steps(self.from, false)]
        } else {
            vec![forward_steps(self.from)]
        };
        if !possible.contains(&self.steps) {
            let kind = if self.reverting { "a revert's" } else { "a move's" };
            return Err(format!("its steps are not {kind} steps from the {}", self.from));
        }
        Ok(())
    }

    /// Whether `control.json` was switched to the new side (and not back).
    pub fn switched(&self) -> bool {
        !self.reverting && self.steps[..self.next].iter().any(|s| s.kind == StepKind::Switch)
    }

    /// Turns the rest of the move into its revert.
    pub fn start_reverting(&mut self, reason: String) {
        let switched = self.switched();
        self.steps = revert_steps(self.from, switched);
        self.next = 0;
        self.reverting = true;
        self.failure = Some(reason);
    }
}

/// A move's files under the state directory.
#[derive(Debug, Clone)]
pub struct MoveFiles {
    pub dir: StateDir,
}

impl MoveFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { dir: StateDir::new(root) }
    }

    pub fn record(&self) -> PathBuf {
        self.dir.move_record()
    }

    pub fn lock(&self) -> PathBuf {
        self.dir.moves_lock()
    }

    /// The unfinished move, checked ([`MoveRecord::check`]) before anyone acts on it.
    pub fn load(&self) -> Result<Option<MoveRecord>, String> {
        let record: Option<MoveRecord> = read_json(&self.record())?;
        if let Some(record) = &record
            && let Err(why) = record.check()
        {
            return Err(format!(
                "{} is not a move migrate could have written ({why}); nothing was done. Find where `{}` runs (audit.jsonl logs every step), put it right, then remove the file",
                self.record().display(),
                record.app
            ));
        }
        Ok(record)
    }

    pub fn save(&self, record: &MoveRecord) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
        write_atomically(&self.record(), &bytes).map_err(|e| format!("cannot write {}: {e}", self.record().display()))
    }

    pub fn finish(&self) -> Result<(), String> {
        match std::fs::remove_file(self.record()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(format!("cannot remove {}: {error}", self.record().display())),
        }
    }
}

/// Held while a mutating command (cutover, rollback, teardown) runs.
pub struct MoveLock;

impl MoveLock {
    pub fn acquire(path: &Path) -> Result<FileLock, String> {
        FileLock::acquire(path, "another cutover, rollback or teardown is running for this plan")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revert_after_the_switch_moves_the_app_back_the_whole_way() {
        let mut record = MoveRecord::new("orders", MoveCommand::Cutover, Side::Source);
        record.next = 5; // gate, stop, fence, drain, switch done
        assert!(record.switched());
        record.start_reverting("start hook failed".into());
        let kinds: Vec<_> = record.steps.iter().map(|s| format!("{}:{}", s.kind.as_str(), s.side)).collect();
        assert_eq!(
            kinds,
            [
                "stop:target",
                "fence:target",
                "drain:target",
                "switch:source",
                "configure:source",
                "start:source",
                "verify:source"
            ]
        );
    }

    #[test]
    fn a_revert_before_the_switch_only_restarts_the_app_where_it_was() {
        let mut record = MoveRecord::new("orders", MoveCommand::Rollback, Side::Target);
        record.next = 3; // gate, stop, fence done; drain failed
        record.start_reverting("drain timed out".into());
        let kinds: Vec<_> = record.steps.iter().map(|s| format!("{}:{}", s.kind.as_str(), s.side)).collect();
        assert_eq!(kinds, ["switch:target", "configure:target", "start:target", "verify:target"]);
    }

    /// Regression: `"next": 99` with 8 steps made `cutover --dry-run` and `rollback` panic, and
    /// a finished-looking record made `rollback` claim a move that never ran.
    #[test]
    fn panic_on_inconsistent_move_json_is_a_named_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let files = MoveFiles::new(dir.path());
        let mut record = MoveRecord::new("orders", MoveCommand::Cutover, Side::Source);
        files.save(&record).unwrap();
        assert_eq!(files.load().unwrap(), Some(record.clone()));
        record.stop_started_at_ms = Some(1);
        record.next = 99;
        files.save(&record).unwrap();
        let error = files.load().unwrap_err();
        assert!(error.contains("next step is number 99 of 8 steps"), "{error}");
        record.next = 1;
        record.steps.truncate(3);
        files.save(&record).unwrap();
        assert!(files.load().unwrap_err().contains("not a move's steps"));
        let mut record = MoveRecord::new("orders", MoveCommand::Cutover, Side::Source);
        record.to = Side::Source;
        files.save(&record).unwrap();
        assert!(files.load().unwrap_err().contains("from the source to the source"));
        let mut record = MoveRecord::new("orders", MoveCommand::Cutover, Side::Source);
        record.next = 4;
        files.save(&record).unwrap();
        assert!(files.load().unwrap_err().contains("past the gate but no stop"));
    }

    #[test]
    fn a_second_move_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = MoveFiles::new(dir.path());
        let first = MoveLock::acquire(&files.lock()).unwrap();
        assert!(MoveLock::acquire(&files.lock()).err().unwrap().contains("another cutover, rollback or teardown"));
        drop(first);
        assert!(MoveLock::acquire(&files.lock()).is_ok());
    }
}
