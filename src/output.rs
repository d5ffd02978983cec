//! Everything the CLI prints: tables for people, JSON for programs, progress on stderr.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use comfy_table::{Cell, ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use migrate::exit::ExitCode;
use migrate::plan::PlanError;
use migrate::preflight::{Action, Check, Reporter, Status};
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};

/// Whether `-o json` was asked for, and whether a JSON document went to stdout already: read by
/// [`on_interrupt`], which runs on the signal thread.
static JSON_MODE: AtomicBool = AtomicBool::new(false);
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

/// The last word of a command interrupted by SIGINT/SIGTERM (see `migrate::interrupt`).
pub fn on_interrupt() {
    eprintln!("interrupted");
    print_failure_json(ExitCode::Interrupted, "interrupted by SIGINT/SIGTERM", None);
}

fn print_failure_json(code: ExitCode, message: &str, hint: Option<&str>) {
    if !JSON_MODE.load(Ordering::SeqCst) || JSON_PRINTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let document = serde_json::json!({"ok": false, "exit_code": code.code(), "error": message, "hint": hint});
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut stdout, &document);
    let _ = writeln!(stdout);
    let _ = stdout.flush();
}

#[derive(Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
    color: bool,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        JSON_MODE.store(global.output == OutputFormat::Json, Ordering::SeqCst);
        Self { format: global.output, quiet: global.quiet, color }
    }

    /// Progress and facts for a person, on stderr; silent under `--quiet`.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// `warning: …` on stderr, under `--quiet` too: something the operator must know.
    pub fn warn(&self, line: &str) {
        eprintln!("warning: {line}");
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints one JSON document on stdout.
    pub fn print_json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        JSON_PRINTED.store(true, Ordering::SeqCst);
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, value)?;
        writeln!(stdout)?;
        Ok(())
    }

    /// With `-o json`, `{"ok": false, "exit_code", "error", "hint"}` for a command that failed
    /// before it printed its own document; nothing otherwise.
    pub fn failure_json(&self, code: ExitCode, message: &str, hint: Option<&str>) {
        print_failure_json(code, message, hint);
    }

    /// Prints a command's human-readable result on stdout (nothing under --quiet).
    pub fn print(&self, text: &str) {
        if !self.quiet {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
        }
    }

    fn symbol(&self, status: Status) -> String {
        let (symbol, code) = match status {
            Status::Pass => ("✓", "32"),
            Status::Warn => ("⚠", "33"),
            Status::Fail => ("✗", "31"),
        };
        if self.color { format!("\x1b[{code}m{symbol}\x1b[0m") } else { symbol.to_string() }
    }

    pub fn checks_table(&self, checks: &[Check]) -> String {
        let mut table = table(vec!["", "check", "cluster", "detail", "time"], terminal_width());
        for check in checks {
            let mut detail = check.detail.clone();
            if let Some(hint) = &check.hint
                && check.status != Status::Pass
            {
                detail.push_str(&format!("\nfix: {hint}"));
            }
            table.add_row(vec![
                Cell::new(self.symbol(check.status)),
                Cell::new(&check.name),
                Cell::new(&check.cluster),
                Cell::new(detail),
                Cell::new(format_duration(Duration::from_millis(check.duration_ms))),
            ]);
        }
        table.to_string()
    }

    pub fn actions_list(&self, actions: &[Action]) -> String {
        let mut text = String::from("apply would:\n");
        for (i, action) in actions.iter().enumerate() {
            text.push_str(&format!("  {}. {} [{}] {}\n", i + 1, action.kind, action.cluster, action.detail));
        }
        text
    }

    /// Prints a plan's problems: JSON on stdout, or text on stderr.
    pub fn plan_error(&self, error: &PlanError) -> anyhow::Result<()> {
        if self.json() {
            self.print_json(&serde_json::json!({
                "ok": false,
                "plan": error.file,
                "problems": error.problems,
            }))
        } else {
            eprint!("error: {error}");
            Ok(())
        }
    }
}

/// The width the tables must fit: `COLUMNS` when set (a user's choice, and how tests force a
/// width), else the terminal's; `None` off a terminal (a pipe, a CI log), where nothing is wrapped.
pub fn terminal_width() -> Option<u16> {
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|c| *c > 0);
    match columns {
        Some(columns) => Some(columns),
        None if std::io::stdout().is_terminal() => Table::new().width(),
        None => None,
    }
}

/// A table for people: within `width` (cells wrap, never the table), or unwrapped when there is
/// no width to fit (each row on its own line, so `grep` and CI logs see whole rows).
pub fn table(header: Vec<&str>, width: Option<u16>) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_header(header);
    match width {
        Some(width) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table
}

pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", duration.as_secs_f64()) }
}

/// A spinner on stderr naming the running preflight step; hidden when stderr is not a terminal,
/// under --quiet, or with JSON output.
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    pub fn new(output: &Output) -> Self {
        let visible = !output.quiet && !output.json() && std::io::stderr().is_terminal();
        let bar = if visible { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Spinner {
    /// A line above the spinner (or on stderr when it is hidden).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl migrate::msk::Progress for Spinner {
    fn state(&self, replicator: &str, state: &str, waited: Duration) {
        self.bar.set_message(format!("{replicator}: {state} for {}", format_duration(waited)));
    }
}

impl Reporter for Spinner {
    fn step(&self, cluster: &str, step: &str) {
        self.bar.set_message(format!("preflight: {cluster} {step}"));
    }
}
