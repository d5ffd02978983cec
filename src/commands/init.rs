//! `migrate init`: writes a commented example plan for the three demo apps.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use migrate::exit::{ExitCode, Failure};

use crate::cli::GlobalArgs;
use crate::output::Output;

pub const TEMPLATE: &str = include_str!("init.yaml");

pub fn run(global: &GlobalArgs, output: &Output, out: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    let path = out.unwrap_or_else(|| global.plan.clone());
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::user(ExitCode::InvalidInput, format!("{} already exists", path.display()))
                .with_hint("pass --force to overwrite it, or --out FILE to write elsewhere")
                .into());
        }
        Err(error) => return Err(error).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(TEMPLATE.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    if output.json() {
        output.print_json(&serde_json::json!({ "ok": true, "written": path }))?;
    } else {
        output.print(&format!(
            "wrote {}: edit it, then run `migrate -p {} validate` and `migrate -p {} plan`",
            path.display(),
            path.display(),
            path.display()
        ));
    }
    Ok(ExitCode::Success)
}
