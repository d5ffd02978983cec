//! `migrate cutover APP` and `migrate rollback APP`: one app moved, resumably (see
//! `migrate::cutover`). Exit 0 moved (or already there), 4 gate closed, 5 the move failed (the app
//! put back, or left for a human when even that failed), 2 no such app, 1 busy or unfinished.

use anyhow::Context;
use comfy_table::{Table, presets};
use migrate::aws::Clients;
use migrate::cutover::record::MoveCommand;
use migrate::cutover::{self, MoveError, MoveEvent, MoveOptions, MoveOutcome, MoveReporter};
use migrate::engine::readiness::EngineReadiness;
use migrate::exit::{ExitCode, Failure};
use migrate::gate::ReadinessSource;
use migrate::msk::readiness::MskReadiness;
use migrate::plan::Backend;
use migrate::settings;
use migrate::state::StateDir;

use super::load_plan;
use crate::cli::{GlobalArgs, MoveArgs};
use crate::output::{Output, format_duration};

/// A move's progress as lines on stderr through [`Output`] (data stays on stdout; silent under
/// `--quiet`).
struct StderrReporter {
    output: Output,
}

impl MoveReporter for StderrReporter {
    fn event(&self, app: &str, event: MoveEvent) {
        let line = match event {
            MoveEvent::StepStarted(step) => format!("{app}: {} ({}) …", step.kind.as_str(), step.side),
            MoveEvent::StepDone { step, duration } => {
                format!("{app}: {} ({}) ✓ {}", step.kind.as_str(), step.side, format_duration(duration))
            }
            MoveEvent::StepFailed { step, message } => {
                format!("{app}: {} ({}) ✗ {}", step.kind.as_str(), step.side, message.replace('\n', "; "))
            }
            MoveEvent::Waiting(what) => format!("{app}:   waiting: {what}"),
            MoveEvent::Note(note) => format!("{app}: {note}"),
        };
        self.output.status(&line);
    }
}

pub async fn run(
    global: &GlobalArgs,
    output: &Output,
    args: &MoveArgs,
    command: MoveCommand,
) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let state_dir = settings::state_dir(global.state_dir.as_deref(), &plan);
    if args.dry_run {
        let steps = cutover::dry_run(&plan, &state_dir, &args.app, command).map_err(failure_of)?;
        if output.json() {
            let steps: Vec<_> = steps
                .iter()
                .map(|(step, text)| serde_json::json!({"step": step.kind, "side": step.side, "description": text}))
                .collect();
            output.print_json(&serde_json::json!({"ok": true, "app": args.app, "command": command, "steps": steps}))?;
        } else if steps.is_empty() {
            output.print(&format!("{} already runs on the {}: nothing to do", args.app, command.destination()));
        } else {
            let lines: Vec<_> = steps
                .iter()
                .enumerate()
                .map(|(i, (step, text))| format!("{:>2}. {:<9} {text}", i + 1, step.kind.as_str()))
                .collect();
            output.print(&lines.join("\n"));
        }
        return Ok(ExitCode::Success);
    }
    let options = MoveOptions {
        wait: args.wait,
        fence_window: args.fence_window,
        fence_timeout: args.fence_timeout,
        drain_timeout: args.drain_timeout,
        verify_timeout: args.verify_timeout,
        hook_timeout: args.hook_timeout,
        auto_revert: !args.no_auto_revert,
        accept_uncopied_writes: args.accept_uncopied_writes,
    };
    let readiness: Box<dyn ReadinessSource + Send> = match &plan.backend {
        Backend::Msk(msk) => {
            let clients = Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
            let runtime = tokio::runtime::Handle::current();
            Box::new(MskReadiness::new(plan.clone(), clients.kafka, clients.cloudwatch, runtime, state_dir.clone()))
        }
        Backend::Embedded => Box::new(EngineReadiness::new(&plan, StateDir::new(&state_dir))),
    };
    // From here the move stops itself on SIGINT/SIGTERM, killing its hook and recording where.
    migrate::interrupt::set_mode(migrate::interrupt::Mode::Cooperative);
    let reporter = StderrReporter { output: *output };
    let app = args.app.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        cutover::execute(&plan, &state_dir, &app, command, &options, readiness.as_ref(), &reporter)
    })
    .await
    .context("the move's thread")?;
    match outcome {
        Ok(outcome) => {
            print_outcome(output, &outcome)?;
            Ok(ExitCode::Success)
        }
        Err(MoveError::Failed(outcome)) => {
            print_outcome(output, &outcome)?;
            let message = match outcome.result.as_str() {
                "reverted" => format!(
                    "the {} of {} failed; it was put back on the {}",
                    command.as_str(),
                    outcome.app,
                    outcome.from
                ),
                "revert-failed" => {
                    format!("the {} of {} failed and so did putting it back", command.as_str(), outcome.app)
                }
                _ => format!("the {} of {} stopped at a failed step", command.as_str(), outcome.app),
            };
            let hint = match outcome.result.as_str() {
                "reverted" => format!("cause: {}", outcome.failure.clone().unwrap_or_default()),
                _ => format!(
                    "cause: {}\nfix the cause, then run `migrate {} {}` to finish the move, or `migrate {} {}` to undo it",
                    outcome.failure.clone().unwrap_or_default(),
                    command.as_str(),
                    outcome.app,
                    if command == MoveCommand::Cutover { "rollback" } else { "cutover" },
                    outcome.app
                ),
            };
            Err(Failure::user(ExitCode::MoveFailed, message).with_hint(hint).into())
        }
        Err(error) => Err(failure_of(error).into()),
    }
}

fn failure_of(error: MoveError) -> Failure {
    match error {
        MoveError::Invalid(message) => Failure::user(ExitCode::InvalidInput, message),
        // The move's refusals before anything is touched come back as the gate's (exit 4); the
        // one about the reverse replicator is not waited out with --wait.
        MoveError::ReverseReplication(refusal) => {
            Failure::user(ExitCode::GateNotMet, refusal).with_hint(
                "`migrate status` shows the replicators; once the records are known to be on the source (or their loss is accepted), --accept-uncopied-writes moves anyway",
            )
        }
        MoveError::GateClosed(waiting_on) => {
            Failure::user(ExitCode::GateNotMet, format!("the readiness gate is closed: {waiting_on}"))
                .with_hint("`migrate status` shows every condition; wait for the gate with --wait DURATION")
        }
        MoveError::Busy(message) | MoveError::Unfinished(message) | MoveError::State(message) => {
            Failure::unexpected(message)
        }
        MoveError::Failed(outcome) => Failure::user(ExitCode::MoveFailed, format!("{} failed", outcome.app)),
        MoveError::Interrupted(message) => Failure::user(ExitCode::Interrupted, format!("interrupted: {message}")),
    }
}

fn print_outcome(output: &Output, outcome: &MoveOutcome) -> anyhow::Result<()> {
    if output.json() {
        // Like every command's document: `ok` says whether it did what was asked.
        let mut document = serde_json::to_value(outcome)?;
        if let Some(object) = document.as_object_mut() {
            object.insert("ok".into(), matches!(outcome.result.as_str(), "moved" | "already-there").into());
        }
        return output.print_json(&document);
    }
    if outcome.result == "already-there" {
        output.print(&format!("{} already runs on the {}: nothing to do", outcome.app, outcome.to));
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(["step", "cluster", "took", "result"]);
    if let Some(width) = crate::output::terminal_width() {
        table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic).set_width(width);
    }
    for log in &outcome.steps {
        table.add_row([
            log.step.kind.as_str().to_string(),
            log.step.side.to_string(),
            format_duration(std::time::Duration::from_millis(log.duration_ms)),
            log.result.clone(),
        ]);
    }
    let downtime = outcome
        .downtime_ms
        .map(|ms| format_duration(std::time::Duration::from_millis(ms)))
        .unwrap_or_else(|| "none".into());
    let mut text = format!(
        "{table}\n{} {}: {} → {}, {}; downtime {downtime}",
        outcome.app,
        outcome.command.as_str(),
        outcome.from,
        outcome.to,
        outcome.result
    );
    for (group, records) in &outcome.duplicates_estimate {
        text.push_str(&format!(
            "\ngroup `{group}`: may process about {records} records again (MSK Replicator's offset sync is at-least-once)"
        ));
    }
    output.print(&text);
    Ok(())
}
