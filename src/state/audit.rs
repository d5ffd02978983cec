//! `audit.jsonl`: one JSON line per step and per finished move, appended and synced, never
//! rewritten. Cutover and rollback write it; the MSK backend reads it (when an app first wrote on
//! MSK); operators read it to see who moved what, when.

use std::fs::File;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::plan::Side;

/// Which way an app moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveCommand {
    /// To the target.
    Cutover,
    /// Back to the source.
    Rollback,
}

impl MoveCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveCommand::Cutover => "cutover",
            MoveCommand::Rollback => "rollback",
        }
    }

    /// Where the app goes.
    pub fn destination(self) -> Side {
        match self {
            MoveCommand::Cutover => Side::Target,
            MoveCommand::Rollback => Side::Source,
        }
    }
}

/// One line of `audit.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time_ms: u64,
    pub user: String,
    pub command: MoveCommand,
    pub app: String,
    pub from: Side,
    pub to: Side,
    /// The step, or `move` for the move's outcome.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u64>,
}

/// Who runs the command, for the audit log.
pub fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// Every entry of the audit log, oldest first (none when there is no log yet). A line that is
/// not an entry is an error naming the line: the log is evidence, not a hint.
pub fn read(dir: &StateDir) -> Result<Vec<AuditEntry>, String> {
    let path = dir.audit_log();
    let text = match crate::files::read_text_bounded(&path, crate::files::MAX_STATE_BYTES, "the audit log") {
        Ok(text) => text,
        Err(error) if error.is_not_found() => return Ok(Vec::new()),
        Err(error) => return Err(error.to_string()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map_err(|error| format!("{} line {} is not an audit entry: {error}", path.display(), index + 1))
        })
        .collect()
}

/// Appends one line to the audit log (synced: the log is evidence).
pub fn append(dir: &StateDir, entry: &AuditEntry) -> Result<(), String> {
    let path = dir.audit_log();
    std::fs::create_dir_all(&dir.root).map_err(|e| format!("cannot create {}: {e}", dir.root.display()))?;
    let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let mut file =
        crate::files::open_regular(&path, File::options().create(true).append(true)).map_err(|e| e.to_string())?;
    file.write_all(&line)
        .and_then(|_| file.sync_data())
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}
