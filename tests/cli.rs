//! The command-line contract: help, exit codes, completions kept in sync, `init`.

mod common;

use std::time::Duration;

use common::{migrate, project_root};

#[test]
fn help_lists_commands_and_exit_codes() {
    let run = migrate(&["--help"], &[], &[]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("help", run.stdout);
}

#[test]
fn plan_help() {
    let run = migrate(&["plan", "--help"], &[], &[]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("plan_help", run.stdout);
}

#[test]
fn teardown_without_a_plan_exits_2_and_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.yaml");
    let run = migrate(&["-p", missing.to_str().unwrap(), "teardown"], &[], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("absent.yaml"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no fake output: {}", run.stdout);
}

#[test]
fn a_move_of_an_unknown_app_or_with_a_bad_duration_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("migrate.yaml");
    let cluster = |host: &str| {
        format!(
            "  bootstrap_servers: {host}:9092\n  replicator_auth: {{ mechanism: SCRAM-SHA-512, username: r, password: {{ env: PW }} }}\n  app_auth: {{ mechanism: none }}\n"
        )
    };
    std::fs::write(
        &plan,
        format!(
            "name: t\nsource:\n{}target:\n{}replication:\n  topics: [a]\n  groups: [n]\napps:\n  - name: orders\n    produces: [a]\n  - name: notification\n    consumes: [{{ group: n, topics: [a] }}]\n",
            cluster("source.example"),
            cluster("target.example")
        ),
    )
    .unwrap();
    let run = migrate(&["-p", plan.to_str().unwrap(), "cutover", "nobody"], &[("PW", "x")], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("the plan has no app `nobody`; its apps: orders, notification"), "{}", run.stderr);
    let run = migrate(&["-p", plan.to_str().unwrap(), "rollback", "orders", "--wait", "soon"], &[], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn bad_invocation_exits_2() {
    assert_eq!(migrate(&["frobnicate"], &[], &[]).code, 2);
    assert_eq!(migrate(&["plan", "--output", "xml"], &[], &[]).code, 2);
}

#[test]
fn a_missing_plan_file_exits_2_with_a_hint() {
    let run = migrate(&["-p", "/nonexistent/plan.yaml", "validate"], &[], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/plan.yaml:1:1: cannot read the plan"), "{}", run.stderr);
    assert!(run.stderr.contains("migrate init"), "{}", run.stderr);
}

#[test]
fn completions_match_the_cli() {
    for (shell, file) in [
        ("bash", "migrate.bash"),
        ("zsh", "_migrate"),
        ("fish", "migrate.fish"),
        ("powershell", "_migrate.ps1"),
        ("elvish", "migrate.elv"),
    ] {
        let run = migrate(&["completions", shell], &[], &[]);
        assert_eq!(run.code, 0);
        let path = project_root().join("completions").join(file);
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(kept == run.stdout, "{} drifted from the CLI: run scripts/update-completions.sh", path.display());
    }
}

#[test]
fn init_writes_a_plan_that_validates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("migrate.yaml");
    std::fs::write(dir.path().join("ca.pem"), "placeholder").unwrap();
    let plan = path.to_str().unwrap();
    let run = migrate(&["-p", plan, "init"], &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    for app in ["name: orders", "name: order_status", "name: notification"] {
        assert!(text.contains(app));
    }
    let again = migrate(&["-p", plan, "init"], &[], &[]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists") && again.stderr.contains("--force"), "{}", again.stderr);

    let envs: Vec<(&str, &str)> = [
        "MIGRATE_SOURCE_USERNAME",
        "MIGRATE_SOURCE_PASSWORD",
        "MIGRATE_SOURCE_APP_USERNAME",
        "MIGRATE_SOURCE_APP_PASSWORD",
        "MIGRATE_TARGET_USERNAME",
        "MIGRATE_TARGET_PASSWORD",
        "MIGRATE_TARGET_APP_USERNAME",
        "MIGRATE_TARGET_APP_PASSWORD",
    ]
    .iter()
    .map(|name| (*name, "value-from-env"))
    .collect();
    let validate = migrate(&["-p", plan, "-o", "json", "validate"], &envs, &["value-from-env"]);
    assert_eq!(validate.code, 0, "{}\n{}", validate.stdout, validate.stderr);
    let document = validate.json();
    assert_eq!(document["ok"], true);
    assert_eq!(document["apps"], serde_json::json!(["orders", "order_status", "notification"]));

    // Without the credentials, validation names each missing variable.
    let missing = migrate(&["-p", plan, "validate"], &[], &[]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("environment variable `MIGRATE_SOURCE_PASSWORD` is not set"), "{}", missing.stderr);
}

#[test]
fn validate_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(
        &path,
        "name: snap\nsource:\n  bootstrap_servers: a.example:9092\n  replicator_auth: {mechanism: none}\n  app_auth: {mechanism: none}\ntarget:\n  bootstrap_servers: b.example:9092\n  replicator_auth: {mechanism: none}\n  app_auth: {mechanism: none}\nreplication:\n  topics: [orders, {regex: \"audit\\\\..*\"}]\n  groups: [billing]\napps:\n  - name: billing\n    consumes: [{group: billing, topics: [orders]}]\n",
    )
    .unwrap();
    let run = migrate(&["-p", path.to_str().unwrap(), "validate"], &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("validate", run.stdout.replace(path.to_str().unwrap(), "[PLAN]"));
}

#[test]
fn validate_reports_every_problem_in_one_listing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(
        &path,
        "name: bad name\nsource:\n  bootstrap_servers: a.example\n  replicator_auth: {mechanism: SCRAM-SHA-512, username: r, password: letmein}\n  app_auth: {mechanism: none}\ntarget:\n  bootstrap_server: b.example:9092\n  replicator_auth: {mechanism: none}\n  app_auth: {mechanism: none}\nreplication:\n  topics: [orders, {regex: \"(\"}]\napps:\n  - name: billing\n    consumes: [{group: billing, topics: [payments]}]\nreadiness:\n  sustained_for: 10\n",
    )
    .unwrap();
    let run = migrate(&["-p", path.to_str().unwrap(), "validate"], &[], &["letmein"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    insta::assert_snapshot!("validate_problems", run.stderr.replace(path.to_str().unwrap(), "[PLAN]"));
}

#[test]
fn an_unconfirmed_recreate_exits_2_before_anything_is_checked_or_touched() {
    let root = project_root();
    let envs: Vec<(&str, &str)> = [
        "MIGRATE_SOURCE_USERNAME",
        "MIGRATE_SOURCE_PASSWORD",
        "MIGRATE_SOURCE_APP_USERNAME",
        "MIGRATE_SOURCE_APP_PASSWORD",
    ]
    .iter()
    .map(|name| (*name, "value"))
    .chain([("MIGRATE_SOURCE_CA_FILE", common::PLACEHOLDER_CA)])
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let plan = root.join("plans/msk.yaml");
    let args = ["-p", plan.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "apply", "--recreate"];
    // stdin is not a terminal here, and there is no --yes.
    let run = migrate(&args, &envs, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--recreate was not confirmed") && run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(!run.stderr.contains("preflight"), "no preflight ran: {}", run.stderr);
}

#[test]
fn status_without_a_running_engine_exits_1_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        &path,
        format!("name: idle\nsource:\n  bootstrap_servers: a.example:9092\n  replicator_auth: {{mechanism: none}}\n  app_auth: {{mechanism: none}}\ntarget:\n  bootstrap_servers: b.example:9092\n  replicator_auth: {{mechanism: none}}\n  app_auth: {{mechanism: none}}\nreplication:\n  topics: [orders]\nengine:\n  listen: 127.0.0.1:{port}\napps: []\n"),
    )
    .unwrap();
    let run = migrate(
        &["-p", path.to_str().unwrap(), "--state-dir", dir.path().join("state").to_str().unwrap(), "status"],
        &[],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("the engine does not answer on http://127.0.0.1:{port}/status")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: start replication with `migrate apply`"), "{}", run.stderr);
}

/// A `/status` document as the engine writes it (the library's own types), mid-migration: one flow
/// far behind, the gate closed on MessageLag, one app moved. Times are fixed so the output is too.
fn engine_status(listen: &str) -> migrate::engine::EngineStatus {
    use std::collections::BTreeMap;

    use migrate::engine::groups::{GroupReport, GroupSideReport, GroupsReport};
    use migrate::engine::health::{FlowHealth, Health, LatencyWindow};
    use migrate::gate::{GateInputs, Sustain};
    use migrate::plan::Side;

    let mut health = Health::default();
    health.flows.insert(
        "source->target".into(),
        FlowHealth {
            message_lag: 55_621,
            replication_lag: 55_630,
            replication_latency_ms: Some(LatencyWindow { avg: 812.4, max: 2310, count: 900 }),
            replicator_throughput: 48_213.0,
            records_per_second: 402.0,
            records_copied: 1_204_332,
            ..Default::default()
        },
    );
    health.flows.insert("target->source".into(), FlowHealth::default());
    health.kafka_cluster_ping_success_count = BTreeMap::from([("source".into(), 1), ("target".into(), 1)]);
    let side = |state: &str, lag: Option<i64>| GroupSideReport {
        state: state.into(),
        has_offsets: lag.is_some(),
        sum_offset_lag: BTreeMap::from([("orders".to_string(), lag)]),
    };
    let mut groups = GroupsReport {
        consumer_group_count: BTreeMap::from([(Side::Source, 2), (Side::Target, 2)]),
        passes: 40,
        ..Default::default()
    };
    groups.groups.insert(
        "order-status".into(),
        GroupReport {
            app: "order_status".into(),
            active_side: Some(Side::Target),
            sides: BTreeMap::from([(Side::Source, side("Empty", Some(12))), (Side::Target, side("Stable", Some(3)))]),
            in_sync: true,
            pending: Vec::new(),
            failures: Vec::new(),
        },
    );
    groups.groups.insert(
        "notification".into(),
        GroupReport {
            app: "notification".into(),
            active_side: Some(Side::Source),
            sides: BTreeMap::from([(Side::Source, side("Stable", Some(7))), (Side::Target, side("Empty", None))]),
            in_sync: false,
            pending: vec!["orders/2: offset 1,200 not yet copied".into()],
            failures: Vec::new(),
        },
    );
    let readiness = migrate::plan::Readiness {
        max_message_lag: 100,
        max_replication_latency: Duration::from_millis(2000),
        max_sum_offset_lag: 500,
        sustained_for: Duration::from_secs(10),
        expected_consumer_group_count: None,
    };
    let inputs = GateInputs {
        replicator_failure: Some(0),
        consumer_group_offset_sync_failure: Some(0),
        ping: BTreeMap::from([(Side::Source, Some(1)), (Side::Target, Some(1))]),
        message_lag: Some(55_621),
        replication_latency_ms: Some(2310),
        sum_offset_lag: BTreeMap::from([(Side::Source, Some(12)), (Side::Target, Some(3))]),
        consumer_group_count_target: Some(2),
        expected_consumer_group_count: 2,
        ..Default::default()
    };
    let mut sustain = Sustain::default();
    sustain.evaluate(&inputs, &readiness, 1_764_600_000_000);
    let gate = sustain.evaluate(&inputs, &readiness, 1_764_600_004_000);
    migrate::engine::EngineStatus {
        plan: "shop".into(),
        pid: 4242,
        state: "running".into(),
        listen: Some(listen.into()),
        health,
        groups,
        gate,
        ..Default::default()
    }
}

/// Serves `body` as the engine's `/status` until the test ends (one request per connection).
fn fake_engine(body: impl Fn(&str) -> String + Send + 'static) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let served = address.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let body = body(&served);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    address
}

/// `status` fits the terminal: at 80 and 160 columns no line is wider (cells and prose wrap), and
/// the gate says in one line what does not hold. The 160-column snapshot is the README's example.
#[test]
fn status_fits_80_and_160_columns() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("engine")).unwrap();
    let address = fake_engine(|listen| serde_json::to_string_pretty(&engine_status(listen)).unwrap());
    std::fs::write(state.join("engine/status.json"), serde_json::to_string(&engine_status(&address)).unwrap()).unwrap();
    std::fs::write(state.join("control.json"), r#"{"apps": {"order_status": "target"}}"#).unwrap();
    let plan = dir.path().join("migrate.yaml");
    let cluster = |host: &str| {
        format!(
            "  bootstrap_servers: {host}:9092\n  replicator_auth: {{ mechanism: SCRAM-SHA-512, username: r, password: {{ env: PW }} }}\n  app_auth: {{ mechanism: none }}\n"
        )
    };
    std::fs::write(
        &plan,
        format!(
            "name: shop\nsource:\n{}target:\n{}replication:\n  topics: [orders]\n  groups: [order-status, notification]\n  bidirectional: true\nreadiness:\n  max_message_lag: 100\n  max_replication_latency_ms: 2000\n  max_sum_offset_lag: 500\n  sustained_for: 10s\napps:\n  - name: orders\n    produces: [orders]\n  - name: order_status\n    consumes: [{{ group: order-status, topics: [orders] }}]\n  - name: notification\n    consumes: [{{ group: notification, topics: [orders] }}]\n",
            cluster("source.example"),
            cluster("target.example")
        ),
    )
    .unwrap();
    for width in [80usize, 160] {
        let columns = width.to_string();
        let run = migrate(
            &["-p", plan.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "status"],
            &[("PW", "x"), ("COLUMNS", &columns)],
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let too_wide: Vec<_> = run.stdout.lines().filter(|line| line.chars().count() > width).collect();
        assert!(too_wide.is_empty(), "{} line(s) wider than {width}:\n{}", too_wide.len(), run.stdout);
        assert!(run.stdout.contains("55,621"), "{}", run.stdout);
        let stdout = run.stdout.replace(&address, "[address]");
        insta::assert_snapshot!(format!("status_{width}_columns"), stdout);
        if width == 160 {
            let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
            assert!(readme.contains(stdout.trim_end()), "README.md shows another `status` at 160 columns:\n{stdout}");
        }
    }
    // The gate's line, as a waiting cutover prints it, fits one 160-column line.
    let gate = engine_status(&address).gate;
    let total = gate.conditions.len();
    let gate = gate.summary();
    let expected =
        format!("MessageLag 55,621 > 100, ReplicationLatency 2,310 > 2000 ms; {} of {total} hold", total - 2);
    assert!(gate.starts_with(&expected), "{gate}");
    assert!(gate.chars().count() <= 160, "{gate}");
    eprintln!("the gate line while waiting: {} chars: {gate}", gate.chars().count());
}
