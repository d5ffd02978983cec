//! `migrate verify`: compares source and target partition by partition, in both directions, up to
//! each partition's consistent point. Exit 0 only when everything matches, 6 on a difference.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use migrate::exit::{ExitCode, Failure};
use migrate::verify::{self, Progress, VerifyReport};

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::{self, Output};

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, partitions: u64) {
        self.0.set_length(partitions);
    }

    fn done(&self, direction: &str, topic: &str, partition: i32) {
        self.0.set_message(format!("{direction} {topic}/{partition}"));
        self.0.inc(1);
    }
}

pub async fn run(global: &GlobalArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let visible = !output.quiet && !output.json() && std::io::stderr().is_terminal();
    let bar = if visible { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("verify {bar:30} {pos}/{len} partitions {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let report = verify::verify(&plan, &Bar(bar.clone())).await;
    bar.finish_and_clear();
    let report = report.map_err(|cause| Failure::unexpected(format!("cannot verify: {cause}")))?;
    if output.json() {
        output.print_json(&report)?;
    } else {
        output.print(&table(&report));
    }
    let differing = report.partitions.iter().filter(|p| !p.matches()).count();
    if differing > 0 {
        return Err(Failure::user(
            ExitCode::VerifyMismatch,
            format!("{differing} partition(s) differ between the clusters"),
        )
        .with_hint("each ✗ row names the first differing offset on each side")
        .into());
    }
    Ok(ExitCode::Success)
}

pub fn table(report: &VerifyReport) -> String {
    let mut table = output::table(
        vec![
            "",
            "direction",
            "partition",
            "records (origin / copies)",
            "checksum",
            "compared up to",
            "pending",
            "difference",
        ],
        output::terminal_width(),
    );
    for p in &report.partitions {
        table.add_row(vec![
            if p.matches() { "✓" } else { "✗" }.to_string(),
            p.direction.clone(),
            format!("{}/{}", p.topic, p.partition),
            format!("{} / {}", p.origin_records, p.dest_records),
            if p.origin_checksum == p.dest_checksum {
                p.origin_checksum.clone()
            } else {
                format!("{} ≠ {}", p.origin_checksum, p.dest_checksum)
            },
            p.compared_up_to.map_or("nothing copied yet".into(), |o| format!("origin offset {o}")),
            p.pending.to_string(),
            p.mismatch.as_ref().map_or(String::new(), |m| {
                format!(
                    "{}: {} (origin offset {}, destination offset {})",
                    m.kind,
                    m.detail,
                    m.origin_offset.map_or("–".into(), |o| o.to_string()),
                    m.dest_offset.map_or("–".into(), |o| o.to_string())
                )
            }),
        ]);
    }
    let matching = report.partitions.iter().filter(|p| p.matches()).count();
    let records: u64 = report.partitions.iter().map(|p| p.origin_records).sum();
    format!(
        "{table}\nverify: {matching} of {} partition(s) match; {records} record(s) compared",
        report.partitions.len()
    )
}
