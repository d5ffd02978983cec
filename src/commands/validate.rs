//! `migrate validate`: offline checks of the plan.

use migrate::exit::ExitCode;
use migrate::plan::{Backend, Plan};

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::Output;

pub fn run(global: &GlobalArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    if output.json() {
        output.print_json(&serde_json::json!({
            "ok": true,
            "plan": plan.file,
            "name": plan.name,
            "backend": plan.backend.name(),
            "apps": plan.apps.iter().map(|app| &app.name).collect::<Vec<_>>(),
            "topics": plan.replication.topics.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "groups": plan.replication.groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))?;
    } else {
        output.print(&summary(&plan));
    }
    Ok(ExitCode::Success)
}

pub fn summary(plan: &Plan) -> String {
    let backend = match plan.backend {
        Backend::Embedded => "embedded engine",
        Backend::Msk(_) => "MSK Replicator",
    };
    let direction = if plan.replication.bidirectional { "both directions" } else { "source → target only" };
    let list = |items: Vec<String>| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    format!(
        "✓ {} is valid: plan `{}`, {backend}, {direction}\n  topics: {}\n  groups: {}\n  apps:   {}",
        plan.file.display(),
        plan.name,
        list(plan.replication.topics.iter().map(ToString::to_string).collect()),
        list(plan.replication.groups.iter().map(ToString::to_string).collect()),
        list(plan.apps.iter().map(|app| app.name.clone()).collect()),
    )
}
