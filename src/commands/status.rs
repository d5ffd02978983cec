//! `migrate status`: the running engine's health (from its `/status` endpoint) and where each app
//! runs. Exit 0 when the engine answers, 1 with a hint when it does not.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use migrate::engine::health::CatchUp;
use migrate::engine::{EngineStatus, http};
use migrate::exit::{ExitCode, Failure};
use migrate::gate::{Gate, ReadinessSource, group_thousands};
use migrate::msk::readiness::MskReadiness;
use migrate::plan::{Backend, MskSettings, Plan, Side};
use migrate::settings;
use migrate::state::{Control, StateDir};
use serde_json::Value;

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::{self, Output};

pub async fn run(global: &GlobalArgs, output: &Output, watch: bool) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let files = StateDir::new(settings::state_dir(global.state_dir.as_deref(), &plan));
    if let Backend::Msk(msk) = &plan.backend {
        let msk = (**msk).clone();
        return run_msk(plan, msk, &files, output).await;
    }
    let refresh = watch && !output.json() && std::io::stdout().is_terminal();
    let mut previous: Option<EngineStatus> = None;
    let mut baseline: Option<Baseline> = None;
    // Read before asking the engine, so a corrupt file is named even when no engine runs.
    load_control(&files)?;
    loop {
        let address = http::endpoint(&plan, &files);
        let status =
            tokio::task::spawn_blocking(move || http::fetch_status(address)).await.context("status request")?;
        let status = status.map_err(|cause| {
            Failure::unexpected(format!("the engine does not answer on http://{address}/status: {cause}"))
                .with_hint("start replication with `migrate apply` (it serves /status while it runs)")
        })?;
        let control = load_control(&files)?;
        if output.json() {
            output.print_json(&status)?;
        } else {
            let trend =
                if refresh { Some(baseline.get_or_insert_with(|| Baseline::new(&status)) as &Baseline) } else { None };
            let view = View { width: output::terminal_width(), trend };
            let text = render(&plan, &status, previous.as_ref(), &control, &view);
            if refresh {
                if !output.quiet {
                    redraw(&text, previous.is_none());
                }
            } else {
                output.print(&text);
            }
        }
        if !refresh {
            return Ok(ExitCode::Success);
        }
        previous = Some(status);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Replaces the previous frame of `status --watch` in place: the cursor goes home and each line
/// overwrites the one before (`ESC[K` clears what a longer old line left, `ESC[J` what lies below),
/// so the terminal's scrollback does not fill with old tables. The first frame clears the screen.
fn redraw(text: &str, first: bool) {
    let mut frame = String::from(if first { "\x1b[H\x1b[2J" } else { "\x1b[H" });
    for line in text.lines() {
        frame.push_str(line);
        frame.push_str("\x1b[K\n");
    }
    frame.push_str("\x1b[J");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(frame.as_bytes());
    let _ = stdout.flush();
}

/// How to lay `status` out: the width to fit, and under `--watch` where each flow's lag started.
struct View<'a> {
    width: Option<u16>,
    trend: Option<&'a Baseline>,
}

/// Each flow's replication lag when `--watch` began, for the trend column.
struct Baseline {
    started: Instant,
    lags: BTreeMap<String, i64>,
}

impl Baseline {
    fn new(status: &EngineStatus) -> Self {
        let lags = status.health.flows.iter().map(|(flow, f)| (flow.clone(), f.replication_lag)).collect();
        Self { started: Instant::now(), lags }
    }

    fn trend(&self, flow: &str, lag: i64) -> String {
        lag_trend(self.lags.get(flow).copied(), lag, self.started.elapsed())
    }
}

/// `▲ +2,000 in 80 s`: how a flow's lag moved since the watch began.
fn lag_trend(since: Option<i64>, lag: i64, elapsed: Duration) -> String {
    let Some(since) = since else { return "new flow".into() };
    let delta = lag - since;
    let arrow = match delta.signum() {
        1 => "▲ +",
        -1 => "▼ -",
        _ => "= ",
    };
    format!("{arrow}{} in {} s", group_thousands(delta.unsigned_abs() as f64), elapsed.as_secs())
}

/// Where each app runs. A corrupt `control.json` fails `status` as it fails cutover, rollback and
/// teardown: showing every app on the source would be a guess presented as a fact.
fn load_control(files: &StateDir) -> anyhow::Result<Control> {
    Control::load(&files.control()).map_err(|cause| {
        Failure::unexpected(format!("cannot tell where the apps run: {cause}"))
            .with_hint("control.json is written by cutover and rollback; audit.jsonl logs every move that wrote it")
            .into()
    })
}

fn render(
    plan: &Plan,
    status: &EngineStatus,
    previous: Option<&EngineStatus>,
    control: &Control,
    view: &View,
) -> String {
    let health = &status.health;
    let mut header = vec![
        "flow",
        "MessageLag",
        "replication lag",
        "ReplicationLatency avg / max",
        "ReplicatorThroughput",
        "ReplicatorFailure / AuthError / ThrottleTime",
        "catch-up",
    ];
    if view.trend.is_some() {
        header.insert(3, "lag since watch began");
    }
    let mut table = output::table(header, view.width);
    let mut hints = Vec::new();
    for (flow, f) in &health.flows {
        let (lag, rate) = (f.replication_lag, f.records_per_second);
        let latency = match f.replication_latency_ms {
            Some(l) => format!("{:.0} / {} ms", l.avg, l.max),
            None => "– (nothing copied lately)".into(),
        };
        let catch_up = match f.catch_up() {
            CatchUp::CaughtUp => "caught up".to_string(),
            CatchUp::In { seconds, rate } => format!("~{seconds:.0} s at {rate:.0} records/s"),
            CatchUp::Unknown => "unknown (no progress lately)".into(),
        };
        if let Some(before) = previous.and_then(|p| p.health.flows.get(flow))
            && f.lag_grew_since(before)
        {
            hints.push(format!(
                "{flow}: the lag keeps growing ({} → {lag}): replication is slower than production, usually too few partitions for the throughput",
                before.replication_lag
            ));
        }
        let mut row = vec![
            flow.clone(),
            group_thousands(f.message_lag as f64),
            group_thousands(lag as f64),
            latency,
            format!("{} B/s, {:.0} records/s", group_thousands(f.replicator_throughput.round()), rate),
            format!("{} / {} / {} ms", f.replicator_failure, f.auth_error, f.throttle_time_ms),
            catch_up,
        ];
        if let Some(baseline) = view.trend {
            row.insert(3, baseline.trend(flow, lag));
        }
        table.add_row(row);
    }
    let pings: Vec<String> = health
        .kafka_cluster_ping_success_count
        .iter()
        .map(|(cluster, ok)| format!("{cluster} {}", if *ok == 1 { "✓ reachable" } else { "✗ unreachable" }))
        .collect();
    let apps: Vec<String> =
        plan.apps.iter().map(|app| format!("{} on the {}", app.name, control.side_of(&app.name))).collect();
    let mut prose = vec![
        format!("engine: {} (pid {}), plan `{}`", status.state, status.pid, plan.name),
        format!(
            "clusters (KafkaClusterPingSuccessCount): {}",
            if pings.is_empty() { "not pinged yet".into() } else { pings.join(", ") }
        ),
        format!("apps: {}", if apps.is_empty() { "none".into() } else { apps.join(", ") }),
    ];
    let mut text = wrap_lines(&prose, view.width);
    text.push_str(&format!("{table}\n"));
    prose.clear();
    for alarm in &status.alarms {
        prose.push(format!(
            "✗ {} alarm: {}/{} written natively on the {} (first at offset {}, {} record(s)): offsets no longer translate exactly",
            alarm.kind.as_str(),
            alarm.topic,
            alarm.partition,
            alarm.side,
            alarm.offset,
            alarm.count,
        ));
    }
    if status.alarms.is_empty() {
        prose.push("✓ no split-brain alarm".into());
    }
    text.push_str(&wrap_lines(&prose, view.width));
    text.push_str(&render_groups(status, view.width));
    text.push_str(&render_gate(&status.gate, view.width));
    prose.clear();
    for problem in status.problems.iter().rev().take(3) {
        prose.push(format!("recent problem ({}): {}", problem.flow, problem.message));
    }
    for hint in hints {
        prose.push(String::new());
        prose.push(format!("hint: {hint}"));
    }
    text.push_str(&wrap_lines(&prose, view.width));
    text
}

/// Lines of prose within `width` (at spaces; a continuation is indented by two), each ending in a
/// newline; unchanged when there is no width to fit.
fn wrap_lines(lines: &[String], width: Option<u16>) -> String {
    let mut text = String::new();
    for line in lines {
        let Some(width) = width.map(usize::from).filter(|w| *w > 20) else {
            text.push_str(line);
            text.push('\n');
            continue;
        };
        let mut current = String::new();
        for word in line.split(' ') {
            let length = current.chars().count();
            if length > 0 && length + 1 + word.chars().count() > width && !current.trim().is_empty() {
                text.push_str(current.trim_end());
                text.push('\n');
                current = String::from("  ");
            } else if length > 0 {
                current.push(' ');
            }
            // A word longer than the whole line (a path, a URL) is cut, not left to overflow.
            let mut word = word;
            while current.chars().count() + word.chars().count() > width {
                let room = width.saturating_sub(current.chars().count()).max(1);
                let cut = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
                text.push_str(&current);
                text.push_str(&word[..cut]);
                text.push('\n');
                current = String::from("  ");
                word = &word[cut..];
            }
            current.push_str(word);
        }
        text.push_str(current.trim_end());
        text.push('\n');
    }
    text
}

/// What MSK Replicator's offset sync guarantees, as `plan`, `status` and the README say it.
const MSK_GUARANTEE: &str = "MSK Replicator's consumer group offset sync is at-least-once: a group that moves may read some records again (lagging groups more); each cutover and rollback estimates how many";

/// `status` on the MSK backend: both replicators' state, the gate from CloudWatch and the source
/// cluster, where each app runs. Exit 0 when AWS answered, 1 when it did not.
async fn run_msk(plan: Plan, msk: MskSettings, files: &StateDir, output: &Output) -> anyhow::Result<ExitCode> {
    let clients = migrate::aws::Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
    let mut replicators = Vec::new();
    for direction in migrate::msk::render::directions(&plan) {
        let name = direction.replicator_name(&msk).to_string();
        let found = migrate::msk::find(&clients.kafka, &name).await.map_err(|error| {
            let hint = error.hint();
            Failure::unexpected(format!("cannot read MSK Replicator `{name}`: {error}")).with_hint(hint)
        })?;
        if let Some(replicator) = &found
            && let Err(cause) = migrate::msk::reverse::observe(&files.root, replicator)
        {
            output.warn(&format!("cannot record that {name} runs: {cause}"));
        }
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
        files.root.clone(),
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
    match &gate {
        Ok(gate) => text.push_str(&format!(
            "{}CloudWatch is per minute and late: the window is whole minutes ending {} minutes ago\n",
            render_gate(gate, output::terminal_width()),
            migrate::msk::metrics::LATE_MINUTES
        )),
        Err(error) => text.push_str(&format!("readiness gate: unknown ({error})\n")),
    }
    text.push_str(&format!("note: {MSK_GUARANTEE}\n"));
    output.print(&text);
    Ok(ExitCode::Success)
}

/// Each synchronised group: state and SumOffsetLag per cluster, and whether the passive side holds
/// the exact translation.
fn render_groups(status: &EngineStatus, width: Option<u16>) -> String {
    let groups = &status.groups;
    if groups.groups.is_empty() {
        return String::new();
    }
    let mut table = output::table(
        vec![
            "group",
            "app",
            "active on",
            "source (state, SumOffsetLag)",
            "target (state, SumOffsetLag)",
            "offsets synced",
        ],
        width,
    );
    for (name, group) in &groups.groups {
        let side = |side: Side| {
            let Some(report) = group.sides.get(&side) else { return "?, –".to_string() };
            let lags: Vec<String> = report
                .sum_offset_lag
                .iter()
                .map(|(topic, lag)| format!("{topic} {}", lag.map_or("–".to_string(), |lag| lag.to_string())))
                .collect();
            format!("{}, {}", report.state, if lags.is_empty() { "–".into() } else { lags.join(", ") })
        };
        let synced = if group.in_sync {
            "✓".to_string()
        } else {
            format!("✗ {}", group.pending.first().map_or("", String::as_str))
        };
        table.add_row(vec![
            name.clone(),
            group.app.clone(),
            group.active_side.map_or("?".to_string(), |side| side.to_string()),
            side(Side::Source),
            side(Side::Target),
            synced,
        ]);
    }
    let count = |side: Side| groups.consumer_group_count.get(&side).map_or("–".to_string(), u64::to_string);
    let title = format!(
        "consumer groups (ConsumerGroupCount source {}, target {}; ConsumerGroupOffsetSyncFailure {}):",
        count(Side::Source),
        count(Side::Target),
        groups.consumer_group_offset_sync_failure,
    );
    format!("{}{table}\n", wrap_lines(&[title], width))
}

/// The readiness gate: one line naming what does not hold (as a waiting cutover says it), then
/// every condition with its value, threshold and ✓/✗.
fn render_gate(gate: &Gate, width: Option<u16>) -> String {
    let mut table = output::table(vec!["condition", "value", "threshold", "held for", ""], width);
    for condition in &gate.conditions {
        let value = condition.value.map_or("unknown".to_string(), group_thousands);
        let held = match condition.holding_since_ms {
            Some(since) => format!("{:.0} s", gate.evaluated_at_ms.saturating_sub(since) as f64 / 1000.0),
            None => "–".into(),
        };
        let mark = if condition.sustained { "✓" } else { "✗" };
        table.add_row(vec![condition.label(), value, condition.threshold.clone(), held, mark.into()]);
    }
    let verdict = if gate.open { "open: apps may move".to_string() } else { format!("closed: {}", gate.summary()) };
    let title = format!("readiness gate {verdict}");
    let window = format!("(each condition must hold {} s):", gate.window_ms / 1000);
    format!("{}{table}\n", wrap_lines(&[title, window], width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_trend_says_which_way_and_by_how_much_since_the_watch_began() {
        let minute = Duration::from_secs(80);
        assert_eq!(lag_trend(Some(1_000), 3_000, minute), "▲ +2,000 in 80 s");
        assert_eq!(lag_trend(Some(3_000), 2_500, minute), "▼ -500 in 80 s");
        assert_eq!(lag_trend(Some(7), 7, minute), "= 0 in 80 s");
        assert_eq!(lag_trend(None, 7, minute), "new flow");
    }

    #[test]
    fn prose_wraps_at_spaces_within_the_width_and_cuts_what_cannot() {
        let text = wrap_lines(
            &["apps: orders on the source, order_status on the target, notification on the source".into()],
            Some(40),
        );
        assert!(text.lines().all(|line| line.chars().count() <= 40), "{text}");
        assert_eq!(text, "apps: orders on the source, order_status\n  on the target, notification on the\n  source\n");
        let path = format!("file: /{}", "x".repeat(70));
        let text = wrap_lines(std::slice::from_ref(&path), Some(30));
        assert!(text.lines().all(|line| line.chars().count() <= 30), "{text}");
        assert_eq!(text.replace(['\n', ' '], ""), path.replace(' ', ""), "nothing lost");
        assert_eq!(wrap_lines(std::slice::from_ref(&path), None), format!("{path}\n"), "off a terminal: unchanged");
    }
}
