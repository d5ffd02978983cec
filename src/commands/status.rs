//! `migrate status`: the running engine's health (from its `/status` endpoint) and where each app
//! runs. Exit 0 when the engine answers, 1 with a hint when it does not.

use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;
use comfy_table::{Table, presets};
use migrate::engine::state::{Control, StateFiles};
use migrate::exit::{ExitCode, UserError};
use migrate::plan::Plan;
use migrate::settings;
use serde_json::Value;

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::Output;

pub async fn run(global: &GlobalArgs, output: &Output, watch: bool) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let files = StateFiles::new(settings::state_dir(global.state_dir.as_deref(), &plan));
    let refresh = watch && !output.json() && std::io::stdout().is_terminal();
    let mut previous: Option<Value> = None;
    loop {
        let address = endpoint(&plan, &files);
        let status = tokio::task::spawn_blocking(move || fetch_status(address)).await.context("status request")?;
        let status = status.map_err(|cause| {
            UserError::new(
                ExitCode::Unexpected,
                format!("the engine does not answer on http://{address}/status: {cause}"),
            )
            .with_hint("start replication with `migrate apply` (it serves /status while it runs)")
        })?;
        let control = Control::load(&files.control()).unwrap_or_default();
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

/// The engine's address: what the running engine recorded (it may have picked a free port),
/// else the plan's `engine.listen`.
fn endpoint(plan: &Plan, files: &StateFiles) -> SocketAddr {
    std::fs::read_to_string(files.status())
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|status| status["listen"].as_str().and_then(|a| a.to_socket_addrs().ok()?.next()))
        .unwrap_or(plan.engine.listen)
}

fn fetch_status(address: SocketAddr) -> Result<Value, String> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET /status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("no status line").to_string());
    }
    serde_json::from_str(body).map_err(|e| format!("not the engine's status: {e}"))
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
