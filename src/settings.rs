//! Settings resolved in one place: CLI flag > environment > plan file > default.
//!
//! The environment variable names are part of the documented interface (README, `--help`).

use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// The plan file (`-p/--plan`).
pub const ENV_PLAN: &str = "MIGRATE_PLAN";
/// The state directory (`--state-dir`).
pub const ENV_STATE_DIR: &str = "MIGRATE_STATE_DIR";
/// The default plan file name.
pub const DEFAULT_PLAN: &str = "migrate.yaml";

/// Seconds an MSK IAM token is announced to librdkafka as valid, when shorter than the 900 s its
/// signature is good for: librdkafka fetches a fresh one at 80 % of it. For brokers that end
/// sessions sooner (the tests' validator), or to rotate tokens more often.
pub const ENV_IAM_TOKEN_LIFETIME: &str = "MIGRATE_IAM_TOKEN_LIFETIME";

/// The variables `plans/local.yaml` reads; listed here so docs and scripts agree.
pub const ENV_SOURCE_BOOTSTRAP: &str = "MIGRATE_SOURCE_BOOTSTRAP";
pub const ENV_TARGET_BOOTSTRAP: &str = "MIGRATE_TARGET_BOOTSTRAP";
pub const ENV_SOURCE_REPLICATOR_BOOTSTRAP: &str = "MIGRATE_SOURCE_REPLICATOR_BOOTSTRAP";
pub const ENV_TARGET_REPLICATOR_BOOTSTRAP: &str = "MIGRATE_TARGET_REPLICATOR_BOOTSTRAP";
pub const ENV_SOURCE_USERNAME: &str = "MIGRATE_SOURCE_USERNAME";
pub const ENV_SOURCE_PASSWORD: &str = "MIGRATE_SOURCE_PASSWORD";
pub const ENV_TARGET_USERNAME: &str = "MIGRATE_TARGET_USERNAME";
pub const ENV_TARGET_PASSWORD: &str = "MIGRATE_TARGET_PASSWORD";

/// The state directory: the flag (or its variable, which clap folds into the flag), else the
/// plan's `state_dir`, else `.migrate/<plan name>` beside the plan file.
pub fn state_dir(flag: Option<&Path>, plan: &Plan) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = &plan.state_dir {
        return dir.clone();
    }
    let base = plan.file.parent().unwrap_or(Path::new("."));
    base.join(".migrate").join(&plan.name)
}
