//! One thin module per subcommand: parsed arguments → options → the core → printed result.

pub mod apply;
pub mod completions;
pub mod cutover;
pub mod init;
pub mod plan;
pub mod render;
pub mod status;
pub mod teardown;
pub mod validate;
pub mod verify;

use migrate::exit::{ExitCode, Failure};
use migrate::plan::{self as plan_model, Plan};

use crate::output::Output;

/// Loads the plan, printing every problem and failing with exit 2 when it is invalid.
pub fn load_plan(path: &std::path::Path, output: &Output) -> anyhow::Result<Plan> {
    match plan_model::load(path, &plan_model::process_env) {
        Ok(plan) => Ok(plan),
        Err(error) => {
            output.plan_error(&error)?;
            Err(Failure::user(ExitCode::InvalidInput, format!("{} is not a valid plan", path.display()))
                .silent()
                .into())
        }
    }
}
