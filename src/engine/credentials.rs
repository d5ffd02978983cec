//! The replicator's credentials, re-read while the engine runs.
//!
//! A SCRAM password rotated where the plan reads it (`password: { file: … }`) reaches a running
//! `migrate apply` without an operator's restart: [`reread`] re-reads the plan and, when either
//! cluster's replicator identity changed (read the same twice in a row, and accepted by the
//! cluster), `apply` stops the engine gracefully and starts it again with the new identity, so it
//! resumes from its checkpoints exactly as a restart does. Only the replicator identities are
//! taken from the re-read plan: anything else edited in the file meanwhile waits for the
//! operator's own restart. A variable's value (`env:`) cannot change under a running process; a
//! password read from one needs that restart.

use std::path::Path;

use crate::plan::{self, Plan, Side};

/// The sides whose replicator identity differs between `running` and `latest`.
pub fn changed_sides(running: &Plan, latest: &Plan) -> Vec<Side> {
    [Side::Source, Side::Target]
        .into_iter()
        .filter(|&side| running.cluster(side).replicator_auth != latest.cluster(side).replicator_auth)
        .collect()
}

/// `running` with the replicator identities of `latest`.
pub fn with_replicator_auth_of(running: &Plan, latest: &Plan) -> Plan {
    let mut plan = running.clone();
    plan.source.replicator_auth = latest.source.replicator_auth.clone();
    plan.target.replicator_auth = latest.target.replicator_auth.clone();
    plan
}

/// What re-reading the plan found.
#[derive(Debug)]
pub enum Reread {
    /// The replicator identities are those the engine runs with.
    Unchanged,
    /// `plan` is the running plan with the new identities of `sides`.
    Rotated { plan: Box<Plan>, sides: Vec<Side> },
    /// The plan cannot be read now (being edited, a credential file missing): the engine goes on
    /// with what it has. The message names the file and the problem, never a secret.
    Unreadable(String),
}

/// Re-reads the plan at `path` (with `lookup` for its variables) and compares its replicator
/// identities with `running`'s.
pub fn reread(path: &Path, lookup: &dyn Fn(&str) -> Option<String>, running: &Plan) -> Reread {
    match plan::load(path, lookup) {
        Ok(latest) => {
            let sides = changed_sides(running, &latest);
            if sides.is_empty() {
                Reread::Unchanged
            } else {
                Reread::Rotated { plan: Box::new(with_replicator_auth_of(running, &latest)), sides }
            }
        }
        // The validator's messages never hold a secret.
        Err(error) => Reread::Unreadable(match error.problems.first() {
            Some(problem) => problem.located(&error.file),
            None => error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Auth;

    fn write_plan(dir: &Path, source_password_file: &Path) -> std::path::PathBuf {
        let path = dir.join("plan.yaml");
        std::fs::write(
            &path,
            format!(
                "name: rotation\nsource:\n  bootstrap_servers: 127.0.0.1:9092\n  replicator_auth: {{ mechanism: SCRAM-SHA-512, username: replicator, password: {{ file: {} }} }}\n  app_auth: {{ mechanism: SCRAM-SHA-512, username: app, password: {{ file: {} }} }}\ntarget:\n  bootstrap_servers: 127.0.0.1:9093\n  replicator_auth: {{ mechanism: SCRAM-SHA-512, username: replicator, password: {{ file: {} }} }}\n  app_auth: {{ mechanism: SCRAM-SHA-512, username: app, password: {{ file: {} }} }}\nreplication:\n  topics: [orders]\napps:\n  - name: orders\n    produces: [orders]\n    start: 'true'\n    stop: 'true'\n",
                source_password_file.display(),
                dir.join("app").display(),
                dir.join("target-replicator").display(),
                dir.join("app").display(),
            ),
        )
        .unwrap();
        path
    }

    /// A plan in `dir` whose source replicator's password file holds `password`, and the plan as
    /// the engine would run with it.
    fn running_plan(dir: &Path, password: &str) -> (std::path::PathBuf, Plan) {
        for (file, text) in [("source-replicator", password), ("target-replicator", "t"), ("app", "a")] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let path = write_plan(dir, &dir.join("source-replicator"));
        let running = plan::load(&path, &|_: &str| None).unwrap();
        (path, running)
    }

    #[test]
    fn a_rotated_replicator_password_is_found_and_only_the_identities_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (path, running) = running_plan(dir.path(), "old");
        let none = |_: &str| None;
        assert!(matches!(reread(&path, &none, &running), Reread::Unchanged));

        // The app's password changes too, and a topic is added: neither reaches the engine.
        std::fs::write(dir.path().join("source-replicator"), "new\n").unwrap();
        std::fs::write(dir.path().join("app"), "a2").unwrap();
        let text = std::fs::read_to_string(&path).unwrap().replace("topics: [orders]", "topics: [orders, more]");
        std::fs::write(&path, text).unwrap();
        let Reread::Rotated { plan: rotated, sides } = reread(&path, &none, &running) else { panic!("not rotated") };
        assert_eq!(sides, [Side::Source]);
        let Auth::Scram(scram) = &rotated.source.replicator_auth else { panic!("SCRAM") };
        assert_eq!(scram.password.expose(), "new");
        assert_eq!(rotated.target.replicator_auth, running.target.replicator_auth);
        assert_eq!(rotated.source.app_auth, running.source.app_auth);
        assert_eq!(format!("{:?}", rotated.replication), format!("{:?}", running.replication));
    }

    #[test]
    fn a_plan_that_cannot_be_read_now_keeps_the_engine_going_and_names_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (path, running) = running_plan(dir.path(), "s3cr3t-old");
        let none = |_: &str| None;
        // Mid-rotation: the file emptied before the new password is written.
        std::fs::write(dir.path().join("source-replicator"), "").unwrap();
        let Reread::Unreadable(message) = reread(&path, &none, &running) else { panic!("readable") };
        assert!(message.contains("plan.yaml:"), "{message}");
        assert!(message.contains("source.replicator_auth.password.file") && message.contains("is empty"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
