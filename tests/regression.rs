//! Regression tests for the defects hostile input found (issue 20, part A), one named after each.
//! None needs a Kafka broker: the plans point at addresses where nothing answers, or at a socket
//! that accepts and never replies.
//!
//! # Every regression test of the suite
//!
//! One line per test that pins a bug found and fixed, `file::test` → what broke; a new one gets
//! its line here. This file's, issue 20's hostile input:
//!
//! - `regression::stack_overflow_on_deep_block_nesting` → an 11 KB plan nesting a block sequence
//!   5,000 deep overflowed the stack and aborted every command
//! - `regression::quadratic_parsing_of_deep_flow_nesting_and_long_keys` → 100,000-deep flow
//!   nesting and a 1 MB key took quadratic time to parse
//! - `regression::unbounded_and_blocking_reads_of_password_files` → a credential file that is
//!   `/dev/zero`, a FIFO or 1 GiB was read without bound, or blocked
//! - `regression::unbounded_and_blocking_reads_of_state_files` → a state file replaced by a FIFO
//!   or `/dev/zero` hung `status`, `cutover` and `rollback`
//! - `regression::signals_ignored_while_work_runs_exit_130_within_a_second` → SIGINT and SIGTERM
//!   were ignored while `plan`, `verify` or `apply` waited on a silent broker
//! - `regression::ctrl_c_during_the_gate_wait_leaves_no_blocking_move_and_is_audited` → Ctrl-C
//!   (or `kill -9`) in the gate wait left a `move.json` that blocked every other app, unaudited
//! - `regression::hooks_outlive_an_interrupted_migrate` → an interrupted `migrate` left its
//!   hook's children running
//! - `regression::teardown_ignores_the_move_lock_and_unfinished_moves` → `teardown` ran over an
//!   unfinished move and over a held move lock
//! - `regression::panic_on_inconsistent_move_json` → a `move.json` whose next step is past its
//!   steps panicked
//! - `regression::status_hides_a_corrupt_control_json` → `status` hid a corrupt `control.json`
//! - `regression::json_output_prints_nothing_on_failure` → `-o json` printed nothing when a
//!   command failed
//! - `regression::a_move_json_for_an_app_no_longer_in_the_plan_is_a_dead_end` → an unfinished
//!   move of an app removed from the plan blocked every command without saying how out
//! - `regression::timeout_rejects_durations_that_wait_accepts` → `--timeout` refused the
//!   durations (`2s`, `1m`) that `--wait` accepts
//! - `regression::verbose_logs_write_colour_escapes_when_not_a_terminal` → `-vv` logs wrote
//!   colour escapes into files and pipes
//! - `regression::verify_says_what_is_wrong_for_an_unreachable_cluster` → `verify` said an
//!   unreachable cluster "reports no cluster ID"
//!
//! The other files' (each test's comment tells the story):
//!
//! - `app_permissions::sync_records_only_what_it_created_not_a_binding_that_appeared_after_preflight`
//!   → `sync` recorded someone else's binding as its own, and `teardown --remove-synced-acls`
//!   deleted it
//! - `broker_script::a_cluster_id_starting_with_a_dash_formats` → one random KRaft cluster ID in
//!   64 starts with `-`, and the storage tool never formatted it
//! - `broker_script::a_brokers_ports_are_never_the_same_port_twice` → a test broker was given
//!   the same port for two listeners (separate free-port picks) and refused to format
//! - `broker_script::a_second_install_installs_nothing` → `scripts/install.sh` reinstalled
//!   parliament on every run (its version check broke a pipe under pipefail)
//! - `cutover::kill_9_of_a_broker_in_the_middle_of_a_move_completes_or_reverts_it_exactly_once` →
//!   librdkafka's DescribeConsumerGroups aborted the engine (`eonce->refcnt > 0`, librdkafka issue
//!   4605), and a reader answered stale errors for 2 minutes after a broker restart
//! - `cutover::undoing_a_move_interrupted_before_stop_needs_nothing_put_back` → undoing it ran
//!   the command again from inside itself, which found its own lock taken
//! - `engine::verify_passes_on_equal_clusters_while_replication_runs` → `verify` counted copies
//!   made after it measured a partition's end as extra records
//! - `engine::with_latest_a_topic_that_appears_later_is_copied_from_its_beginning` → with
//!   `starting_position: latest`, a topic appearing while the engine ran lost what was written
//!   before its pickup
//! - `engine::a_trickle_over_many_partitions_is_acknowledged_as_it_is_copied` → one producer
//!   event served per pass: delivery reports fell behind a trickle, the lag and latency grew
//!   and the demo's gate never opened
//! - `kafka4::the_fence_sees_a_group_on_the_consumer_protocol_which_describegroups_calls_dead` →
//!   the fence read a KIP-848 group, still consuming, as the classic DescribeGroups' "Dead"
//! - `kafka4::an_older_sources_topic_reaches_a_4x_target_without_the_configs_4_0_removed` → a 3.x
//!   topic's `message.timestamp.difference.max.ms` made CreateTopics fail on a 4.x target
//! - `cutover::hooks::tests::a_hook_left_running_by_a_killed_move_is_killed_and_a_stale_record_kills_nothing`
//!   (unit) and `faults::kill_9_of_the_command_in_each_step_then_the_opposite_command` → a move
//!   killed with `kill -9` in its stop hook left the hook running, which stopped the app after the
//!   undoing rollback had started it
//! - `faults::a_full_disk_under_the_state_directory_refuses_the_move_and_loses_nothing` → a
//!   state file written on a full disk left its half-written temporary (`.move.json.tmp`) behind
//! - `faults::smoke_one_cut_of_the_engines_link` → with the engine's link to a cluster cut, its
//!   topic sync's metadata requests blocked the engine's loop and its status went unpublished:
//!   the gate showed open, stale, for 21–25 s of a 60 s cut
//! - `faults::smoke_one_kill_of_the_command_and_one_of_the_engine` → an engine restarted in the
//!   middle of a move (`listen: …:0`, a new port) was never found: the move kept asking the old
//!   port, its switch failed after 30 s, and so did its revert
//! - `faults::rotated_passwords_reach_the_running_engine_and_the_next_move` → the engine's
//!   `/metrics` and `/status` server outlived its run: a restart in the same process could not
//!   bind the address again while the old server went on serving the first run's last status
//! - `scripts/demo.sh` (its last check, CI's `demo` phase) → a move restarted the demo's orders
//!   app at its default 50 orders/s instead of the demo's rate
//! - `iam::the_exactly_once_check_allows_the_record_in_flight_and_nothing_more` → (harness) the
//!   IAM moves test read the writer's record in flight as one too many and failed CI
//! - `least_privilege::each_required_acl_missing_alone_is_named_and_its_grant_command_restores_it`
//!   → the engine's ACLs were MSK Replicator's list (demanding what it never does, missing what
//!   it does), and an empty DescribeAcls answer hid a missing Describe on the cluster
//! - `least_privilege::the_engine_itself_fails_without_each_acl_its_copy_and_offset_sync_need` →
//!   a refused DescribeConfigs read as "no configs": the topic was created with the target's
//!   defaults, silently
//! - `msk_iam::an_admin_client_over_iam_gets_its_token_unpolled` → an admin client over IAM
//!   waited for a token forever (rdkafka never serves an admin client's token requests)
//! - `msk_replicators::reverse_replication::a_gate_waited_across_the_reverse_replicators_creation_records_its_sighting_before_the_app_moves`
//!   → `cutover --wait` across the reverse replicator's creation recorded no sighting, so the
//!   app's next cutover was refused
//! - `preflight::a_wrong_password_fails_the_login_check` → Apache Kafka's "invalid credentials"
//!   refusal got only the generic hint, not "the password is wrong"
//! - `preflight::password_files_are_never_seen_empty_by_concurrent_tests` → (harness) concurrent
//!   tests rewrote the shared password files, and a plan read one empty
//! - `scenarios::a_transactional_order_status_moves_and_comes_back_exactly_once` → the flow into
//!   the cluster an app left never started once its partitions ended in commit markers
//! - `scenarios::the_orders_app_never_counts_an_order_that_was_not_written` → the demo's orders
//!   app counted an order whose delivery had failed
//! - `scenarios::an_app_refuses_a_client_configuration_without_bootstrap_servers` → a demo app
//!   handed an empty client configuration waited for brokers it would never know
//! - `scenarios::the_demo_stop_hook_takes_an_exited_app_not_yet_reaped_as_stopped` → the demo's
//!   stop hook waited for an exited app to be reaped: 1.6–4.3 s of every move's downtime
//! - `teardown::teardown_refuses_while_records_are_not_yet_replicated` → `teardown` counted only
//!   `verify`'s mismatches, so a record never copied let it remove the replication
//! - `tls::tls_on_the_replicators_listener_only_leaves_the_apps_listener_plaintext` → preflight
//!   probed the apps' plaintext listener with TLS when only the replicator's spoke it
//! - `transactions::a_destination_ending_in_transaction_markers_does_not_stall_the_flow_into_it` →
//!   a flow's resume waited for a record at a commit marker's offset, then its scan skipped the
//!   end check past a high watermark: the flow into that cluster never started

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Run, free_port, migrate, poll_until, wait_status};

/// A plan with two apps and no credentials, its engine's address where nothing listens.
struct World {
    dir: tempfile::TempDir,
    plan: PathBuf,
    state: PathBuf,
    /// The plan's `engine.listen` port.
    engine_port: u16,
}

impl World {
    fn new(extra_app: &str) -> Self {
        Self::with_bootstrap("source.invalid:9092", "target.invalid:9092", extra_app)
    }

    fn with_bootstrap(source: &str, target: &str, extra_app: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.yaml");
        let port = free_port();
        std::fs::write(
            &plan,
            format!(
                "name: hostile\nsource:\n  bootstrap_servers: {source}\n  replicator_auth: {{mechanism: none}}\n  app_auth: {{mechanism: none}}\ntarget:\n  bootstrap_servers: {target}\n  replicator_auth: {{mechanism: none}}\n  app_auth: {{mechanism: none}}\nreplication:\n  topics: [orders]\nengine:\n  listen: 127.0.0.1:{port}\napps:\n  - name: orders\n    produces: [orders]\n{extra_app}"
            ),
        )
        .unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        Self { dir, plan, state, engine_port: port }
    }

    /// An engine that does not answer, on the plan's engine port: it takes each connection and
    /// closes it at once, so the gate reads "the engine does not answer" as where nothing listens,
    /// and counts them: a test sees when a command asks the gate.
    fn dead_engine(&self) -> Arc<AtomicUsize> {
        let listener = TcpListener::bind(("127.0.0.1", self.engine_port)).unwrap();
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        asked
    }

    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["-p", self.plan.to_str().unwrap(), "--state-dir", self.state.to_str().unwrap()];
        args.extend_from_slice(rest);
        args
    }

    fn run(&self, rest: &[&str]) -> Run {
        migrate(&self.args(rest), &[], &[])
    }

    fn spawn(&self, rest: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(self.args(rest))
            .env_remove("MIGRATE_PLAN")
            .env_remove("MIGRATE_STATE_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default()
    }
}

/// Waits `within` for `child` to exit; kills it and fails the test if it is still running then.
fn finish(mut child: Child, within: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let status = wait_status(&mut child, within).unwrap_or_else(|| panic!("migrate still ran after {within:?}"));
    let took = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (Run { code: status.code().unwrap_or(-1), stdout, stderr }, took)
}

fn signal(child: &Child, signal: i32) -> Instant {
    // SAFETY: kill takes plain integers.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    Instant::now()
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", run.stdout))
}

/// A move of `orders` (cutover from the source) as migrate writes it, `next` steps done.
fn move_json(next: usize, stop_started: bool) -> String {
    let steps = ["gate", "stop", "fence", "drain", "switch", "configure", "start", "verify"]
        .iter()
        .enumerate()
        .map(|(i, kind)| format!("{{\"kind\": \"{kind}\", \"side\": \"{}\"}}", if i < 4 { "source" } else { "target" }))
        .collect::<Vec<_>>()
        .join(", ");
    let stop = if stop_started { "1" } else { "null" };
    format!(
        "{{\"app\": \"orders\", \"command\": \"cutover\", \"from\": \"source\", \"to\": \"target\", \"started_at_ms\": 1, \"stop_started_at_ms\": {stop}, \"steps\": [{steps}], \"next\": {next}, \"reverting\": false, \"failure\": null, \"log\": []}}"
    )
}

// 1. Stack overflow on deep block nesting.

#[test]
fn stack_overflow_on_deep_block_nesting() {
    let world = World::new("");
    // `topics:` as a block sequence nested 5,000 levels: 11 KB that aborted every command.
    let text = format!("name: deep\nreplication:\n  topics:\n    {}orders\n", "- ".repeat(5000));
    std::fs::write(&world.plan, &text).unwrap();
    let started = Instant::now();
    let run = world.run(&["-o", "json", "validate"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let document = json(&run);
    assert_eq!(document["ok"], false);
    let problem = &document["problems"][0];
    assert!(problem["message"].as_str().unwrap().contains("nested deeper than 64 levels"), "{problem}");
    assert_eq!(problem["line"], 4, "the position of the first level too deep: {problem}");
    assert!(problem["column"].as_u64().unwrap() > 120, "{problem}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Every command that loads the plan says the same, with file:line:column.
    let run = world.run(&["status"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("plan.yaml:") && run.stderr.contains("too complex"), "{}", run.stderr);
}

// 2. Quadratic parsing of deep flow nesting and of a long unknown key.

#[test]
fn quadratic_parsing_of_deep_flow_nesting_and_long_keys() {
    let world = World::new("");
    let depth = 100_000;
    let text = format!("name: deep\nx: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth));
    std::fs::write(&world.plan, &text).unwrap();
    let started = Instant::now();
    let run = world.run(&["validate"]);
    let flow = started.elapsed();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nested deeper than 64 levels"), "{}", run.stderr);

    let text = format!("name: long\nsource: {{{}: 1}}\n", "k".repeat(1_000_000));
    std::fs::write(&world.plan, &text).unwrap();
    let started = Instant::now();
    let run = world.run(&["validate"]);
    let key = started.elapsed();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("a key of 1000000 characters; keys are at most 256"), "{}", run.stderr);
    eprintln!("rejected: 100,000-deep flow nesting in {flow:?}, a 1 MB key in {key:?}");
    assert!(flow < Duration::from_secs(3) && key < Duration::from_secs(3), "{flow:?} {key:?}");
}

// 3. Unbounded and blocking reads.

#[test]
fn unbounded_and_blocking_reads_of_password_files() {
    let world = World::new("");
    let fifo = world.dir.path().join("fifo");
    mkfifo(&fifo);
    let big = world.dir.path().join("big");
    std::fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    let original = std::fs::read_to_string(&world.plan).unwrap();
    for (file, expected) in [
        ("/dev/zero", "is a character device, not a regular file"),
        (fifo.to_str().unwrap(), "is a FIFO (named pipe), not a regular file"),
        (big.to_str().unwrap(), "is larger than 65536 bytes (the limit for a credential file)"),
    ] {
        let plan = original.replacen(
            "replicator_auth: {mechanism: none}",
            &format!("replicator_auth: {{mechanism: SCRAM-SHA-512, username: r, password: {{file: {file}}}}}"),
            1,
        );
        std::fs::write(&world.plan, plan).unwrap();
        let (run, took) = finish(world.spawn(&["validate"]), Duration::from_secs(10));
        assert_eq!(run.code, 2, "{file}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{file}: {}", run.stderr);
        assert!(took < Duration::from_secs(3), "{file}: {took:?}");
    }
}

#[test]
fn unbounded_and_blocking_reads_of_state_files() {
    for name in ["control.json", "move.json", "engine/status.json", "moves.lock", "audit.jsonl"] {
        for kind in ["fifo", "/dev/zero"] {
            let world = World::new("");
            let path = world.state.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if kind == "fifo" {
                mkfifo(&path);
            } else {
                std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
            }
            for command in
                [&["status"][..], &["cutover", "orders", "--dry-run"], &["rollback", "orders"], &["cutover", "orders"]]
            {
                let (run, took) = finish(world.spawn(command), Duration::from_secs(20));
                assert!(took < Duration::from_secs(10), "{name} ({kind}), {command:?}: {took:?}");
                assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
                // What reads the file refuses it by name; the rest must only not hang (engine
                // status and the audit log are hints and evidence: their failure is reported
                // without stopping the command).
                let reads = match *command {
                    ["status"] => name == "control.json",
                    [_, _, "--dry-run"] => name == "control.json" || name == "move.json",
                    _ => name == "control.json" || name == "move.json" || name == "moves.lock",
                };
                if reads {
                    assert!(run.stderr.contains("not a regular file"), "{name} ({kind}), {command:?}: {}", run.stderr);
                    assert_eq!(run.code, 1, "{name} ({kind}), {command:?}: {}", run.stderr);
                }
            }
        }
    }
}

// 4. Signals.

#[test]
fn signals_ignored_while_work_runs_exit_130_within_a_second() {
    // A socket that accepts and never answers keeps every Kafka request waiting for its timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let world = World::with_bootstrap(&address, &other.local_addr().unwrap().to_string(), "");
    silent.set_nonblocking(true).unwrap();
    other.set_nonblocking(true).unwrap();
    // Taken and kept open, never answered.
    let mut waiting = Vec::new();
    for (command, sig) in [
        (&["plan", "--timeout", "30s"][..], libc::SIGTERM),
        (&["verify"], libc::SIGINT),
        (&["-o", "json", "verify"], libc::SIGTERM),
        (&["apply", "--timeout", "30s"], libc::SIGTERM),
    ] {
        // What the previous command left connecting is not this one's.
        for listener in [&silent, &other] {
            while listener.accept().is_ok() {}
        }
        let child = world.spawn(command);
        // In its work: waiting for an answer from a cluster (the signal thread is installed
        // before any work).
        poll_until(format!("{command:?} to connect to a cluster"), Duration::from_secs(10), || {
            let accepted: Vec<_> = [&silent, &other].iter().filter_map(|l| l.accept().ok()).collect();
            let connected = !accepted.is_empty();
            waiting.extend(accepted);
            connected
        });
        let sent = signal(&child, sig);
        let (run, _) = finish(child, Duration::from_secs(10));
        let took = sent.elapsed();
        eprintln!("{command:?}: exit {} {took:?} after the signal", run.code);
        assert_eq!(run.code, 130, "{command:?}: {}", run.stderr);
        assert!(took < Duration::from_secs(1), "{command:?}: {took:?}");
        assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
        if command[0] == "-o" {
            let document = json(&run);
            assert_eq!(document["ok"], false, "{document}");
            assert_eq!(document["exit_code"], 130, "{document}");
        }
    }
}

#[test]
fn ctrl_c_during_the_gate_wait_leaves_no_blocking_move_and_is_audited() {
    let world = World::new("  - name: other\n    produces: [orders]\n");
    let asked = world.dead_engine();
    let child = world.spawn(&["cutover", "orders", "--wait", "60s"]);
    poll_until("the move to be recorded", Duration::from_secs(10), || world.state.join("move.json").exists());
    // In the gate wait: the gate asked the engine since the move was recorded.
    let recorded = asked.load(Ordering::SeqCst);
    poll_until("the gate to ask the engine", Duration::from_secs(10), || asked.load(Ordering::SeqCst) > recorded);
    let sent = signal(&child, libc::SIGINT);
    let (run, _) = finish(child, Duration::from_secs(10));
    let took = sent.elapsed();
    eprintln!("cutover in the gate wait: exit {} {took:?} after SIGINT", run.code);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!world.state.join("move.json").exists(), "nothing was touched: nothing to resume");
    assert!(world.audit().contains("\"result\":\"interrupted\""), "{}", world.audit());
    // Another app may move: no record blocks it (it fails at the gate, not on `orders`).
    let run = world.run(&["cutover", "other"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    // Nor does one left by a `kill -9` in the gate wait: it never stopped the app.
    std::fs::write(world.state.join("move.json"), move_json(0, false)).unwrap();
    let run = world.run(&["cutover", "other"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("it changed nothing"), "{}", run.stderr);
    assert!(!world.state.join("move.json").exists());
}

// 5. Hooks outliving an interrupted migrate.

#[test]
fn hooks_outlive_an_interrupted_migrate() {
    let world = World::new("");
    let pid_file = world.dir.path().join("hook.pid");
    let seen = world.dir.path().join("seen");
    // A hook whose child would outlive it: it writes the child's pid, then waits.
    let hook = format!(
        "    stop: 'echo \"${{MIGRATE_APP}} $MIGRATE_SIDE $$\" > {}; sleep 60 & echo $! > {}; wait'\n",
        seen.display(),
        pid_file.display()
    );
    let plan = std::fs::read_to_string(&world.plan).unwrap() + &hook;
    std::fs::write(&world.plan, plan).unwrap();
    // `${MIGRATE_APP}` is the hook's variable, not the plan's: the plan is valid without it.
    assert_eq!(world.run(&["validate"]).code, 0);
    // The gate passed: the move stands at its stop step.
    std::fs::write(world.state.join("move.json"), move_json(1, true)).unwrap();
    let child = world.spawn(&["cutover", "orders"]);
    poll_until("the hook's child", Duration::from_secs(10), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|text| text.trim().parse::<i32>().is_ok())
    });
    let hook_child: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let sent = signal(&child, libc::SIGINT);
    let (run, _) = finish(child, Duration::from_secs(10));
    let took = sent.elapsed();
    eprintln!("cutover in the stop hook: exit {} {took:?} after SIGINT", run.code);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < Duration::from_secs(2), "{took:?}");
    // SAFETY: signal 0 only asks whether the process exists.
    poll_until("the hook's child to be gone", Duration::from_secs(2), || unsafe { libc::kill(hook_child, 0) != 0 });
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world.state.join("move.json")).unwrap()).unwrap();
    assert!(record["interrupted"].as_str().unwrap().contains("its outcome is unknown"), "{record}");
    assert_eq!(record["next"], 1, "the same command runs the stop hook again");
    assert!(world.audit().contains("\"result\":\"interrupted\""), "{}", world.audit());
    // The hook saw its own variables and the shell's `$$`, not the plan's interpolation.
    let seen = std::fs::read_to_string(&seen).unwrap();
    let words: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(&words[..2], ["orders", "source"], "{seen}");
    assert!(words[2].parse::<u32>().is_ok(), "`$$` is the shell's pid: {seen}");
}

// 6. teardown and the move lock.

#[test]
fn teardown_ignores_the_move_lock_and_unfinished_moves() {
    let world = World::new("");
    std::fs::create_dir_all(world.state.join("engine")).unwrap();
    std::fs::write(world.state.join("control.json"), "{\"apps\": {\"orders\": \"target\"}}").unwrap();
    // A rollback half done: the app stopped on the target.
    let record = move_json(2, true)
        .replace(
            "\"command\": \"cutover\", \"from\": \"source\", \"to\": \"target\"",
            "\"command\": \"rollback\", \"from\": \"target\", \"to\": \"source\"",
        )
        .replace("\"source\"}", "\"x\"}")
        .replace("\"target\"}", "\"source\"}")
        .replace("\"x\"}", "\"target\"}");
    std::fs::write(world.state.join("move.json"), record).unwrap();
    let run = world.run(&["teardown", "--no-verify", "--force"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the rollback of `orders` is unfinished"), "{}", run.stderr);
    assert!(world.state.join("engine").exists() && !world.state.join("teardown.json").exists());

    std::fs::remove_file(world.state.join("move.json")).unwrap();
    let lock = std::fs::File::create(world.state.join("moves.lock")).unwrap();
    lock.try_lock().unwrap();
    let run = world.run(&["-o", "json", "teardown", "--no-verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("another cutover, rollback or teardown is running"), "{}", run.stderr);
    assert_eq!(json(&run)["ok"], false);
    assert!(world.state.join("engine").exists() && !world.state.join("teardown.json").exists());
    drop(lock);
    assert_eq!(world.run(&["teardown", "--no-verify"]).code, 0);
}

// 7. Inconsistent move.json.

#[test]
fn panic_on_inconsistent_move_json() {
    let world = World::new("");
    std::fs::write(world.state.join("move.json"), move_json(99, true)).unwrap();
    for command in [&["cutover", "orders", "--dry-run"][..], &["rollback", "orders"], &["cutover", "orders"]] {
        let run = world.run(command);
        assert_eq!(run.code, 1, "{command:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stderr.contains("next step is number 99 of 8 steps"), "{}", run.stderr);
    }
    assert!(world.audit().is_empty(), "nothing ran, nothing claimed");
}

// 8. status and a corrupt control.json.

#[test]
fn status_hides_a_corrupt_control_json() {
    let world = World::new("");
    std::fs::write(world.state.join("control.json"), "{\"apps\": {\"orders\": \"sideways\"}}").unwrap();
    let run = world.run(&["status"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("control.json is not valid"), "{}", run.stderr);
    let run = world.run(&["-o", "json", "status"]);
    assert_eq!(run.code, 1);
    assert!(json(&run)["error"].as_str().unwrap().contains("control.json"));
}

// 9. -o json on failure.

#[test]
fn json_output_prints_nothing_on_failure() {
    let world = World::new("");
    let occupied = world.dir.path().join("occupied");
    std::fs::write(&occupied, "x").unwrap();
    let occupied = occupied.to_str().unwrap();
    for (command, code) in [
        (&["status"][..], 1),
        (&["cutover", "orders"], 4),
        (&["cutover", "nobody"], 2),
        (&["teardown"], 4),
        (&["render"], 2),
        (&["init", "--out", occupied], 2),
        (&["verify"], 1),
    ] {
        let mut args = vec!["-o", "json"];
        args.extend_from_slice(command);
        let run = world.run(&args);
        assert_eq!(run.code, code, "{command:?}: {}", run.stderr);
        let document = json(&run);
        assert_eq!(document["ok"], false, "{command:?}: {document}");
        assert_eq!(document["exit_code"], code, "{command:?}: {document}");
    }
    // A move's own document says `ok` too.
    let run = world.run(&["-o", "json", "cutover", "orders", "--dry-run"]);
    assert_eq!(json(&run)["ok"], true, "{}", run.stdout);
}

// 10. Plans and moves that trap the operator.

#[test]
fn a_move_json_for_an_app_no_longer_in_the_plan_is_a_dead_end() {
    let world = World::new("");
    std::fs::write(world.state.join("move.json"), move_json(2, true).replace("\"orders\"", "\"gone\"")).unwrap();
    let run = world.run(&["cutover", "orders"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("holds the unfinished cutover of `gone`, which the plan no longer has"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("put `gone` back in the plan") && run.stderr.contains("remove"), "{}", run.stderr);
}

#[test]
fn timeout_rejects_durations_that_wait_accepts() {
    let world = World::new("");
    let run = world.run(&["plan", "--timeout", "2x"]);
    assert_eq!(run.code, 2);
    for timeout in ["2s", "1m", "5"] {
        let run = world.run(&["teardown", "--help"]);
        assert!(run.stdout.contains("--delete-secrets") && !run.stdout.contains("never the clusters, secrets"));
        let run = migrate(&["plan", "--timeout", timeout, "--help"], &[], &[]);
        assert_eq!(run.code, 0, "{timeout}: {}", run.stderr);
        let run = migrate(&["-p", "/nonexistent/plan.yaml", "plan", "--timeout", timeout], &[], &[]);
        assert_eq!(run.code, 2, "{timeout}");
        assert!(!run.stderr.contains("invalid value"), "{timeout}: {}", run.stderr);
    }
}

#[test]
fn verbose_logs_write_colour_escapes_when_not_a_terminal() {
    // An msk plan's `status` logs the AWS SDK's steps (its endpoint closed: nothing answers).
    let state = tempfile::tempdir().unwrap();
    let plan = common::project_root().join("plans/msk.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["-p", plan.to_str().unwrap(), "--state-dir", state.path().to_str().unwrap(), "-vv", "status"])
        .envs(common::aws::EXAMPLE_MSK_ENV.iter().copied())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", free_port()))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEBUG"), "the test needs log lines: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn verify_says_what_is_wrong_for_an_unreachable_cluster() {
    let world = World::with_bootstrap("127.0.0.1:1", "127.0.0.1:2", "");
    let run = world.run(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the source (127.0.0.1:1) did not answer"), "{}", run.stderr);
    assert!(!run.stderr.contains("reports no cluster ID"), "{}", run.stderr);
}
