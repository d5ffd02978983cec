//! Whether the reverse replicator (MSK → external) has seen every write on MSK to an app's topics.
//!
//! The reverse replicator starts at LATEST: whatever was written on MSK before it ran is never
//! copied back, and a later rollback's drain (which finds each partition's *last* record on the
//! source, by content) cannot notice the hole. So before an app moves onto MSK, `cutover` asks
//! whether any app of the plan producing to the same topics already ran on MSK before the current
//! reverse replicator was RUNNING, and refuses the move if so; and, once the gate is open, just
//! before the app is stopped, refuses an app that produces while the reverse replicator is not
//! RUNNING (its own first writes on MSK would be missed).
//!
//! The facts come from the state directory: `audit.jsonl` says when each app's steps on the
//! target ran, `control.json` where each app runs now, and `replicators.json` when `migrate`
//! (apply, status or cutover) first saw each replicator, by ARN, RUNNING. That first sighting is
//! never earlier than the moment it began to run, so the comparison errs on the side of refusing:
//! a recreated reverse replicator is a new ARN, first seen when it runs again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::{App, Plan, Side};
use crate::state::audit::AuditEntry;
use crate::state::{Control, read_json, write_atomically};

/// `replicators.json`: per replicator ARN, when `migrate` first saw it RUNNING.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningSeen {
    #[serde(default)]
    pub replicators: BTreeMap<String, FirstSeen>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstSeen {
    pub name: String,
    /// Milliseconds since the epoch.
    pub first_seen_running_ms: u64,
}

/// Records that the replicator `name` (`arn`) is RUNNING at `now_ms`, unless an earlier sighting
/// of the same ARN is recorded; returns the first sighting.
pub fn observe_running(path: &Path, name: &str, arn: &str, now_ms: u64) -> Result<u64, String> {
    let mut seen: RunningSeen = read_json(path)?.unwrap_or_default();
    if let Some(first) = seen.replicators.get(arn) {
        return Ok(first.first_seen_running_ms);
    }
    seen.replicators.insert(arn.to_string(), FirstSeen { name: name.to_string(), first_seen_running_ms: now_ms });
    let bytes = serde_json::to_vec_pretty(&seen).map_err(|e| e.to_string())?;
    write_atomically(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(now_ms)
}

/// [`observe_running`] for a replicator as `ListReplicators` shows it, in the state directory's
/// `replicators.json`; nothing when it does not run.
pub fn observe(state_dir: &Path, replicator: &super::Replicator) -> Result<(), String> {
    if replicator.state != "RUNNING" {
        return Ok(());
    }
    let path = crate::state::StateDir::new(state_dir).replicators();
    observe_running(&path, &replicator.name, &replicator.arn, crate::state::now_ms()).map(|_| ())
}

/// Why an app may not move onto MSK: another app (or itself) wrote on MSK to its topics before
/// the reverse replicator ran, so those records may be missing on the source.
#[derive(Debug, Clone, PartialEq)]
pub struct UncopiedWrites {
    /// The app asked to move.
    pub app: String,
    /// The app that ran on MSK too early, and the topics it shares with `app`.
    pub writer: String,
    pub topics: Vec<String>,
    /// When `writer` first ran on MSK, per the audit log; `None` when `control.json` places it
    /// there but the audit log has no move that took it there.
    pub on_target_since_ms: Option<u64>,
    pub reverse: Reverse,
}

/// The reverse replicator as a move onto MSK finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverse {
    pub name: String,
    /// Its state now (`RUNNING`, `CREATING`, …); `None` when it does not exist.
    pub state: Option<String>,
    /// From when it copies what is written on MSK: its first sighting RUNNING, or now when it
    /// does not run yet (it can only start later).
    pub running_since_ms: u64,
}

impl Reverse {
    fn running(&self) -> bool {
        self.state.as_deref() == Some("RUNNING")
    }

    /// Since when it runs, or what it is instead, in words.
    fn since(&self) -> String {
        match self.state.as_deref() {
            Some("RUNNING") => format!("first seen {}", timestamp(self.running_since_ms)),
            Some(state) => format!("it is {state} now"),
            None => "it does not exist now".into(),
        }
    }

    /// What it is now, in words.
    fn now(&self) -> String {
        match self.state.as_deref() {
            Some(state) => format!("is {state}, not RUNNING"),
            None => "does not exist".into(),
        }
    }
}

impl fmt::Display for UncopiedWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = match self.on_target_since_ms {
            Some(ms) => format!("ran on MSK from {}", timestamp(ms)),
            None => "runs on MSK (control.json) with no move there in audit.jsonl, since an unknown time".into(),
        };
        write!(
            f,
            "reverse-replication: app `{}` produced to {} and {since}, before the reverse replicator {} was RUNNING ({}); it starts at LATEST, so what `{}` wrote on MSK before then may be missing on the source and a rollback would not bring it back: not moving `{}`",
            self.writer,
            self.topics.join(", "),
            self.reverse.name,
            self.reverse.since(),
            self.writer,
            self.app
        )
    }
}

/// Why an app that produces may not move onto MSK now: the reverse replicator does not run, so
/// what the app writes there from its start would never reach the source.
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseNotRunning {
    pub app: String,
    pub topics: Vec<String>,
    pub reverse: Reverse,
}

impl fmt::Display for ReverseNotRunning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reverse-replication: app `{}` produces to {}, and the reverse replicator {} {}; it starts at LATEST, so what `{}` would write on MSK before it runs would never reach the source and a rollback would not bring it back: not moving `{}` (`migrate apply` waits until it runs)",
            self.app,
            self.topics.join(", "),
            self.reverse.name,
            self.reverse.now(),
            self.app,
            self.app
        )
    }
}

/// The reverse replicator `reverse` does not run while `app`, which produces, is about to move
/// onto MSK. An app that produces nothing writes nothing there to lose: it always passes.
pub fn reverse_not_running(app: &App, reverse: &Reverse) -> Option<ReverseNotRunning> {
    if reverse.running() || app.produces.is_empty() {
        return None;
    }
    Some(ReverseNotRunning { app: app.name.clone(), topics: app.produces.clone(), reverse: reverse.clone() })
}

fn timestamp(ms: u64) -> String {
    aws_smithy_types::DateTime::from_millis(ms as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| format!("{ms} ms since the epoch"))
}

/// The first app of the plan that produces to one of `app`'s topics and ran on the target before
/// the reverse replicator's `running_since_ms`, if any. An app that produces nothing writes nothing on MSK the
/// reverse replicator could miss: it always passes.
pub fn writes_before_reverse(
    plan: &Plan,
    app: &App,
    audit: &[AuditEntry],
    control: &Control,
    reverse: &Reverse,
) -> Option<UncopiedWrites> {
    let topics: BTreeSet<&str> = app.produces.iter().map(String::as_str).collect();
    if topics.is_empty() {
        return None;
    }
    // The earliest step each app ran on the target: it could not write there before (a move's
    // first target step is `switch`, logged when it ends, before the start hook begins).
    let mut first_on_target: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in audit.iter().filter(|e| e.side == Some(Side::Target)) {
        let first = first_on_target.entry(entry.app.as_str()).or_insert(entry.time_ms);
        *first = (*first).min(entry.time_ms);
    }
    for writer in &plan.apps {
        let shared: Vec<String> = writer.produces.iter().filter(|t| topics.contains(t.as_str())).cloned().collect();
        if shared.is_empty() {
            continue;
        }
        let since = match first_on_target.get(writer.name.as_str()) {
            Some(&since) if since < reverse.running_since_ms => Some(since),
            Some(_) => continue,
            None if control.side_of(&writer.name) == Side::Target => None,
            None => continue,
        };
        return Some(UncopiedWrites {
            app: app.name.clone(),
            writer: writer.name.clone(),
            topics: shared,
            on_target_since_ms: since,
            reverse: reverse.clone(),
        });
    }
    None
}
