//! `migrate apply`: validate, preflight (refusing on failure), then replicate.
//!
//! Embedded backend: the engine in the foreground until SIGINT/SIGTERM, stopping gracefully. Fit
//! for systemd or a Kubernetes pod: a restart resumes where it stopped. A replicator password
//! rotated where the plan reads it restarts the engine in place, once the cluster accepts it
//! ([`run_rereading_credentials`]; here because it needs both the engine and preflight's login).
//! MSK backend: both MSK Replicators created (or found, compared, updated) and waited for until
//! RUNNING; Ctrl-C leaves them creating, and the next `apply` resumes waiting.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use migrate::aws::Clients;
use migrate::engine::{self, EngineOptions, StopHandle};
use migrate::exit::{ExitCode, Failure};
use migrate::kafka::Identity;
use migrate::msk::render;
use migrate::msk::secret::{self, SecretError, SecretOutcome};
use migrate::msk::{self, OnDrift, Provisioned, ReplicatorError};
use migrate::plan::{MskSettings, Plan};
use migrate::settings;
use migrate::state::StateDir;

use super::load_plan;
use super::plan::preflight_and_report;
use crate::cli::GlobalArgs;
use crate::output::{Output, Spinner};

/// `apply`'s flags.
#[derive(Debug, Clone)]
pub struct ApplyArgs {
    pub timeout: Duration,
    pub recreate: bool,
    pub wait: Duration,
    pub no_wait: bool,
    pub create_secret: bool,
}

pub async fn run(global: &GlobalArgs, output: &Output, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let state_dir = settings::state_dir(global.state_dir.as_deref(), &plan);
    // An unreadable marker is not taken for "never torn down".
    let torn_down = migrate::teardown::torn_down(&state_dir).map_err(|cause| {
        Failure::unexpected(format!("cannot read {}: {cause}", migrate::teardown::marker(&state_dir).display()))
    })?;
    if let Some(done) = torn_down {
        return Err(Failure::user(
            ExitCode::InvalidInput,
            format!(
                "{} was torn down ({}): replicating again would copy everything a second time",
                plan.name,
                done.removed.join(", ")
            ),
        )
        .with_hint(format!(
            "to start a new migration, use a new plan name or remove {}",
            migrate::teardown::marker(&state_dir).display()
        ))
        .into());
    }
    // Asked before anything else, so an unconfirmed recreate costs no preflight.
    let on_drift = if args.recreate && plan.msk().is_some() {
        confirm_recreate(global, &plan)?;
        OnDrift::Recreate
    } else {
        OnDrift::Refuse
    };
    if args.create_secret {
        create_secret(output, &plan).await?;
    }
    let caller_use = migrate::msk::policy::CallerUse { create_secret: args.create_secret, ..Default::default() };
    let report = preflight_and_report(global, output, &plan, args.timeout, caller_use).await?;
    sync_acls(global, output, &plan, &state_dir, &report, args.timeout).await?;
    if let Some(msk) = plan.msk() {
        return apply_msk(output, &plan, msk, &state_dir, args, on_drift).await;
    }
    output.status(&format!(
        "replicating {} ({}); state in {}; stop with Ctrl-C or SIGTERM",
        plan.name,
        if plan.replication.bidirectional { "both directions" } else { "source → target" },
        state_dir.display()
    ));

    let stop = StopHandle::default();
    // The engine stops by itself on SIGINT/SIGTERM, after delivering what is in flight.
    migrate::interrupt::set_mode(migrate::interrupt::Mode::Graceful);
    let signal = {
        let (stop, output) = (stop.clone(), *output);
        tokio::spawn(async move {
            migrate::interrupt::interrupted().await;
            output.status("stopping: delivering what is in flight…");
            stop.stop();
        })
    };
    let catch_up = catch_up_bar(output, StateDir::new(&state_dir).engine_status());
    let outcome = run_rereading_credentials(&global.plan, plan, &state_dir, &stop).await;
    signal.abort();
    catch_up.abort();
    match outcome {
        Ok(()) => {
            output.status("stopped; the next `migrate apply` resumes where this one stopped");
            Ok(ExitCode::Success)
        }
        Err(error) => Err(Failure::unexpected(error.to_string()).into()),
    }
}

/// How often the plan is re-read for a rotated replicator password.
const CREDENTIALS_REREAD: Duration = Duration::from_secs(5);
/// How long a restart with rotated credentials that could not start waits before trying again.
const RESTART_RETRY: Duration = Duration::from_secs(10);
/// How long the new credentials' login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the engine until `stop`, re-reading the plan every [`CREDENTIALS_REREAD`]: when a
/// replicator's identity changed where the plan reads it (a rotated password file), read the same
/// twice in a row and accepted by its cluster, the engine stops gracefully and starts again with
/// it, resuming from its checkpoints as after any restart (see [`engine::credentials`]). Until the
/// cluster accepts the new password, the engine goes on with the one it has. The engine's lock is
/// held across the restarts, so no other engine starts in between. A start that fails after such
/// a restart on a cluster's account is tried again [`RESTART_RETRY`] after each failure, with the
/// plan re-read each time, rather than ending `apply`; any other failure ends it.
async fn run_rereading_credentials(
    plan_path: &std::path::Path,
    mut plan: Plan,
    state_dir: &std::path::Path,
    stop: &StopHandle,
) -> Result<(), engine::EngineError> {
    use engine::credentials::{Reread, reread};
    let _lock = engine::lock(state_dir)?;
    // A plan read from a pipe (`-p <(envsubst < plan.tmpl)`) cannot be read twice.
    let rereadable = std::fs::metadata(plan_path).is_ok_and(|m| m.is_file());
    if !rereadable {
        tracing::info!(
            "the plan is not a regular file: a rotated replicator password reaches the engine when it is restarted"
        );
    }
    let mut rotated_once = false;
    loop {
        let run_stop = StopHandle::default();
        let watcher = tokio::spawn(watch_credentials(
            rereadable.then(|| plan_path.to_path_buf()),
            plan.clone(),
            stop.clone(),
            run_stop.clone(),
        ));
        let outcome = engine::run_locked(&plan, state_dir, &EngineOptions::default(), run_stop.clone()).await;
        // The watcher has returned when it stopped the engine; otherwise the engine ended on its
        // own (an error) and the watcher goes with it.
        let rotated = if run_stop.stopped() {
            watcher.await.ok().flatten()
        } else {
            watcher.abort();
            None
        };
        if stop.stopped() {
            // A stop that met a restart failing to start leaves nothing running: a clean stop.
            return if rotated_once { Ok(()) } else { outcome };
        }
        if let Some(latest) = rotated {
            if let Err(error) = &outcome {
                tracing::warn!("the engine stopped for the new credentials with an error: {error}");
            }
            plan = latest;
            rotated_once = true;
            continue;
        }
        match outcome {
            Err(error @ engine::EngineError::Cluster { .. }) if rotated_once => {
                tracing::error!(
                    "the engine cannot start with the rotated credentials: {error}; trying again {} s after this failure, with the plan re-read",
                    RESTART_RETRY.as_secs()
                );
                let deadline = tokio::time::Instant::now() + RESTART_RETRY;
                while tokio::time::Instant::now() < deadline && !stop.stopped() {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                if stop.stopped() {
                    return Ok(());
                }
                let (path, running) = (plan_path.to_path_buf(), plan.clone());
                let found =
                    tokio::task::spawn_blocking(move || reread(&path, &migrate::plan::process_env, &running)).await;
                if let Ok(Reread::Rotated { plan: latest, .. }) = found {
                    plan = *latest;
                }
            }
            outcome => return outcome,
        }
    }
}

/// Stops `run_stop` when `stop` is, or when the plan at `plan_path` (re-read every
/// [`CREDENTIALS_REREAD`]; never when `None`) gives a replicator another identity than `running`
/// has, the same on two reads in a row (a file being written is not taken half-way), and its
/// cluster accepts it: then returns `running` with the new identities.
async fn watch_credentials(
    plan_path: Option<std::path::PathBuf>,
    running: Plan,
    stop: StopHandle,
    run_stop: StopHandle,
) -> Option<Plan> {
    use engine::credentials::{Reread, changed_sides, reread};
    let running = std::sync::Arc::new(running);
    // What was last logged, so that a condition that lasts is logged once.
    let mut last_said: Option<String> = None;
    let mut candidate: Option<Plan> = None;
    let mut reread_at = tokio::time::Instant::now() + CREDENTIALS_REREAD;
    let say_once = |last_said: &mut Option<String>, message: String| {
        if last_said.as_ref() != Some(&message) {
            tracing::warn!("{message}");
            *last_said = Some(message);
        }
    };
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if stop.stopped() {
            run_stop.stop();
            return None;
        }
        let Some(path) = plan_path.clone().filter(|_| tokio::time::Instant::now() >= reread_at) else {
            continue;
        };
        reread_at = tokio::time::Instant::now() + CREDENTIALS_REREAD;
        let current = std::sync::Arc::clone(&running);
        // Files are read off the runtime's threads.
        let Ok(found) = tokio::task::spawn_blocking(move || reread(&path, &migrate::plan::process_env, &current)).await
        else {
            continue;
        };
        let (latest, sides) = match found {
            Reread::Rotated { plan, sides } => (*plan, sides),
            Reread::Unchanged => {
                candidate = None;
                last_said = None;
                continue;
            }
            Reread::Unreadable(message) => {
                say_once(
                    &mut last_said,
                    format!(
                        "cannot re-read the plan for rotated credentials ({message}); the engine goes on with the ones it has"
                    ),
                );
                continue;
            }
        };
        let same_twice = candidate.as_ref().is_some_and(|seen| changed_sides(seen, &latest).is_empty());
        if !same_twice {
            candidate = Some(latest);
            continue;
        }
        let mut refused = Vec::new();
        for &side in &sides {
            let cluster = latest.cluster(side);
            if let Err(cause) = migrate::preflight::logs_in(cluster, Identity::Replicator, LOGIN_TIMEOUT).await {
                refused.push(format!("{side} ({}): {cause}", cluster.replicator_auth.describe()));
            }
        }
        if !refused.is_empty() {
            say_once(
                &mut last_said,
                format!(
                    "the replicator's new credentials in the plan are refused: {}; the engine goes on with the ones it has and tries them again every {} s",
                    refused.join("; "),
                    CREDENTIALS_REREAD.as_secs()
                ),
            );
            continue;
        }
        let changed: Vec<String> =
            sides.iter().map(|&side| format!("{side} ({})", latest.cluster(side).replicator_auth.describe())).collect();
        tracing::warn!(
            "the replicator's credentials changed in the plan for {}: restarting the engine with them; it resumes from its checkpoints",
            changed.join(", ")
        );
        run_stop.stop();
        return Some(latest);
    }
}

/// The initial catch-up as a progress bar with ETA on stderr (hidden off a terminal, under `-q`
/// and with `-o json`): its length is the largest replication lag seen (records on the origins not
/// yet on the destinations), its position what has been copied of it. It reads the status file
/// this process's engine writes every second, and goes away once the lag reaches 0.
fn catch_up_bar(output: &Output, status: std::path::PathBuf) -> tokio::task::JoinHandle<()> {
    let visible = !output.quiet && !output.json() && std::io::stderr().is_terminal();
    let output = *output;
    tokio::spawn(async move {
        if !visible {
            return;
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("catch-up {bar:30} {pos}/{len} records ({per_sec}, ETA {eta}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut largest = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(Some(current)) = migrate::state::read_json::<migrate::engine::EngineStatus>(&status) else {
                continue;
            };
            if current.pid != std::process::id() || current.health.flows.is_empty() {
                continue;
            }
            let lag: u64 = current.health.flows.values().map(|f| f.replication_lag.max(0) as u64).sum();
            largest = largest.max(lag);
            bar.set_length(largest);
            bar.set_position(largest - lag);
            if lag == 0 {
                bar.finish_and_clear();
                if largest > 0 {
                    output.status(&format!("caught up: {largest} records copied"));
                }
                return;
            }
        }
    })
}

/// `replication.acls: sync`: the ACLs preflight found missing on the target, created before
/// replication starts. On a target open to everyone the first ACL on a resource closes it to
/// every other client: refused without --yes.
async fn sync_acls(
    global: &GlobalArgs,
    output: &Output,
    plan: &Plan,
    state_dir: &std::path::Path,
    report: &migrate::preflight::PreflightReport,
    timeout: Duration,
) -> anyhow::Result<()> {
    if report.acls_to_create.is_empty() {
        return Ok(());
    }
    if !report.closing.is_empty() && !global.yes {
        let resources: Vec<String> = report
            .closing
            .iter()
            .map(|c| {
                let losing = if c.losing.is_empty() { "no identity of the plan".into() } else { c.losing.join(", ") };
                format!("{:?} {} (loses access: {losing})", c.resource_type, c.resource_name)
            })
            .collect();
        return Err(Failure::user(
            ExitCode::PreflightFailed,
            format!(
                "the target allows everyone on resources without ACLs: creating the synced ACLs closes {} to every client not granted",
                resources.join(", ")
            ),
        )
        .with_hint("grant the identities named first, then apply again; or confirm with --yes")
        .into());
    }
    if let Some(why) = report.openness_unknown.as_ref().filter(|_| !global.yes) {
        return Err(Failure::user(
            ExitCode::PreflightFailed,
            format!(
                "cannot tell whether the target allows everyone on resources without ACLs ({why}): if it does, creating the synced ACLs closes those resources to every client not granted"
            ),
        )
        .with_hint("check allow.everyone.if.no.acl.found in the target's authorizer settings, then confirm with --yes")
        .into());
    }
    let (plan_copy, state_dir_copy, bindings) = (plan.clone(), state_dir.to_path_buf(), report.acls_to_create.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        migrate::permissions::sync(&plan_copy, &state_dir_copy, &bindings, timeout)
    })
    .await
    .map_err(|error| Failure::unexpected(error.to_string()))?
    .map_err(|error| Failure::unexpected(error.to_string()))?;
    for binding in &outcome.already_present {
        output.status(&format!(
            "already on the target (not created, not recorded, never removed by teardown): {}",
            migrate::preflight::permissions::describe(binding)
        ));
    }
    for binding in &outcome.created {
        output.status(&format!("created on the target: {}", migrate::preflight::permissions::describe(binding)));
    }
    output.status(&format!(
        "{} ACL(s) created, recorded in {} (`migrate teardown --remove-synced-acls` removes exactly them)",
        outcome.created.len(),
        migrate::permissions::synced_acls_file(state_dir).display()
    ));
    Ok(())
}

/// `--create-secret`: the plan's secret, created from the plan's credentials unless it exists.
/// Secrets Manager gives the new secret an ARN with a random suffix, which the plan must then
/// name: `apply` stops there (exit 2) and says what to write.
async fn create_secret(output: &Output, plan: &Plan) -> anyhow::Result<()> {
    let Some(msk) = plan.msk() else {
        return Err(Failure::user(ExitCode::InvalidInput, "--create-secret is for backend msk").into());
    };
    let clients = Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
    match secret::ensure(&clients.secrets, plan).await {
        Ok(SecretOutcome::Exists) => {
            output.status(&format!("the secret {} exists: not created", msk.scram_secret_arn));
            Ok(())
        }
        Ok(SecretOutcome::Created { arn }) if arn == msk.scram_secret_arn => {
            output.status(&format!("created the secret {arn}"));
            Ok(())
        }
        Ok(SecretOutcome::Created { arn }) => Err(Failure::user(
            ExitCode::InvalidInput,
            format!("created the secret {arn}; the plan names it {}", msk.scram_secret_arn),
        )
        .with_hint(format!(
            "write `scram_secret_arn: {arn}` in the plan's `msk` section (the replicators and the role's policy name the exact ARN), then `migrate apply` again"
        ))
        .into()),
        Err(SecretError::Plan(message)) => Err(Failure::user(ExitCode::InvalidInput, message).into()),
        Err(SecretError::Aws(error)) => {
            Err(Failure::unexpected(error.to_string()).with_hint(error.hint()).into())
        }
    }
}

/// How often a waiting `apply` asks for the replicators' state.
const POLL: Duration = Duration::from_secs(15);

async fn apply_msk(
    output: &Output,
    plan: &Plan,
    msk: &MskSettings,
    state_dir: &std::path::Path,
    args: &ApplyArgs,
    on_drift: OnDrift,
) -> anyhow::Result<ExitCode> {
    let clients = Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
    let spinner = Spinner::new(output);
    let mut replicators = Vec::new();
    for direction in render::directions(plan) {
        let input = render::replicator_input(plan, msk, direction);
        let outcome = msk::ensure(&clients.kafka, &input, on_drift, POLL, args.wait, &spinner).await;
        let provisioned = outcome.map_err(replicator_failure)?;
        let line = match &provisioned {
            Provisioned::Created(r) => format!("created {} ({})", r.name, r.arn),
            Provisioned::Exists(r) => format!("{} exists ({}, {}) and matches the plan", r.name, r.arn, r.state),
            Provisioned::Updated(r, changed) => format!("updated {}: {}", r.name, fields(changed)),
            Provisioned::Recreated(r, changed) => {
                format!("recreated {} ({}) because of {}", r.name, r.arn, fields(changed))
            }
        };
        spinner.println(&line);
        record_running(output, state_dir, provisioned.replicator());
        replicators.push(provisioned.replicator().clone());
    }
    if args.no_wait {
        spinner.finish();
        output.status("not waiting: `migrate apply` again (or `migrate status`) shows when they run");
        return Ok(ExitCode::Success);
    }
    let waits = futures::future::try_join_all(
        replicators.iter().map(|r| msk::wait_running(&clients.kafka, r, POLL, args.wait, &spinner)),
    );
    migrate::interrupt::set_mode(migrate::interrupt::Mode::Graceful);
    let running = tokio::select! {
        outcome = waits => outcome.map_err(replicator_failure)?,
        _ = migrate::interrupt::interrupted() => {
            spinner.finish();
            output.status("stopped waiting; the replicators keep creating: run `migrate apply` again to resume waiting");
            return Ok(ExitCode::Interrupted);
        }
    };
    spinner.finish();
    for replicator in &running {
        record_running(output, state_dir, replicator);
    }
    if output.json() {
        let list: Vec<serde_json::Value> =
            running.iter().map(|r| serde_json::json!({"name": r.name, "arn": r.arn, "state": r.state})).collect();
        output.print_json(&serde_json::json!({"ok": true, "replicators": list}))?;
    } else {
        for replicator in &running {
            output.print(&format!("{}: RUNNING ({})", replicator.name, replicator.arn));
        }
        output.print("next: `migrate status` until the readiness gate holds, then `migrate cutover APP`");
    }
    Ok(ExitCode::Success)
}

/// When the reverse replicator first ran bounds what it copied back (it starts at LATEST):
/// `cutover` reads it (see `migrate::msk::reverse`).
fn record_running(output: &Output, state_dir: &std::path::Path, replicator: &msk::Replicator) {
    if let Err(cause) = msk::reverse::observe(state_dir, replicator) {
        output.warn(&format!("cannot record that {} runs: {cause}", replicator.name));
    }
}

fn fields(differences: &[msk::Difference]) -> String {
    differences.iter().map(|d| d.field.as_str()).collect::<Vec<_>>().join(", ")
}

/// A recreate deletes a running replicator: replication restarts from its starting position and
/// the offset sync's mappings start over. Only with `--yes` or a typed "yes".
fn confirm_recreate(global: &GlobalArgs, plan: &Plan) -> anyhow::Result<()> {
    if global.yes {
        return Ok(());
    }
    use std::io::{BufRead, IsTerminal, Write};
    let refusal = || {
        Failure::user(ExitCode::InvalidInput, "--recreate was not confirmed")
            .with_hint("pass --yes to confirm without a prompt")
    };
    if !std::io::stdin().is_terminal() {
        return Err(refusal().into());
    }
    eprint!(
        "--recreate deletes and creates again any replicator of {} that differs from the plan in what AWS cannot update;\nreplication then restarts from its starting position. Type yes to go on: ",
        plan.name
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        return Err(refusal().into());
    }
    Ok(())
}

fn replicator_failure(error: ReplicatorError) -> anyhow::Error {
    match &error {
        ReplicatorError::Drift { name, .. } => Failure::user(ExitCode::PreflightFailed, error.to_string())
            .with_hint(format!(
                "change the plan back, or `migrate apply --recreate` to delete {name} and create it from the plan"
            ))
            .into(),
        ReplicatorError::Failed { name, .. } => Failure::user(ExitCode::ReplicatorFailed, error.to_string())
            .with_hint(format!(
                "fix the cause above (often the secret, the role or the network: `migrate plan` checks them), then `migrate apply --recreate` replaces {name}"
            ))
            .into(),
        ReplicatorError::NotOurs { name, .. } => Failure::user(ExitCode::PreflightFailed, error.to_string())
            .with_hint(format!(
                "rename the plan's replicator (`msk.external_to_msk_name`, `msk.msk_to_external_name`), or remove {name} yourself if it is yours to remove"
            ))
            .into(),
        ReplicatorError::Deleting { .. } => Failure::unexpected(error.to_string())
            .with_hint("run `migrate apply` again once it is gone")
            .into(),
        ReplicatorError::TimedOut { .. } => Failure::unexpected(error.to_string())
            .with_hint("creation can take tens of minutes: `migrate apply` again resumes waiting (--wait-minutes)")
            .into(),
        ReplicatorError::Aws(aws) => Failure::unexpected(aws.to_string()).with_hint(aws.hint()).into(),
    }
}
