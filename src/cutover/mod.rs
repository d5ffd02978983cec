//! Moving one app between the clusters: `cutover` (to the target) and `rollback` (to the source),
//! as a resumable state machine.
//!
//! A move runs [`record::forward_steps`]: gate → stop → fence → drain → switch → configure →
//! start → verify. Each step's completion is written to `move.json` before the next begins, so a
//! move interrupted anywhere (Ctrl-C, a crash, a lost terminal) is finished by running the same
//! command again, or undone by running the opposite one. A failure after `stop` turns the rest of
//! the move into its revert ([`record::revert_steps`]): the app goes back where it was, by the same
//! proven steps when it may already have run on the new side. Only a failing revert leaves the
//! app for a human, with the record saying where it stands.
//!
//! The core prints nothing: progress goes to a [`MoveReporter`]; the readiness gate and the
//! backend's acknowledgement come from a [`ReadinessSource`] (`crate::engine::readiness`: the
//! embedded engine's `/status`; `crate::msk::readiness`: CloudWatch and the replicators).

pub mod hooks;
pub mod record;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::hooks::{HookEnvironment, client_properties, kill_orphaned_hook, run_hook, write_private};
use self::record::{AuditEntry, MoveCommand, MoveFiles, MoveLock, MoveRecord, Step, StepKind, StepLog, current_user};
use crate::gate::{GateStage, ReadinessSource};
use crate::kafka::ErrorClass;
use crate::offsets::{
    ClusterClients, GroupState, Matching, OffsetsError, PlannedGroup, Resumption, Translation, planned_groups,
    resumption, translate, unreplicated,
};
use crate::plan::{App, Cluster, Plan, Side};
use crate::state::now_ms;
use crate::state::{Control, StateDir};

/// Bounds and switches of a move.
#[derive(Debug, Clone)]
pub struct MoveOptions {
    /// How long to wait for the readiness gate before refusing.
    pub wait: Duration,
    /// How long the app's topics must stand still on the old side to prove it stopped.
    pub fence_window: Duration,
    /// How long the app may take to leave its groups on the old side.
    pub fence_timeout: Duration,
    pub drain_timeout: Duration,
    /// How long the app may take to work on the new side.
    pub verify_timeout: Duration,
    pub hook_timeout: Duration,
    /// Put the app back where it was when a step after `stop` fails.
    pub auto_revert: bool,
    /// Move onto the target although [`ReadinessSource::refuses_move_to_target`] refuses (the
    /// operator checked that the records it names are on the source, or accepts their loss).
    pub accept_uncopied_writes: bool,
}

impl Default for MoveOptions {
    fn default() -> Self {
        Self {
            wait: Duration::ZERO,
            fence_window: Duration::from_secs(3),
            fence_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(120),
            verify_timeout: Duration::from_secs(60),
            hook_timeout: Duration::from_secs(120),
            auto_revert: true,
            accept_uncopied_writes: false,
        }
    }
}

/// What a move reports while it runs.
#[derive(Debug, Clone)]
pub enum MoveEvent {
    StepStarted(Step),
    StepDone {
        step: Step,
        duration: Duration,
    },
    StepFailed {
        step: Step,
        message: String,
    },
    /// Still waiting for something (at most every few seconds).
    Waiting(String),
    /// Something the operator should know or do.
    Note(String),
}

pub trait MoveReporter {
    fn event(&self, app: &str, event: MoveEvent);
}

/// A finished (or stopped) move, as printed and returned as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct MoveOutcome {
    pub app: String,
    pub command: MoveCommand,
    pub from: Side,
    pub to: Side,
    /// `moved`, `already-there`, `reverted`, `revert-failed`, `stopped` (failed with auto-revert off).
    pub result: String,
    /// From the first stop to the app verified on its new side.
    pub downtime_ms: Option<u64>,
    pub failure: Option<String>,
    pub steps: Vec<StepLog>,
    /// MSK backend: per group, the records it may read again on the new side (at-least-once).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub duplicates_estimate: BTreeMap<String, i64>,
}

#[derive(Debug)]
pub enum MoveError {
    /// The plan has no such app, or the like (exit 2).
    Invalid(String),
    /// The gate did not hold within `--wait` (exit 4): [`Gate::summary`], what does not hold yet.
    GateClosed(String),
    /// A move onto the target refused because writes on MSK may not reach the source (exit 4; not
    /// waited out with `--wait`): the reverse replicator is not RUNNING, or was not when the app
    /// last wrote there.
    ReverseReplication(String),
    /// Another mutating command holds the lock (exit 1).
    Busy(String),
    /// Another app's move is unfinished (exit 1).
    Unfinished(String),
    /// A step failed after `stop` (exit 5); the outcome says where the app is.
    Failed(Box<MoveOutcome>),
    /// Reading or writing the state failed (exit 1).
    State(String),
    /// SIGINT/SIGTERM stopped the move (exit 130); `move.json` says where, when it was kept.
    Interrupted(String),
}

/// Runs (or resumes, or undoes) the move of `app_name`.
pub fn execute(
    plan: &Plan,
    state_dir: &Path,
    app_name: &str,
    command: MoveCommand,
    options: &MoveOptions,
    readiness: &dyn ReadinessSource,
    reporter: &dyn MoveReporter,
) -> Result<MoveOutcome, MoveError> {
    let files = MoveFiles::new(state_dir);
    let _lock = MoveLock::acquire(&files.lock()).map_err(MoveError::Busy)?;
    // Before anything else: a hook left running by a killed move must not stop or start the
    // app behind this one's back.
    if let Some(found) = kill_orphaned_hook(&files.dir.running_hook()) {
        reporter.event(app_name, MoveEvent::Note(found));
    }
    let control_path = StateDir::new(state_dir).control();
    let mut record = match start(plan, &files, &control_path, app_name, command, reporter)? {
        Start::Run(record) => record,
        Start::AlreadyThere(outcome) => return Ok(outcome),
    };
    // Found by `start` already, after an orphaned move was refused.
    let app = find_app(plan, app_name)?;
    files.save(&record).map_err(MoveError::State)?;

    let mut mover = Mover {
        plan,
        app,
        files: &files,
        control_path: &control_path,
        options,
        readiness,
        reporter,
        clients: None,
        refused_for_reverse_replication: false,
    };
    if let Some(cut_short) = record.interrupted.take() {
        reporter.event(&app.name, MoveEvent::Note(format!("the last run was interrupted: {cut_short}")));
    }
    mover.run_steps(&mut record)?;
    mover.finish(&record)
}

/// Where [`execute`] starts.
enum Start {
    /// The unfinished move (resumed, or reverted when the opposite command asks), or a new one.
    Run(MoveRecord),
    /// The app already runs where the command would move it.
    AlreadyThere(MoveOutcome),
}

/// The move to run for `app_name`: an unfinished move of another app refuses; one that never
/// stopped its app is forgotten.
fn start(
    plan: &Plan,
    files: &MoveFiles,
    control_path: &Path,
    app_name: &str,
    command: MoveCommand,
    reporter: &dyn MoveReporter,
) -> Result<Start, MoveError> {
    let mut unfinished = files.load().map_err(MoveError::State)?;
    if let Some(record) = unfinished.as_ref().filter(|record| record.changed_nothing()) {
        // A move that never stopped its app (killed while waiting for the gate, say) changed
        // nothing: it blocks no one and there is nothing to put back. Start afresh.
        reporter.event(
            &record.app,
            MoveEvent::Note(format!(
                "forgetting the {} that never stopped the app: it changed nothing",
                record.command.as_str()
            )),
        );
        files.finish().map_err(MoveError::State)?;
        unfinished = None;
    }
    if let Some(record) = &unfinished {
        orphan_check(plan, files, record)?;
    }
    let app = find_app(plan, app_name)?;
    Ok(Start::Run(match unfinished {
        Some(unfinished) if unfinished.app != app.name => {
            let opposite = opposite(unfinished.command);
            return Err(MoveError::Unfinished(format!(
                "the {} of `{}` is unfinished: run `migrate {} {}` to finish it or `migrate {} {}` to undo it first",
                unfinished.command.as_str(),
                unfinished.app,
                unfinished.command.as_str(),
                unfinished.app,
                opposite.as_str(),
                unfinished.app
            )));
        }
        Some(mut unfinished) => {
            if unfinished.command != command && !unfinished.reverting {
                reporter.event(
                    &app.name,
                    MoveEvent::Note(format!("undoing the unfinished {}", unfinished.command.as_str())),
                );
                unfinished.start_reverting(format!("undone by `migrate {} {}`", command.as_str(), app.name));
            } else {
                reporter.event(
                    &app.name,
                    MoveEvent::Note(format!("resuming the unfinished {}", unfinished.command.as_str())),
                );
            }
            unfinished
        }
        None => {
            let control = Control::load(control_path).map_err(MoveError::State)?;
            let current = control.side_of(&app.name);
            if current == command.destination() {
                return Ok(Start::AlreadyThere(MoveOutcome {
                    app: app.name.clone(),
                    command,
                    from: current,
                    to: current,
                    result: "already-there".into(),
                    downtime_ms: None,
                    failure: None,
                    steps: Vec::new(),
                    duplicates_estimate: BTreeMap::new(),
                }));
            }
            MoveRecord::new(&app.name, command, current)
        }
    }))
}

impl Mover<'_> {
    /// Runs the record's steps from the next one, saving after each; a failure after `stop`
    /// turns the rest into the revert (unless `--no-auto-revert`).
    fn run_steps(&mut self, record: &mut MoveRecord) -> Result<(), MoveError> {
        while record.next < record.steps.len() {
            let step = record.steps[record.next];
            if crate::interrupt::is_interrupted() {
                return Err(self.interrupted(record, false));
            }
            self.reporter.event(&self.app.name, MoveEvent::StepStarted(step));
            if step.kind == StepKind::Stop && record.stop_started_at_ms.is_none() {
                record.stop_started_at_ms = Some(now_ms());
                self.files.save(record).map_err(MoveError::State)?;
            }
            let started_at_ms = now_ms();
            let started = Instant::now();
            let result = self.run(step, record);
            let duration = started.elapsed();
            if result.is_err() && crate::interrupt::is_interrupted() {
                // Not a failure of the step: nothing to revert, the same command resumes it.
                return Err(self.interrupted(record, true));
            }
            let entry = StepLog {
                step,
                started_at_ms,
                duration_ms: duration.as_millis() as u64,
                result: match &result {
                    Ok(()) => "done".into(),
                    Err(message) => format!("failed: {message}"),
                },
            };
            record.log.push(entry.clone());
            self.audit(record, step.kind.as_str(), Some(step.side), &entry.result, None);
            match result {
                Ok(()) => {
                    self.reporter.event(&self.app.name, MoveEvent::StepDone { step, duration });
                    record.next += 1;
                    self.files.save(record).map_err(MoveError::State)?;
                }
                Err(message) => {
                    self.reporter.event(&self.app.name, MoveEvent::StepFailed { step, message: message.clone() });
                    if step.kind == StepKind::Gate {
                        self.files.finish().map_err(MoveError::State)?;
                        self.audit(record, "move", None, "gate-closed", None);
                        return Err(if self.refused_for_reverse_replication {
                            MoveError::ReverseReplication(message)
                        } else {
                            MoveError::GateClosed(message)
                        });
                    }
                    if record.reverting || !self.options.auto_revert {
                        record.failure = Some(match &record.failure {
                            Some(first) if record.reverting => format!("{first}; then the revert failed: {message}"),
                            _ => message,
                        });
                        self.files.save(record).map_err(MoveError::State)?;
                        let result = if record.reverting { "revert-failed" } else { "stopped" };
                        self.audit(record, "move", None, result, None);
                        return Err(MoveError::Failed(Box::new(outcome(record, result, None))));
                    }
                    self.reporter.event(
                        &self.app.name,
                        MoveEvent::Note(format!("putting {} back on the {}", self.app.name, record.from)),
                    );
                    record.start_reverting(message);
                    self.files.save(record).map_err(MoveError::State)?;
                }
            }
        }
        Ok(())
    }

    /// The move is over: its record goes, the client file of the side left behind too, and the
    /// audit log says how it ended.
    fn finish(&self, record: &MoveRecord) -> Result<MoveOutcome, MoveError> {
        let downtime = record.stop_started_at_ms.map(|stop| now_ms().saturating_sub(stop));
        self.files.finish().map_err(MoveError::State)?;
        // The side the app no longer runs on needs no client configuration any more.
        let (here, away) = if record.reverting { (record.from, record.to) } else { (record.to, record.from) };
        let _ = std::fs::remove_file(self.files.dir.client_config(&self.app.name, away));
        debug_assert_eq!(here, away.other());
        if record.reverting {
            self.audit(record, "move", None, "reverted", downtime);
            Err(MoveError::Failed(Box::new(outcome(record, "reverted", downtime))))
        } else {
            self.audit(record, "move", None, "moved", downtime);
            Ok(outcome(record, "moved", downtime))
        }
    }
}

/// The steps a move of `app_name` would run now, without running anything.
pub fn dry_run(
    plan: &Plan,
    state_dir: &Path,
    app_name: &str,
    command: MoveCommand,
) -> Result<Vec<(Step, String)>, MoveError> {
    let app = find_app(plan, app_name)?;
    let files = MoveFiles::new(state_dir);
    let steps = match files.load().map_err(MoveError::State)? {
        Some(record) if record.app == app.name => record.steps.get(record.next..).unwrap_or_default().to_vec(),
        _ => {
            let control = Control::load(&StateDir::new(state_dir).control()).map_err(MoveError::State)?;
            let current = control.side_of(&app.name);
            if current == command.destination() { Vec::new() } else { record::forward_steps(current) }
        }
    };
    Ok(steps.into_iter().map(|step| (step, step.describe(&app.name))).collect())
}

/// An unfinished move of an app the plan no longer has can be neither finished nor undone (both
/// need the app's hooks and topics): say so, and how to get out.
fn orphan_check(plan: &Plan, files: &MoveFiles, record: &MoveRecord) -> Result<(), MoveError> {
    if plan.apps.iter().any(|a| a.name == record.app) {
        return Ok(());
    }
    Err(MoveError::Unfinished(format!(
        "{} holds the unfinished {} of `{}`, which the plan no longer has: put `{}` back in the plan, then `migrate {} {}` finishes the move or `migrate {} {}` undoes it; or, once you have made sure where it runs, remove {}",
        files.record().display(),
        record.command.as_str(),
        record.app,
        record.app,
        record.command.as_str(),
        record.app,
        opposite(record.command).as_str(),
        record.app,
        files.record().display()
    )))
}

fn find_app<'a>(plan: &'a Plan, name: &str) -> Result<&'a App, MoveError> {
    plan.apps.iter().find(|a| a.name == name).ok_or_else(|| {
        let names: Vec<_> = plan.apps.iter().map(|a| a.name.as_str()).collect();
        MoveError::Invalid(format!("the plan has no app `{name}`; its apps: {}", names.join(", ")))
    })
}

fn opposite(command: MoveCommand) -> MoveCommand {
    match command {
        MoveCommand::Cutover => MoveCommand::Rollback,
        MoveCommand::Rollback => MoveCommand::Cutover,
    }
}

fn outcome(record: &MoveRecord, result: &str, downtime_ms: Option<u64>) -> MoveOutcome {
    MoveOutcome {
        app: record.app.clone(),
        command: record.command,
        from: record.from,
        to: record.to,
        result: result.into(),
        downtime_ms,
        failure: record.failure.clone(),
        steps: record.log.clone(),
        duplicates_estimate: record.duplicates_estimate.clone(),
    }
}

/// What the steps need.
struct Mover<'a> {
    plan: &'a Plan,
    app: &'a App,
    files: &'a MoveFiles,
    control_path: &'a Path,
    options: &'a MoveOptions,
    readiness: &'a dyn ReadinessSource,
    reporter: &'a dyn MoveReporter,
    clients: Option<(ClusterClients, ClusterClients)>,
    /// The gate step failed on `reverse-replication` (see [`MoveError::ReverseReplication`]).
    refused_for_reverse_replication: bool,
}

/// Offsets by (group, topic, partition).
type Positions = BTreeMap<(String, String, i32), i64>;

/// How soon a waiting step looks again, doubling up to [`POLL`]: most waits of a move end within
/// a second, while its app is down, so a fixed half second would add a quarter second to each.
const FIRST_POLL: Duration = Duration::from_millis(50);
/// How often a waiting step looks again at most, and how often it says what it waits for.
const POLL: Duration = Duration::from_millis(500);
const SAY_EVERY: Duration = Duration::from_secs(5);
/// Bound on reading the target's ACLs for the `app-permissions` condition.
const APP_PERMISSIONS_TIMEOUT: Duration = Duration::from_secs(10);
/// What a wait cut short by SIGINT/SIGTERM reports.
const INTERRUPTED: &str = "interrupted";

impl Mover<'_> {
    fn run(&mut self, step: Step, record: &mut MoveRecord) -> Result<(), String> {
        match step.kind {
            StepKind::Gate => self.gate(step.side),
            StepKind::Stop => self.hook(self.app.stop.clone(), "stop", step.side),
            StepKind::Fence => self.fence(step.side),
            StepKind::Drain if self.plan.msk().is_some() => {
                record.duplicates_estimate = self.drain_translated(step.side)?;
                Ok(())
            }
            StepKind::Drain => self.drain(step.side),
            StepKind::Switch => self.switch(step.side),
            StepKind::Configure => self.configure(step.side).map(|_| ()),
            StepKind::Start => self.hook(self.app.start.clone(), "start", step.side),
            StepKind::Verify => self.verify(step.side),
        }
    }

    /// Stops the move on SIGINT/SIGTERM. Cut short while waiting for the gate, before anything
    /// changed, the move is forgotten (nothing blocks other apps); later, `move.json` keeps it
    /// with what was cut short, for the same command to resume or the opposite one to undo.
    fn interrupted(&self, record: &mut MoveRecord, cut_short: bool) -> MoveError {
        let step = record.steps.get(record.next).copied();
        let nothing_done = !record.reverting && record.next == 0 && record.stop_started_at_ms.is_none();
        if nothing_done {
            if let Err(error) = self.files.finish() {
                return MoveError::State(error);
            }
            self.audit(record, "move", None, "interrupted", None);
            return MoveError::Interrupted(format!(
                "interrupted before {} was touched: nothing to resume",
                self.app.name
            ));
        }
        let what = match (step, cut_short) {
            (Some(step), true) if matches!(step.kind, StepKind::Stop | StepKind::Start) => format!(
                "the {} hook on the {} was killed before it finished: its outcome is unknown",
                step.kind.as_str(),
                step.side
            ),
            (Some(step), true) => format!("the {} step on the {} was cut short", step.kind.as_str(), step.side),
            (Some(step), false) => format!("stopped before the {} step on the {}", step.kind.as_str(), step.side),
            (None, _) => "stopped after the last step".to_string(),
        };
        // The audit log, not the move's step log, keeps the cut-short attempt: the step log lists
        // each step once, as it completed, across runs.
        if let (Some(step), true) = (step, cut_short) {
            self.audit(record, step.kind.as_str(), Some(step.side), &format!("interrupted: {what}"), None);
        }
        record.interrupted = Some(what.clone());
        if let Err(error) = self.files.save(record) {
            return MoveError::State(error);
        }
        self.audit(record, "move", None, "interrupted", None);
        let (command, app) = (record.command.as_str(), &self.app.name);
        MoveError::Interrupted(if record.reverting {
            format!("{what}; `migrate {command} {app}` resumes putting {app} back on the {}", record.from)
        } else {
            let undo = opposite(record.command).as_str();
            format!("{what}; `migrate {command} {app}` resumes the move, `migrate {undo} {app}` undoes it")
        })
    }

    fn audit(&self, record: &MoveRecord, step: &str, side: Option<Side>, result: &str, downtime_ms: Option<u64>) {
        let entry = AuditEntry {
            time_ms: now_ms(),
            user: current_user(),
            command: record.command,
            app: record.app.clone(),
            from: record.from,
            to: record.to,
            step: step.into(),
            side,
            result: result.into(),
            downtime_ms,
        };
        if let Err(error) = crate::state::audit::append(&self.files.dir, &entry) {
            self.reporter.event(&self.app.name, MoveEvent::Note(format!("cannot write the audit log: {error}")));
        }
    }

    /// Waits until `check` passes or `timeout` ends; `check` returns what it still waits for. A
    /// check that fails retriably (a broker restarting, a request timing out) is tried again until
    /// the timeout, its error then the reason: a cluster away for seconds in the middle of a move
    /// delays the step instead of failing it. A fatal failure (a refused ACL or credential) fails
    /// the step at once: waiting cannot mend it, and the app may be stopped meanwhile.
    fn wait_until(
        &mut self,
        timeout: Duration,
        mut check: impl FnMut(&mut Self) -> Result<Option<String>, CheckError>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last_said = Instant::now();
        let mut poll = FIRST_POLL;
        loop {
            let (waiting, failing) = match check(self) {
                Ok(None) => return Ok(()),
                Ok(Some(waiting)) => (waiting, false),
                Err(CheckError { message, class: ErrorClass::Fatal }) => {
                    return Err(format!("{message} (not tried again: waiting cannot mend this)"));
                }
                Err(CheckError { message, class: ErrorClass::Retriable }) => (message, true),
            };
            if Instant::now() >= deadline {
                let how = if failing { "still failing" } else { "still waiting" };
                return Err(format!("{how} after {} s: {waiting}", timeout.as_secs()));
            }
            let waiting = if failing { format!("{waiting} (trying again)") } else { waiting };
            if last_said.elapsed() >= SAY_EVERY {
                self.reporter.event(&self.app.name, MoveEvent::Waiting(waiting));
                last_said = Instant::now();
            }
            if !crate::interrupt::sleep(poll) {
                return Err(INTERRUPTED.into());
            }
            poll = (poll * 2).min(POLL);
        }
    }

    /// `attempt`'s value, tried again as [`Self::wait_until`] does until `timeout`.
    fn retrying<T>(
        &mut self,
        timeout: Duration,
        mut attempt: impl FnMut(&mut Self) -> Result<T, CheckError>,
    ) -> Result<T, String> {
        let mut value = None;
        self.wait_until(timeout, |mover| {
            value = Some(attempt(mover)?);
            Ok(None)
        })?;
        value.ok_or_else(|| "no value after the wait".to_string())
    }

    /// `reverse-replication` at `stage` of the gate, for a move onto the target.
    fn refused_onto_target(&mut self, from: Side, stage: GateStage) -> Result<(), String> {
        if from.other() != Side::Target {
            return Ok(());
        }
        let refusal = match self.readiness.refuses_move_to_target(self.app, stage) {
            Ok(Some(reason)) if self.options.accept_uncopied_writes => {
                self.reporter.event(
                    &self.app.name,
                    MoveEvent::Note(format!("--accept-uncopied-writes: moving anyway; {reason}")),
                );
                return Ok(());
            }
            Ok(Some(reason)) => reason,
            Ok(None) => return Ok(()),
            Err(cause) => format!(
                "reverse-replication: cannot tell whether the reverse replicator saw every write on MSK: {cause}"
            ),
        };
        self.refused_for_reverse_replication = true;
        Err(refusal)
    }

    fn gate(&mut self, from: Side) -> Result<(), String> {
        // `reverse-replication`: checked first, it needs neither cluster; again once the gate is
        // open, the last look before the app is stopped.
        self.refused_onto_target(from, GateStage::Before)?;
        // `app-permissions`: a move onto the target that its identity there is known to lack a
        // permission for would fail at `start` and revert; refuse it before touching the app.
        if from.other() == Side::Target {
            match crate::permissions::missing_app_permissions(
                self.plan,
                self.app,
                Side::Target,
                APP_PERMISSIONS_TIMEOUT,
            ) {
                Ok(found) if !found.missing.is_empty() => {
                    return Err(found
                        .missing
                        .iter()
                        .map(|line| format!("app-permissions: app `{}`: {line}", self.app.name))
                        .collect::<Vec<_>>()
                        .join("\n"));
                }
                Ok(found) => {
                    for line in found.open_only {
                        self.reporter.event(&self.app.name, MoveEvent::Note(format!("app-permissions: {line}")));
                    }
                }
                Err(cause) => self.reporter.event(
                    &self.app.name,
                    MoveEvent::Note(format!("app-permissions: cannot read the target's ACLs ({cause}); not checked")),
                ),
            }
        }
        let deadline = Instant::now() + self.options.wait;
        let mut last_said = Instant::now();
        loop {
            let waiting_on = match self.readiness.gate() {
                Ok(gate) if gate.open => return self.refused_onto_target(from, GateStage::Open),
                Ok(gate) => gate.summary(),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(waiting_on);
            }
            if last_said.elapsed() >= SAY_EVERY {
                self.reporter.event(&self.app.name, MoveEvent::Waiting(format!("the gate: {waiting_on}")));
                last_said = Instant::now();
            }
            if !crate::interrupt::sleep(Duration::from_secs(1)) {
                return Err(INTERRUPTED.into());
            }
        }
    }

    /// Writes the app's client configuration for `side`; returns the hook environment.
    fn configure(&self, side: Side) -> Result<HookEnvironment, String> {
        let properties = client_properties(self.plan, self.app, side)?;
        let client_config = match properties {
            Some(text) => {
                let path = self.files.dir.client_config(&self.app.name, side);
                write_private(&path, &text)?;
                Some(path)
            }
            None => None,
        };
        Ok(HookEnvironment {
            app: self.app.name.clone(),
            side,
            bootstrap: self.plan.cluster(side).bootstrap_servers.join(","),
            client_config,
        })
    }

    fn hook(&self, hook: Option<String>, name: &str, side: Side) -> Result<(), String> {
        let environment = self.configure(side)?;
        match hook {
            Some(hook) => {
                let directory = self.plan.file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                run_hook(&hook, directory, &environment, self.options.hook_timeout, &self.files.dir.running_hook())
                    .map_err(|e| format!("{name} hook: {e}"))
            }
            None => {
                let next = if name == "stop" { "the fence waits for it" } else { "verify waits for it" };
                let config = environment.client_config.map(|p| format!(" with {}", p.display())).unwrap_or_default();
                self.reporter.event(
                    &self.app.name,
                    MoveEvent::Note(format!(
                        "no {name} hook in the plan: {name} {} on the {side}{config} now; {next}",
                        self.app.name
                    )),
                );
                Ok(())
            }
        }
    }

    fn clients(&mut self) -> Result<&mut (ClusterClients, ClusterClients), String> {
        if self.clients.is_none() {
            let ids = self.readiness.cluster_ids()?;
            let id = |side: Side| ids.get(&side).cloned().ok_or_else(|| format!("the {side}'s cluster ID is unknown"));
            self.clients = Some((
                ClusterClients::new(&self.plan.source, &id(Side::Source)?)?,
                ClusterClients::new(&self.plan.target, &id(Side::Target)?)?,
            ));
        }
        self.clients.as_mut().ok_or_else(|| "unreachable: clients just created".into())
    }

    fn on(&mut self, side: Side) -> Result<(&mut ClusterClients, &mut ClusterClients), String> {
        let (source, target) = self.clients()?;
        Ok(match side {
            Side::Source => (source, target),
            Side::Target => (target, source),
        })
    }

    /// The app's groups (all of them) and produced topics.
    fn groups(&self) -> Vec<String> {
        self.app.consumes.iter().map(|c| c.group.clone()).collect()
    }

    fn produced_ends(&mut self, side: Side) -> Result<BTreeMap<(String, i32), i64>, CheckError> {
        let topics = self.app.produces.clone();
        let (clients, _) = self.on(side)?;
        let mut ends = BTreeMap::new();
        for topic in topics {
            for partition in 0..clients.partitions(&topic)? {
                // The high watermark, not the last stable offset: a producer writing inside a
                // transaction does not move the latter.
                ends.insert((topic.clone(), partition), clients.high_watermark(&topic, partition)?);
            }
        }
        Ok(ends)
    }

    /// The first of the app's groups with members on `side`, as `group `g` is still Stable on the
    /// source, members: …`; a consumer-protocol group's members are named (once) when `name`.
    fn first_active_group(&mut self, side: Side, groups: &[String], name: bool) -> Result<Option<String>, CheckError> {
        let (clients, _) = self.on(side)?;
        for group in groups {
            if let GroupState::Active { state, mut members } = clients.group_state_confirmed(group)? {
                if members.is_empty() && name {
                    members = clients.consumer_group_members(group);
                }
                let who = if members.is_empty() { String::new() } else { format!(", members: {}", members.join(", ")) };
                return Ok(Some(format!("group `{group}` is still {state} on the {side}{who}")));
            }
        }
        Ok(None)
    }

    fn fence(&mut self, side: Side) -> Result<(), String> {
        let groups = self.groups();
        let timeout = self.options.fence_timeout;
        if let Err(error) = self.wait_until(timeout, |mover| mover.first_active_group(side, &groups, false)) {
            // Named once the wait is over: DescribeConsumerGroups is not asked in a loop.
            let named = match self.first_active_group(side, &groups, true) {
                Ok(Some(active)) => format!("still waiting after {} s: {active}", timeout.as_secs()),
                _ => error,
            };
            return Err(format!("{} did not leave its groups: {named}", self.app.name));
        }
        let timeout = self.options.fence_timeout;
        let before = self.retrying(timeout, |mover| mover.produced_ends(side))?;
        if !crate::interrupt::sleep(self.options.fence_window) {
            return Err(INTERRUPTED.into());
        }
        let after = self.retrying(timeout, |mover| mover.produced_ends(side))?;
        for (key, end) in &after {
            let old = before.get(key).copied().unwrap_or(0);
            if *end != old {
                return Err(format!(
                    "{} kept producing on the {side} after its stop hook: {}/{} moved from offset {old} to {end} in {} s",
                    self.app.name,
                    key.0,
                    key.1,
                    self.options.fence_window.as_secs_f64()
                ));
            }
        }
        // Still no member after the window: one read as gone while its coordinator moved, or
        // back since, would show here.
        let rejoined = self.retrying(timeout, |mover| mover.first_active_group(side, &groups, true))?;
        if let Some(active) = rejoined {
            return Err(format!("{} is back in its groups after its stop hook: {active}", self.app.name));
        }
        Ok(())
    }

    /// The app's replicated produced topics and its planned groups: what a drain waits for.
    fn drained(&self) -> (Vec<String>, Vec<PlannedGroup>) {
        let produced =
            self.app.produces.iter().filter(|t| self.plan.replication.replicates_topic(t)).cloned().collect();
        let groups = planned_groups(self.plan).into_iter().filter(|g| g.app == self.app.name).collect();
        (produced, groups)
    }

    fn drain(&mut self, side: Side) -> Result<(), String> {
        let (produced, groups) = self.drained();
        let timeout = self.options.drain_timeout;
        let (app, plan) = (self.app, self.plan);
        self.wait_until(timeout, |mover| {
            let (from, to) = mover.on(side)?;
            if let Some(why) = first_open_transaction(from, plan.cluster(side), app, &produced)? {
                return Ok(Some(why));
            }
            if let Some(why) = first_unreplicated(Matching::Provenance, from, to, &produced)? {
                return Ok(Some(why));
            }
            for planned in &groups {
                for topic in &planned.topics {
                    for (partition, offset, there) in commits_on_both(from, to, &planned.group, topic)? {
                        match translate(from, to, topic, partition, offset)? {
                            Translation::At(expected) if there == Some(expected) => {}
                            Translation::At(expected) => {
                                return Ok(Some(format!(
                                    "group `{}` on {topic}/{partition}: the {} has {}, the translation of {offset} is {expected}",
                                    planned.group,
                                    to.side,
                                    there.map_or("nothing".into(), |o| o.to_string()),
                                )));
                            }
                            Translation::Pending(why) => return Ok(Some(why)),
                        }
                    }
                }
            }
            Ok(None)
        })
        .map_err(|e| format!("drain: {e}"))
    }

    /// The drain on the MSK backend, where copies carry no provenance and MSK Replicator writes the
    /// group offsets (approximately, at least once): the app's topics are proven replicated by
    /// content (the last record of each partition is on the other side); each group's offsets on
    /// the other side must be there, not past the exact position (that would skip records) and
    /// unchanged for the fence window (the replicator's last sync after the stop). Returns, per
    /// group with a committed offset, the records it may read again there (a group that never
    /// committed starts where its `auto.offset.reset` says, on either cluster).
    fn drain_translated(&mut self, side: Side) -> Result<BTreeMap<String, i64>, String> {
        let (produced, groups) = self.drained();
        let timeout = self.options.drain_timeout;
        let steady_for = self.options.fence_window;
        // The translated offsets last seen (group, topic, partition → offset), and since when.
        let mut last_seen: Option<(Positions, Instant)> = None;
        let mut estimate = BTreeMap::new();
        let (app, plan) = (self.app, self.plan);
        self.wait_until(timeout, |mover| {
            let (from, to) = mover.on(side)?;
            if let Some(why) = first_open_transaction(from, plan.cluster(side), app, &produced)? {
                return Ok(Some(why));
            }
            if let Some(why) = first_unreplicated(Matching::Content, from, to, &produced)? {
                return Ok(Some(why));
            }
            let mut seen = BTreeMap::new();
            let mut behind: BTreeMap<String, i64> = BTreeMap::new();
            for planned in &groups {
                for topic in &planned.topics {
                    for (partition, offset, there) in commits_on_both(from, to, &planned.group, topic)? {
                        let Some(translated) = there else {
                            return Ok(Some(format!(
                                "group `{}` on {topic}/{partition}: the replicator has not synced its offset to the {} yet",
                                planned.group, to.side
                            )));
                        };
                        match resumption(from, to, topic, partition, offset, translated)? {
                            Ok(Resumption::Rereads { behind: n }) => *behind.entry(planned.group.clone()).or_default() += n,
                            Ok(Resumption::Skips { ahead }) => {
                                return Ok(Some(format!(
                                    "group `{}` on {topic}/{partition}: the {} has offset {translated}, {ahead} past the exact position: the group would skip records",
                                    planned.group, to.side
                                )));
                            }
                            Err(why) => return Ok(Some(why)),
                        }
                        seen.insert((planned.group.clone(), topic.clone(), partition), translated);
                    }
                }
            }
            let steady_since = match &last_seen {
                Some((before, since)) if *before == seen => *since,
                _ => Instant::now(),
            };
            last_seen = Some((seen, steady_since));
            if steady_since.elapsed() < steady_for {
                return Ok(Some(format!(
                    "the replicator's offsets on the {} must stand still for {} s",
                    to.side,
                    steady_for.as_secs_f64()
                )));
            }
            estimate = behind;
            Ok(None)
        })
        .map_err(|e| format!("drain: {e}"))?;
        for (group, records) in &estimate {
            self.reporter.event(
                &self.app.name,
                MoveEvent::Note(format!(
                    "group `{group}` resumes on the {} about {records} records before where it stopped: MSK Replicator's offset sync is at-least-once, so those may be processed again",
                    side.other()
                )),
            );
        }
        Ok(estimate)
    }

    fn switch(&mut self, side: Side) -> Result<(), String> {
        let mut control = Control::load(self.control_path)?;
        control.apps.insert(self.app.name.clone(), side);
        control.save(self.control_path).map_err(|e| format!("cannot write {}: {e}", self.control_path.display()))?;
        let app = self.app.name.clone();
        self.wait_until(Duration::from_secs(30), |mover| {
            let applied = mover.readiness.applied_side(&app)?;
            Ok((applied != side).then(|| format!("the engine still applies the {applied} for {app}")))
        })
        .map_err(|e| format!("switch: {e}"))
    }

    fn verify(&mut self, side: Side) -> Result<(), String> {
        let groups = self.groups();
        if !groups.is_empty() {
            let timeout = self.options.verify_timeout;
            return self
                .wait_until(timeout, |mover| {
                    let (clients, _) = mover.on(side)?;
                    for group in &groups {
                        let state = clients.group_state(group)?;
                        if !state.is_active() {
                            return Ok(Some(format!("group `{group}` is {} on the {side}", state.name())));
                        }
                    }
                    Ok(None)
                })
                .map_err(|e| format!("{} does not work on the {side}: {e}", self.app.name));
        }
        if self.app.produces.is_empty() {
            return Ok(());
        }
        let timeout = self.options.verify_timeout;
        let before = self.retrying(timeout, |mover| mover.produced_ends(side))?;
        self.wait_until(timeout, |mover| {
            let now = mover.produced_ends(side)?;
            let advanced = now.iter().any(|(key, end)| *end > before.get(key).copied().unwrap_or(0));
            Ok((!advanced).then(|| format!("no new record in {} on the {side}", mover.app.produces.join(", "))))
        })
        .map_err(|e| format!("{} does not work on the {side}: {e}", self.app.name))
    }
}

/// A check inside a step's wait that could not be made, and whether waiting on can help.
#[derive(Debug)]
struct CheckError {
    message: String,
    class: ErrorClass,
}

/// A failure known only by its message: tried again, as every failure was before errors had
/// classes.
impl From<String> for CheckError {
    fn from(message: String) -> Self {
        Self { message, class: ErrorClass::Retriable }
    }
}

impl From<OffsetsError> for CheckError {
    fn from(error: OffsetsError) -> Self {
        Self { class: error.class(), message: error.to_string() }
    }
}

/// Each partition of `topic` where `group` committed on `from`: (partition, that offset, the
/// group's offset on `to` if any).
fn commits_on_both(
    from: &mut ClusterClients,
    to: &mut ClusterClients,
    group: &str,
    topic: &str,
) -> Result<Vec<(i32, i64, Option<i64>)>, OffsetsError> {
    let partitions = from.partitions(topic)?;
    let committed = from.committed(group, topic, partitions)?;
    let there = to.committed(group, topic, partitions)?;
    Ok(committed
        .into_iter()
        .filter_map(|(partition, offset)| Some((partition, offset?, there.get(&partition).copied().flatten())))
        .collect())
}

/// Why the first partition of `topics` not fully replicated from `from` to `to` is not, if any.
fn first_unreplicated(
    matching: Matching,
    from: &ClusterClients,
    to: &ClusterClients,
    topics: &[String],
) -> Result<Option<String>, OffsetsError> {
    Ok(unreplicated(matching, from, to, topics, 1)?.pop())
}

/// The first partition of the app's `topics` on the old side where a transaction is still open,
/// as what a drain waits for. Its records are undecided: copying stops at the last stable offset
/// and the app, moved now, would process their inputs again on the other side, so a drain waits
/// for the transaction to be committed or aborted and says so. Kafka names no transaction in any
/// request librdkafka makes (DescribeProducers, ListTransactions and DescribeTransactions are not
/// in its admin API): the plan's `transactional_ids` name the app's candidates.
fn first_open_transaction(
    clients: &mut ClusterClients,
    cluster: &Cluster,
    app: &App,
    topics: &[String],
) -> Result<Option<String>, OffsetsError> {
    for topic in topics {
        for partition in 0..clients.partitions(topic)? {
            let Some((stable, high)) = clients.open_transaction(topic, partition)? else { continue };
            let by = match app.transactional_ids.as_slice() {
                [] => format!("a producer of app `{}` (the plan lists no `transactional_ids` for it)", app.name),
                ids => format!(
                    "app `{}`'s transactional.id {}",
                    app.name,
                    ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(" or ")
                ),
            };
            let bootstrap = cluster.bootstrap_servers.join(",");
            return Ok(Some(format!(
                "{topic}/{partition} on the {}: a transaction is open from offset {stable} ({} offset(s) up to {high} undecided), possibly left by {by}; it moves once committed or aborted (the broker aborts it when its producer's transaction.timeout.ms runs out). To see whose it is: kafka-transactions --bootstrap-server {bootstrap} --command-config <admin.properties> describe-producers --topic {topic} --partition {partition}; to abort it now: the same with abort --topic {topic} --partition {partition} --start-offset {stable}",
                cluster.side,
                high - stable,
            )));
        }
    }
    Ok(None)
}
