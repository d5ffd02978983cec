//! `migrate plan`: validate, preflight both clusters, and list what `apply` would do.

use std::time::Duration;

use migrate::exit::{ExitCode, Failure};
use migrate::plan::Plan;
use migrate::preflight::{self, Options, Status};

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::{Output, Spinner, format_duration};

pub async fn run(global: &GlobalArgs, output: &Output, timeout: Duration) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    preflight_and_report(global, output, &plan, timeout, Default::default()).await?;
    Ok(ExitCode::Success)
}

/// Runs preflight, prints its table (or JSON document), and fails with exit 3 when a check fails
/// (or warns, under `--strict`). Shared by `plan` and `apply`.
pub async fn preflight_and_report(
    global: &GlobalArgs,
    output: &Output,
    plan: &Plan,
    timeout: Duration,
    caller_use: migrate::msk::policy::CallerUse,
) -> anyhow::Result<preflight::PreflightReport> {
    let spinner = Spinner::new(output);
    let report = preflight::run(plan, &Options { timeout, caller_use }, &spinner).await;
    spinner.finish();

    let failures = report.checks.iter().filter(|c| c.status == Status::Fail).count();
    let warnings = report.checks.iter().filter(|c| c.status == Status::Warn).count();
    let ok = failures == 0 && !(global.strict && warnings > 0);
    if output.json() {
        output.print_json(&serde_json::json!({
            "ok": ok,
            "plan": plan.file,
            "name": plan.name,
            "backend": plan.backend.name(),
            "checks": report.checks,
            "actions": report.actions,
            "manual": report.manual,
            "failures": failures,
            "warnings": warnings,
            "duration_ms": report.duration_ms,
        }))?;
    } else {
        output.print(&output.checks_table(&report.checks));
        output.print(&output.actions_list(&report.actions));
        if !report.manual.is_empty() {
            let mut text = String::from("verify by hand (no API shows it from here):\n");
            for item in &report.manual {
                text.push_str(&format!("  - {item}\n"));
            }
            output.print(&text);
        }
        let total = format_duration(Duration::from_millis(report.duration_ms));
        output.print(&format!(
            "preflight: {} check(s), {failures} failed, {warnings} warning(s) in {total}",
            report.checks.len()
        ));
    }
    if failures > 0 {
        return Err(Failure::user(ExitCode::PreflightFailed, format!("preflight failed: {failures} check(s) failed"))
            .with_hint("fix each ✗ check as its `fix:` line says, then run `migrate plan` again")
            .into());
    }
    if global.strict && warnings > 0 {
        return Err(Failure::user(
            ExitCode::PreflightFailed,
            format!("preflight has {warnings} warning(s) and --strict is set"),
        )
        .into());
    }
    Ok(report)
}
