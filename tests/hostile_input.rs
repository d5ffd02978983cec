//! Property tests for the readers of hostile input: the plan (with `${VAR}` interpolation) and
//! every state file. Run in the normal test suite for a bounded number of cases (raise it with
//! `PROPTEST_CASES`), after the committed corpus in `tests/corpus/` — one file per defect issue 20
//! found, and per class of hostile input — which always runs.
//!
//! The properties: no reader panics, none takes long (each case is timed), a rejected plan names
//! a position for every problem, a password handed in through the environment or a file is never
//! in a problem, and a state file that loads is one a command can act on without panicking.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use migrate::cutover::record::{MoveCommand, MoveFiles, MoveRecord};
use migrate::engine::checkpoints::Checkpoints;
use migrate::plan::{self, Side};
use migrate::state::{Control, StateDir};
use proptest::prelude::*;

/// Far above what any case needs (milliseconds), far below a hang or a quadratic blow-up.
const PER_CASE: Duration = Duration::from_secs(2);
/// What the environment holds in these tests; a problem must never show it.
const SECRET: &str = "Corpus-Secret-4711";

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

fn lookup(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("kafka.example".into()),
        "CORPUS_MULTILINE" => Some(format!("{SECRET}\nsecond line")),
        "EMPTY" => Some(String::new()),
        "PASSWORD" => Some(SECRET.into()),
        _ => None,
    }
}

/// Parses `text` as a plan and checks the properties; returns whether it was accepted.
fn check_plan(file: &Path, text: &str) -> bool {
    let started = Instant::now();
    let outcome = plan::parse(file, text, &lookup);
    let took = started.elapsed();
    assert!(took < PER_CASE, "{} took {took:?}", file.display());
    match outcome {
        Ok(_) => true,
        Err(error) => {
            assert!(!error.problems.is_empty(), "a rejection names a problem");
            for problem in &error.problems {
                assert!(problem.line >= 1 && problem.column >= 1, "{problem:?}");
                let shown = format!("{problem:?}");
                assert!(!shown.contains(SECRET), "a secret in a problem: {shown}");
            }
            false
        }
    }
}

/// Loads every state file kind from `dir` and acts on what loads.
fn check_state(dir: &Path) {
    let started = Instant::now();
    let files = StateDir::new(dir);
    let _ = Control::load(&files.control());
    let _ = Checkpoints::load(&files.checkpoints());
    let _ = migrate::teardown::torn_down(dir);
    let moves = MoveFiles::new(dir);
    if let Ok(Some(record)) = moves.load() {
        // What the commands do with a loaded record: none of it may panic.
        record.check().expect("a loaded record is consistent");
        let _ = record.switched();
        // A move that changed nothing is forgotten, never reverted; any other may be undone.
        if !record.changed_nothing() {
            let mut reverted = record.clone();
            reverted.start_reverting("property test".into());
            reverted.check().expect("a revert of a consistent record is consistent");
        }
        for step in &record.steps[record.next..] {
            let _ = step.describe(&record.app);
        }
    }
    assert!(started.elapsed() < PER_CASE, "{} took {:?}", dir.display(), started.elapsed());
}

#[test]
fn the_plan_corpus_is_rejected_quickly_and_cleanly() {
    for path in corpus("plan") {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = String::from_utf8(bytes) else {
            // Not text: the file reader refuses it before any parser sees it.
            let error = plan::load(&path, &lookup).unwrap_err();
            assert!(error.problems[0].message.contains("not UTF-8"), "{error}");
            continue;
        };
        let accepted = check_plan(&path, &text);
        let name = path.file_name().unwrap().to_str().unwrap();
        if name == "catastrophic-regex.yaml" {
            // Harmless (the regex crate is linear): only the time bound matters.
            continue;
        }
        // An IAM target for the embedded engine was refused until the engine spoke MSK IAM.
        let should_pass =
            matches!(name, "valid.yaml" | "hooks-with-migrate-variables.yaml" | "embedded-with-iam-target.yaml");
        assert_eq!(accepted, should_pass, "{name}");
    }
}

#[test]
fn the_state_corpus_never_panics() {
    let corpus = corpus("state");
    for path in &corpus {
        let name = path.file_name().unwrap().to_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = if name.starts_with("move") {
            dir.path().join("move.json")
        } else if name.starts_with("control") {
            dir.path().join("control.json")
        } else {
            dir.path().join("engine/status.json")
        };
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(path, &target).unwrap();
        // Every kind of file gets every content, too.
        for other in ["control.json", "engine/checkpoints.json", "teardown.json"] {
            let other = dir.path().join(other);
            if other != target {
                std::fs::create_dir_all(other.parent().unwrap()).unwrap();
                std::fs::copy(path, &other).unwrap();
            }
        }
        check_state(dir.path());
        let loaded = MoveFiles::new(dir.path()).load();
        let consistent = matches!(name, "move-valid.json" | "move-interrupted.json" | "move-unknown-app.json");
        if name.starts_with("move") {
            assert_eq!(loaded.is_ok(), consistent, "{name}: {loaded:?}");
        }
    }
}

/// Pieces plans are made of: real keys and values, interpolation, and the constructs that broke.
fn plan_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name: p\n".to_string()),
        Just("source:\n  bootstrap_servers: ${HOST}:9092\n".to_string()),
        Just("  replicator_auth: {mechanism: SCRAM-SHA-512, username: u, password: {env: PASSWORD}}\n".to_string()),
        Just("  replicator_auth: {mechanism: SCRAM-SHA-512, username: u, password: ${PASSWORD}}\n".to_string()),
        Just("  app_auth: {mechanism: SCRAM-SHA-512, username: u, password: {env: CORPUS_MULTILINE}}\n".to_string()),
        Just("  app_auth: {mechanism: none}\n".to_string()),
        Just("  tls: {ca_file: /dev/zero}\n".to_string()),
        Just("target:\n  bootstrap_servers: t.example:9092\n".to_string()),
        Just("replication:\n  topics: [orders, {regex: 'o.*'}]\n  bidirectional: maybe\n".to_string()),
        Just("apps:\n  - name: orders\n    produces: [orders]\n    stop: 'echo ${MIGRATE_APP} $$'\n".to_string()),
        "[a-z_]{1,40}: [a-zA-Z0-9${}:\\-_ ]{0,30}\n",
        // Any variable but the password's: a value from the environment in a field that is no
        // secret may be shown in a problem (`… is not host:port`); a password never.
        "[ ]{0,6}- \\$\\{[A-OQ-Z_][A-Z_]{0,7}(:-[a-z]{0,5})?\\}\n",
        (1usize..300).prop_map(|depth| format!("x: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth))),
        (1usize..300).prop_map(|depth| format!("y:\n  {}z\n", "- ".repeat(depth))),
        (1usize..2000).prop_map(|length| format!("{}: 1\n", "k".repeat(length))),
        any::<String>().prop_map(|text| format!("{text}\n")),
    ]
}

/// A move record with any field pushed out of shape.
fn move_record() -> impl Strategy<Value = String> {
    let app = prop_oneof![Just("orders".to_string()), "[a-z]{0,8}"];
    let command = prop_oneof![Just(MoveCommand::Cutover), Just(MoveCommand::Rollback)];
    let side = prop_oneof![Just(Side::Source), Just(Side::Target)];
    (app, command, side.clone(), side, 0usize..12, any::<bool>(), 0usize..10, any::<bool>()).prop_map(
        |(app, command, from, to, next, reverting, cut, switched)| {
            let mut record = MoveRecord::new(&app, command, from);
            record.to = to;
            record.next = next;
            record.reverting = reverting;
            if reverting {
                record.steps = migrate::cutover::record::revert_steps(from, switched);
            }
            // 9 keeps every step: most records are whole.
            record.steps.truncate(cut);
            serde_json::to_string(&record).unwrap()
        },
    )
}

proptest! {
    // 500 cases each by default (a few seconds); PROPTEST_CASES=100000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(500),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_plan_reader_never_panics_hangs_or_leaks(pieces in proptest::collection::vec(plan_piece(), 0..12)) {
        let text: String = pieces.concat();
        check_plan(Path::new("generated.yaml"), &text);
    }

    #[test]
    fn interpolation_never_panics_or_leaks(value in "[a-zA-Z0-9${}:\\-_ ]{0,40}") {
        let text = format!("name: p\nsource:\n  bootstrap_servers: {value}\n");
        check_plan(Path::new("generated.yaml"), &text);
    }

    #[test]
    fn move_json_loads_only_when_consistent(record in move_record()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("move.json"), &record).unwrap();
        check_state(dir.path());
    }

    #[test]
    fn state_files_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), which in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let name = ["move.json", "control.json", "engine/checkpoints.json", "teardown.json"][which];
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        check_state(dir.path());
    }
}
