//! The app's side of a move: its client configuration file and its `stop`/`start` hooks.
//!
//! A hook is a shell command (`sh -c`, in the plan file's directory) with:
//! `MIGRATE_APP`, `MIGRATE_SIDE` (`source`|`target`), `MIGRATE_BOOTSTRAP` (the apps' listener) and
//! `MIGRATE_CLIENT_CONFIG`: a librdkafka-style properties file with the **app's** identity on that
//! side (never the replicator's), mode 0600. For an MSK IAM side, which such a file cannot express,
//! `MIGRATE_AUTH=iam` instead. The file of the side the app runs on stays while it runs there (the
//! app may read it again when it restarts); the other side's is removed when a move completes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::kafka::{Identity, client_config};
use crate::plan::{App, Auth, Plan, Side};
use crate::state::write_atomically_with_mode;

pub const ENV_APP: &str = "MIGRATE_APP";
pub const ENV_SIDE: &str = "MIGRATE_SIDE";
pub const ENV_BOOTSTRAP: &str = "MIGRATE_BOOTSTRAP";
pub const ENV_CLIENT_CONFIG: &str = "MIGRATE_CLIENT_CONFIG";
pub const ENV_AUTH: &str = "MIGRATE_AUTH";

/// The properties a client of `app` needs on `side`, or `None` for an MSK IAM side.
pub fn client_properties(plan: &Plan, app: &App, side: Side) -> Result<Option<String>, String> {
    let cluster = plan.cluster(side);
    let auth = app.auth_on(cluster);
    if *auth == Auth::MskIam {
        return Ok(None);
    }
    let config = client_config(cluster, Identity::App(auth)).map_err(|e| e.to_string())?;
    let mut text = format!("# {}'s client configuration on the {side}, written by migrate\n", app.name);
    // `config_map()` masks secrets (a placeholder instead of the password): read each value back.
    for key in config.config_map().into_keys() {
        // Ours, not the app's: the app names itself.
        if key == "client.id" {
            continue;
        }
        let value = config.get(key).unwrap_or_default();
        if value.contains('\n') {
            return Err(format!("{side}: the value of `{key}` has a line break; a properties file cannot carry it"));
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    Ok(Some(text))
}

/// Writes `text` to `path` with mode 0600 from the first byte, replacing it atomically.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    write_atomically_with_mode(path, text.as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What a hook is told about the side.
pub struct HookEnvironment {
    pub app: String,
    pub side: Side,
    pub bootstrap: String,
    /// The properties file, or `None` for an IAM side.
    pub client_config: Option<PathBuf>,
}

impl HookEnvironment {
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut variables = vec![
            (ENV_APP, self.app.clone()),
            (ENV_SIDE, self.side.to_string()),
            (ENV_BOOTSTRAP, self.bootstrap.clone()),
        ];
        match &self.client_config {
            Some(path) => variables.push((ENV_CLIENT_CONFIG, path.to_string_lossy().into_owned())),
            None => variables.push((ENV_AUTH, "iam".into())),
        }
        variables
    }
}

/// Runs `hook` with `environment`, its output on our stderr (stdout is for data), killed after
/// `timeout` or when `migrate` is interrupted.
///
/// The hook runs in a process group of its own, and a kill is for the whole group: a hook's
/// children (an `ssh`, a `kubectl`, a `sleep`) do not outlive it. The group is registered with
/// [`crate::interrupt`], so even a process exiting on a signal kills it first.
pub fn run_hook(
    hook: &str,
    directory: &Path,
    environment: &HookEnvironment,
    timeout: Duration,
    running_hook: &Path,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command.arg("-c").arg(hook).current_dir(directory).stdin(Stdio::null());
    // The hook's stdout goes to our stderr: `-o json` keeps stdout for the result.
    command.stdout(stderr_handle()?);
    command.env_remove(ENV_CLIENT_CONFIG).env_remove(ENV_AUTH);
    for (name, value) in environment.variables() {
        command.env(name, value);
    }
    // Its own group: a terminal's Ctrl-C reaches migrate, which decides; a kill reaches all of it.
    command.process_group(0);
    let mut child = command.spawn().map_err(|e| format!("cannot run `{hook}`: {e}"))?;
    let group = i32::try_from(child.id()).unwrap_or(0);
    let _guard = crate::interrupt::GroupGuard::register(group);
    let _recorded = RunningHook::record(running_hook, group);
    let deadline = Instant::now() + timeout;
    let stop = |child: &mut std::process::Child| {
        crate::interrupt::kill_group(group, libc::SIGTERM);
        let grace = Instant::now() + Duration::from_millis(500);
        while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group, the leader included.
        crate::interrupt::kill_group(group, libc::SIGKILL);
        let _ = child.wait();
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("`{hook}` failed ({status})")),
            Ok(None) if crate::interrupt::is_interrupted() => {
                stop(&mut child);
                return Err(format!("`{hook}` was killed on an interrupt: its outcome is unknown"));
            }
            Ok(None) if Instant::now() >= deadline => {
                stop(&mut child);
                return Err(format!("`{hook}` did not finish within {} s and was killed", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => return Err(format!("cannot wait for `{hook}`: {error}")),
        }
    }
}

/// The running hook's process group, in the state directory for as long as it runs (see
/// [`crate::state::StateDir::running_hook`]).
struct RunningHook<'a>(&'a Path);

impl<'a> RunningHook<'a> {
    fn record(path: &'a Path, group: i32) -> Option<Self> {
        let started = process_start_time(group)?;
        crate::state::write_atomically(path, format!("{group} {started}\n").as_bytes()).ok()?;
        Some(Self(path))
    }
}

impl Drop for RunningHook<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// A process's start time (clock ticks after boot, `/proc/PID/stat` field 22): with the PID, it
/// names one process even after the PID is reused.
fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Kills the hook an earlier move left running (it was killed with `kill -9`, or its machine
/// lost power mid-hook), so that hook cannot stop or start the app after this move has moved it.
/// Returns what was found, for the operator; `None` when no hook was left or it has ended.
pub fn kill_orphaned_hook(running_hook: &Path) -> Option<String> {
    let text = crate::files::read_text_bounded(running_hook, 64, "the running hook's record").ok()?;
    let _ = std::fs::remove_file(running_hook);
    let mut fields = text.split_whitespace();
    let (group, started): (i32, u64) = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
    let exists = crate::interrupt::group_exists(group);
    // The leader, if still there, must be the hook's own shell: a PID in use as a process group
    // is never handed out again, so a group still there whose leader is gone is the hook's.
    let ours = process_start_time(group).is_none_or(|now| now == started);
    if !(exists && ours) {
        return None;
    }
    crate::interrupt::kill_group(group, libc::SIGTERM);
    let grace = Instant::now() + Duration::from_millis(500);
    while Instant::now() < grace && crate::interrupt::group_exists(group) {
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::interrupt::kill_group(group, libc::SIGKILL);
    Some(format!(
        "the hook of the interrupted run was still running (process group {group}): killed; its outcome is unknown"
    ))
}

fn stderr_handle() -> Result<Stdio, String> {
    use std::os::fd::AsFd;
    let owned =
        std::io::stderr().as_fd().try_clone_to_owned().map_err(|e| format!("cannot pass stderr to a hook: {e}"))?;
    Ok(Stdio::from(owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 20, `faults::kill_9_of_the_command_in_each_step_then_the_opposite_command`):
    /// a cutover killed with `kill -9` in its stop hook left the hook running; the rollback that
    /// undid the move started the app, then the old hook stopped it, and the undo failed.
    #[test]
    fn a_hook_left_running_by_a_killed_move_is_killed_and_a_stale_record_kills_nothing() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("hook.pid");
        let mut orphan = Command::new("sh").args(["-c", "sleep 30; true"]).process_group(0).spawn().unwrap();
        let group = orphan.id() as i32;
        std::fs::write(&record, format!("{group} {}\n", process_start_time(group).unwrap())).unwrap();
        let found = kill_orphaned_hook(&record).expect("the orphan is found");
        assert!(found.contains(&group.to_string()), "{found}");
        let status = orphan.wait().unwrap();
        assert!(!status.success(), "killed, not finished: {status}");
        assert!(!record.exists(), "the record goes with the hook");

        // A record whose process is someone else's now (another start time): nothing is killed.
        let mut bystander = Command::new("sh").args(["-c", "sleep 30"]).process_group(0).spawn().unwrap();
        let group = bystander.id() as i32;
        std::fs::write(&record, format!("{group} 1\n")).unwrap();
        assert_eq!(kill_orphaned_hook(&record), None);
        assert!(bystander.try_wait().unwrap().is_none(), "the bystander still runs");
        bystander.kill().unwrap();
        let _ = bystander.wait();
        // No record, or a hook that has ended: nothing to say.
        assert_eq!(kill_orphaned_hook(&record), None);
    }

    /// Regression: rdkafka's `config_map()` replaces `sasl.password` with a placeholder; the file
    /// must carry the real password, the app's own, never the replicator's.
    #[test]
    fn the_client_configuration_carries_the_apps_real_credentials() {
        let text = "name: t\nsource:\n  bootstrap_servers: s:9092\n  replicator_auth: { mechanism: SCRAM-SHA-512, username: repl, password: { env: REPL_PW } }\n  app_auth: { mechanism: SCRAM-SHA-512, username: app, password: { env: APP_PW } }\ntarget:\n  bootstrap_servers: t:9092\n  replicator_auth: { mechanism: SCRAM-SHA-512, username: repl, password: { env: REPL_PW } }\n  app_auth: { mechanism: SCRAM-SHA-512, username: app, password: { env: APP_PW } }\nreplication:\n  topics: [orders]\napps:\n  - name: orders\n    produces: [orders]\n";
        let lookup = |name: &str| match name {
            "REPL_PW" => Some("replicator-secret".to_string()),
            "APP_PW" => Some("app-secret=with=equals".to_string()),
            _ => None,
        };
        let plan = crate::plan::parse(Path::new("plan.yaml"), text, &lookup).expect("valid plan");
        let properties = client_properties(&plan, &plan.apps[0], Side::Target).unwrap().unwrap();
        assert!(properties.contains("sasl.password=app-secret=with=equals\n"), "{properties}");
        assert!(properties.contains("sasl.username=app\n"), "{properties}");
        assert!(properties.contains("bootstrap.servers=t:9092\n"), "{properties}");
        assert!(!properties.contains("replicator-secret") && !properties.contains("repl\n"), "{properties}");
    }

    #[test]
    fn the_file_is_private_from_its_first_byte() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients/app.target.properties");
        write_private(&path, "a=b\n").unwrap();
        write_private(&path, "a=c\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=c\n");
    }
}
