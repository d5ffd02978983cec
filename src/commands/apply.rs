//! `migrate apply`: validate, preflight (refusing on failure), then run replication in the
//! foreground until SIGINT/SIGTERM, stopping gracefully. Fit for systemd or a Kubernetes pod: a
//! restart resumes where it stopped.

use std::time::Duration;

use migrate::engine::{self, EngineOptions, StopHandle};
use migrate::exit::{ExitCode, UserError};
use migrate::plan::Backend;
use migrate::settings;

use super::load_plan;
use super::plan::preflight_and_report;
use crate::cli::GlobalArgs;
use crate::output::Output;

pub async fn run(global: &GlobalArgs, output: &Output, timeout: Duration) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    if plan.replication.backend == Backend::Msk {
        return Err(UserError::new(
            ExitCode::Unexpected,
            "`migrate apply` with backend msk is not yet available in this version",
        )
        .with_hint("use `replication.backend: embedded`, or `migrate plan` to check an msk plan")
        .into());
    }
    preflight_and_report(global, output, &plan, timeout).await?;
    let state_dir = settings::state_dir(global.state_dir.as_deref(), &plan);
    eprintln!(
        "replicating {} ({}); state in {}; stop with Ctrl-C or SIGTERM",
        plan.name,
        if plan.replication.bidirectional { "both directions" } else { "source → target" },
        state_dir.display()
    );

    let stop = StopHandle::default();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            crate::interrupted().await;
            eprintln!("stopping: delivering what is in flight…");
            stop.stop();
        })
    };
    let outcome = engine::run(&plan, &state_dir, &EngineOptions::default(), stop).await;
    signal.abort();
    match outcome {
        Ok(()) => {
            eprintln!("stopped; the next `migrate apply` resumes where this one stopped");
            Ok(ExitCode::Success)
        }
        Err(error) => Err(UserError::new(ExitCode::Unexpected, error.to_string()).into()),
    }
}
