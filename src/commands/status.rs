//! `migrate status`: the running engine's health (from its `/status` endpoint) and where each app
//! runs. Exit 0 when the engine answers, 1 with a hint when it does not.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use comfy_table::{Table, presets};
use migrate::cutover::ReadinessSource;
use migrate::engine::http;
use migrate::engine::state::{Control, StateFiles};
use migrate::exit::{ExitCode, UserError};
use migrate::msk::readiness::MskReadiness;
use migrate::plan::{Backend, Plan};
use migrate::settings;
use serde_json::Value;

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::Output;

pub async fn run(global: &GlobalArgs, output: &Output, watch: bool) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let files = StateFiles::new(settings::state_dir(global.state_dir.as_deref(), &plan));
    if plan.replication.backend == Backend::Msk {
        return run_msk(plan, &files, output).await;
    }
    let refresh = watch && !output.json() && std::io::stdout().is_terminal();
    let mut previous: Option<Value> = None;
    // Read before asking the engine, so a corrupt file is named even when no engine runs.
    load_control(&files)?;
    loop {
        let address = http::endpoint(&plan, &files);
        let status =
            tokio::task::spawn_blocking(move || http::fetch_status(address)).await.context("status request")?;
        let status = status.map_err(|cause| {
            UserError::new(
                ExitCode::Unexpected,
                format!("the engine does not answer on http://{address}/status: {cause}"),
            )
            .with_hint("start replication with `migrate apply` (it serves /status while it runs)")
        })?;
        let control = load_control(&files)?;
        if output.json() {
            output.print_json(&status)?;
        } else {
            if refresh {
                print!("\x1b[2J\x1b[H");
            }
            output.print(&render(&plan, &status, previous.as_ref(), &control));
        }
        if !refresh {
            return Ok(ExitCode::Success);
        }
        previous = Some(status);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Where each app runs. A corrupt `control.json` fails `status` as it fails cutover, rollback and
/// teardown: showing every app on the source would be a guess presented as a fact.
fn load_control(files: &StateFiles) -> anyhow::Result<Control> {
    Control::load(&files.control()).map_err(|cause| {
        UserError::new(ExitCode::Unexpected, format!("cannot tell where the apps run: {cause}"))
            .with_hint("control.json is written by cutover and rollback; audit.jsonl logs every move that wrote it")
            .into()
    })
}

fn render(plan: &Plan, status: &Value, previous: Option<&Value>, control: &Control) -> String {
    let health = &status["health"];
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "flow",
        "MessageLag",
        "replication lag",
        "ReplicationLatency (avg/max)",
        "ReplicatorThroughput",
        "ReplicatorFailure",
        "AuthError",
        "ThrottleTime",
        "catch-up",
    ]);
    let mut hints = Vec::new();
    for (flow, f) in health["flows"].as_object().into_iter().flatten() {
        let lag = f["replication_lag"].as_i64().unwrap_or(0);
        let rate = f["records_per_second"].as_f64().unwrap_or(0.0);
        let latency = match f["replication_latency_ms"].as_object() {
            Some(l) => format!("{:.0} / {} ms", l["avg"].as_f64().unwrap_or(0.0), l["max"].as_i64().unwrap_or(0)),
            None => "– (nothing copied lately)".into(),
        };
        let catch_up = match (lag, rate) {
            (0, _) => "caught up".to_string(),
            (_, r) if r > 0.0 => format!("~{:.0} s at {:.0} records/s", lag as f64 / r, r),
            _ => "unknown (no progress lately)".into(),
        };
        if let Some(before) = previous.and_then(|p| p["health"]["flows"][flow]["replication_lag"].as_i64())
            && lag > before
            && before > 0
        {
            hints.push(format!(
                "{flow}: the lag keeps growing ({before} → {lag}): replication is slower than production, usually too few partitions for the throughput"
            ));
        }
        table.add_row(vec![
            flow.clone(),
            f["message_lag"].to_string(),
            lag.to_string(),
            latency,
            format!("{:.0} B/s ({:.0} records/s)", f["replicator_throughput"].as_f64().unwrap_or(0.0), rate),
            f["replicator_failure"].to_string(),
            f["auth_error"].to_string(),
            format!("{} ms", f["throttle_time_ms"]),
            catch_up,
        ]);
    }
    let pings: Vec<String> = health["kafka_cluster_ping_success_count"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(cluster, ok)| format!("{cluster} {}", if ok == 1 { "✓ reachable" } else { "✗ unreachable" }))
        .collect();
    let apps: Vec<String> =
        plan.apps.iter().map(|app| format!("{} on the {}", app.name, control.side_of(&app.name))).collect();
    let mut text = format!(
        "engine: {} (pid {}), plan `{}`\nclusters (KafkaClusterPingSuccessCount): {}\napps: {}\n{table}\n",
        status["state"].as_str().unwrap_or("?"),
        status["pid"],
        plan.name,
        if pings.is_empty() { "not pinged yet".into() } else { pings.join(", ") },
        if apps.is_empty() { "none".into() } else { apps.join(", ") },
    );
    match status["alarms"].as_array() {
        Some(alarms) if !alarms.is_empty() => {
            for alarm in alarms {
                text.push_str(&format!(
                    "✗ {} alarm: {}/{} written natively on the {} (first at offset {}, {} record(s)): offsets no longer translate exactly\n",
                    alarm["kind"].as_str().unwrap_or("?"),
                    alarm["topic"].as_str().unwrap_or("?"),
                    alarm["partition"],
                    alarm["side"].as_str().unwrap_or("?"),
                    alarm["offset"],
                    alarm["count"],
                ));
            }
        }
        _ => text.push_str("✓ no split-brain alarm\n"),
    }
    text.push_str(&render_groups(status));
    text.push_str(&render_gate(status));
    for problem in status["problems"].as_array().into_iter().flatten().rev().take(3) {
        text.push_str(&format!(
            "recent problem ({}): {}\n",
            problem["flow"].as_str().unwrap_or("?"),
            problem["message"].as_str().unwrap_or("")
        ));
    }
    for hint in hints {
        text.push_str(&format!("\nhint: {hint}\n"));
    }
    text
}

/// What MSK Replicator's offset sync guarantees, as `plan`, `status` and the README say it.
const MSK_GUARANTEE: &str = "MSK Replicator's consumer group offset sync is at-least-once: a group that moves may read some records again (lagging groups more); each cutover and rollback estimates how many";

/// `status` on the MSK backend: both replicators' state, the gate from CloudWatch and the source
/// cluster, where each app runs. Exit 0 when AWS answered, 1 when it did not.
async fn run_msk(plan: Plan, files: &StateFiles, output: &Output) -> anyhow::Result<ExitCode> {
    let Some(msk) = plan.msk.clone() else { anyhow::bail!("an msk plan without its `msk` section") };
    let clients = migrate::aws::Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
    let mut replicators = Vec::new();
    for direction in migrate::aws::render::directions(&plan) {
        let name = direction.replicator_name(&msk).to_string();
        let found = migrate::msk::find(&clients.kafka, &name).await.map_err(|error| {
            let hint = error.hint();
            UserError::new(ExitCode::Unexpected, format!("cannot read MSK Replicator `{name}`: {error}"))
                .with_hint(hint)
        })?;
        let state = found.map_or("absent".to_string(), |r| r.state);
        replicators.push(serde_json::json!({"name": name, "direction": direction.slug(), "state": state}));
    }
    let all_running = replicators.iter().all(|r| r["state"] == "RUNNING");
    let control = load_control(files)?;
    let readiness = MskReadiness::new(
        plan.clone(),
        clients.kafka,
        clients.cloudwatch,
        tokio::runtime::Handle::current(),
        files.control(),
    );
    let gate = if all_running {
        tokio::task::spawn_blocking(move || readiness.gate()).await.context("the gate's thread")?
    } else {
        Err("the gate needs both replicators RUNNING: run `migrate apply`".to_string())
    };
    let apps: serde_json::Map<String, Value> =
        plan.apps.iter().map(|app| (app.name.clone(), Value::from(control.side_of(&app.name).as_str()))).collect();
    let (gate_json, gate_error) = match &gate {
        Ok(gate) => (serde_json::to_value(gate)?, None),
        Err(error) => (Value::Null, Some(error.clone())),
    };
    if output.json() {
        output.print_json(&serde_json::json!({
            "backend": "msk",
            "replicators": replicators,
            "gate": gate_json,
            "gate_error": gate_error,
            "apps": apps,
            "guarantees": MSK_GUARANTEE,
        }))?;
        return Ok(ExitCode::Success);
    }
    let mut text = format!("backend: MSK Replicator, plan `{}`\n", plan.name);
    for replicator in &replicators {
        text.push_str(&format!(
            "replicator {} ({}): {}\n",
            replicator["name"].as_str().unwrap_or("?"),
            replicator["direction"].as_str().unwrap_or("?"),
            replicator["state"].as_str().unwrap_or("?")
        ));
    }
    let sides: Vec<String> =
        apps.iter().map(|(app, side)| format!("{app} on the {}", side.as_str().unwrap_or("?"))).collect();
    text.push_str(&format!("apps: {}\n", if sides.is_empty() { "none".into() } else { sides.join(", ") }));
    match gate_error {
        None => text.push_str(&format!(
            "{}CloudWatch is per minute and late: the window is whole minutes ending {} minutes ago\n",
            render_gate(&serde_json::json!({"gate": gate_json})),
            migrate::msk::metrics::LATE_MINUTES
        )),
        Some(error) => text.push_str(&format!("readiness gate: unknown ({error})\n")),
    }
    text.push_str(&format!("note: {MSK_GUARANTEE}\n"));
    output.print(&text);
    Ok(ExitCode::Success)
}

/// Each synchronised group: state and SumOffsetLag per cluster, and whether the passive side holds
/// the exact translation.
fn render_groups(status: &Value) -> String {
    let groups = &status["groups"];
    let Some(entries) = groups["groups"].as_object().filter(|g| !g.is_empty()) else {
        return String::new();
    };
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "group",
        "app",
        "active on",
        "source (state, SumOffsetLag)",
        "target (state, SumOffsetLag)",
        "offsets synced",
    ]);
    for (name, group) in entries {
        let side = |side: &str| {
            let report = &group["sides"][side];
            let lags: Vec<String> = report["sum_offset_lag"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(topic, lag)| {
                    format!("{topic} {}", if lag.is_null() { "–".to_string() } else { lag.to_string() })
                })
                .collect();
            format!(
                "{}, {}",
                report["state"].as_str().unwrap_or("?"),
                if lags.is_empty() { "–".into() } else { lags.join(", ") }
            )
        };
        let synced = if group["in_sync"] == true {
            "✓".to_string()
        } else {
            format!("✗ {}", group["pending"][0].as_str().unwrap_or(""))
        };
        table.add_row(vec![
            name.clone(),
            group["app"].as_str().unwrap_or("?").to_string(),
            group["active_side"].as_str().unwrap_or("?").to_string(),
            side("source"),
            side("target"),
            synced,
        ]);
    }
    format!(
        "consumer groups (ConsumerGroupCount source {}, target {}; ConsumerGroupOffsetSyncFailure {}):\n{table}\n",
        groups["consumer_group_count"]["source"],
        groups["consumer_group_count"]["target"],
        groups["consumer_group_offset_sync_failure"],
    )
}

/// The readiness gate: every condition with its value, threshold and ✓/✗.
fn render_gate(status: &Value) -> String {
    let gate = &status["gate"];
    let window = gate["window_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    let evaluated = gate["evaluated_at_ms"].as_u64().unwrap_or(0);
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["condition", "value", "threshold", "held for", ""]);
    for condition in gate["conditions"].as_array().into_iter().flatten() {
        let label = match condition["cluster"].as_str() {
            Some(cluster) => format!("{} ({cluster})", condition["name"].as_str().unwrap_or("?")),
            None => condition["name"].as_str().unwrap_or("?").to_string(),
        };
        let value = match condition["value"].as_f64() {
            Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
            Some(v) => format!("{v:.1}"),
            None => "unknown".into(),
        };
        let held = match condition["holding_since_ms"].as_u64() {
            Some(since) => format!("{:.0} s", evaluated.saturating_sub(since) as f64 / 1000.0),
            None => "–".into(),
        };
        let mark = if condition["sustained"] == true { "✓" } else { "✗" };
        table.add_row(vec![label, value, condition["threshold"].as_str().unwrap_or("").to_string(), held, mark.into()]);
    }
    let verdict = if gate["open"] == true { "open: apps may move" } else { "closed" };
    format!("readiness gate ({verdict}; each condition must hold {window:.0} s):\n{table}\n")
}
