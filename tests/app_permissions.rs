//! The apps' permissions follow them, on Apache Kafka's StandardAuthorizer: the source holds an
//! app's ACLs (a PREFIXED WRITE, a topic READ, a group READ, a transactional-id WRITE, a DENY, the
//! cluster's IdempotentWrite, and a READ for a principal without a SCRAM user on the target), the
//! target none of them. `plan` lists each missing one with its grant command (exit 3 under
//! `check`) and the commands, run as printed, make it pass; under `sync`, `apply` creates exactly
//! those (principal mapped) and `teardown --remove-synced-acls` deletes exactly those; on a
//! target open to everyone, the identities that would lose access are named and `sync` refuses
//! without --yes; a cutover of an app whose target permission is missing stops at the gate.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use migrate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

/// One test's names, users and the source ACLs of its app.
struct World {
    base: String,
    orders: String,
    status: String,
    group: String,
    transactional_id: String,
    /// The app's user on the source, and the one `principal_map` maps it to on the target.
    source_user: String,
    target_user: String,
    /// A principal with a READ on the source and no SCRAM user on the target.
    reporting: String,
    source_password: PathBuf,
    target_password: PathBuf,
}

impl World {
    fn new(source: &Broker, target: &Broker, prefix: &str) -> World {
        let base = unique(prefix);
        let user = base.replace('-', "_");
        let (source_user, target_user) = (format!("{user}_svc"), format!("{user}_svc_msk"));
        let world = World {
            orders: format!("{base}.orders"),
            status: format!("{base}.status"),
            group: format!("{base}.group"),
            transactional_id: format!("{base}.txn"),
            source_password: source.create_user(&source_user),
            target_password: target.create_user(&target_user),
            reporting: format!("User:{user}_reporting"),
            source_user,
            target_user,
            base,
        };
        source.create_topics(&[(&world.orders, 1, &[]), (&world.status, 1, &[])]);
        world
    }

    fn source_principal(&self) -> String {
        format!("User:{}", self.source_user)
    }

    fn target_principal(&self) -> String {
        format!("User:{}", self.target_user)
    }

    /// The app's ACLs on the source (the shape the issue names), for `principal`.
    fn app_acls(&self, principal: &str) -> Vec<AclBinding> {
        let binding = |resource_type, name: &str, pattern_type, operation, permission| AclBinding {
            resource_type,
            resource_name: name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: "*".into(),
            operation,
            permission,
        };
        use AclOperation::*;
        use AclPermission::*;
        vec![
            // PREFIXED WRITE: `<base>.ord` covers `<base>.orders`.
            binding(ResourceType::Topic, &format!("{}.ord", self.base), PatternType::Prefixed, Write, Allow),
            binding(ResourceType::Topic, &self.status, PatternType::Literal, Read, Allow),
            binding(ResourceType::Group, &self.group, PatternType::Literal, Read, Allow),
            binding(ResourceType::TransactionalId, &self.transactional_id, PatternType::Literal, Write, Allow),
            // The app reads `status` and must never write it.
            binding(ResourceType::Topic, &self.status, PatternType::Literal, Write, Deny),
            binding(ResourceType::Cluster, "kafka-cluster", PatternType::Literal, IdempotentWrite, Allow),
        ]
    }

    /// Every source ACL in the plan's scope: the app's and the reporting principal's READ.
    fn source_acls(&self) -> Vec<AclBinding> {
        let mut bindings = self.app_acls(&self.source_principal());
        bindings.push(allow(&self.reporting, ResourceType::Topic, &self.status, AclOperation::Read));
        bindings
    }

    /// What the target must receive: the same bindings, the app's principal mapped.
    fn expected_on_target(&self) -> BTreeSet<String> {
        let mut bindings = self.app_acls(&self.target_principal());
        bindings.push(allow(&self.reporting, ResourceType::Topic, &self.status, AclOperation::Read));
        bindings.iter().map(ToString::to_string).collect()
    }

    fn plan(&self, dir: &Path, source: &Broker, target: &Broker, mode: &str, target_extra: &str) -> PathBuf {
        let identity = |user: &str, password: &Path| {
            format!("{{ mechanism: SCRAM-SHA-512, username: {user}, password: {{ file: {} }} }}", password.display())
        };
        let body = format!(
            "replication:\n  topics: [{orders}, {status}]\n  groups: [{group}]\n  acls: {mode}\n  principal_map:\n    \"User:{su}\": \"User:{tu}\"\napps:\n  - name: svc\n    produces: [{orders}]\n    consumes:\n      - group: {group}\n        topics: [{status}]\n    transactional_ids: [{txn}]\n    stop: touch {stopped}\n    auth:\n      source: {source_identity}\n      target: {target_identity}\n",
            orders = self.orders,
            status = self.status,
            group = self.group,
            txn = self.transactional_id,
            su = self.source_user,
            tu = self.target_user,
            stopped = dir.join("stopped").display(),
            source_identity = identity(&self.source_user, &self.source_password),
            target_identity = identity(&self.target_user, &self.target_password),
        );
        let yaml = PlanYaml::new("app-permissions", source, target, body);
        let mut text = yaml.render();
        if !target_extra.is_empty() {
            text = text.replacen("target:\n", &format!("target:\n{target_extra}"), 1);
        }
        let path = dir.join("plan.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The target's bindings of this test's principals, as text.
    fn on_target(&self, target: &Broker) -> BTreeSet<String> {
        let admin = target.admin();
        let mine = [self.target_principal(), self.source_principal(), self.reporting.clone()];
        migrate::kafka::admin::describe_acls(admin.inner(), Duration::from_secs(10))
            .unwrap()
            .into_iter()
            .filter(|b| mine.contains(&b.principal))
            .map(|b| b.to_string())
            .collect()
    }

    /// [`World::on_target`] once it equals `expected`, or as it reads after 15 s: a KRaft broker's
    /// authorizer applies a CreateAcls or DeleteAcls from the metadata log after the request
    /// returned, so an immediate DescribeAcls may read the old state.
    fn on_target_settled(&self, target: &Broker, expected: &BTreeSet<String>) -> BTreeSet<String> {
        settled(Duration::from_secs(15), expected, || self.on_target(target))
    }
}

fn admin_auth(broker: &Broker) -> String {
    format!(
        "  admin_auth: {{ mechanism: SCRAM-SHA-512, username: {ADMIN}, password: {{ file: {} }} }}\n",
        broker.password_file(ADMIN).display()
    )
}

fn plan_json(plan: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["-p", plan.to_str().unwrap(), "-o", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["plan", "--timeout", "5"]);
    migrate(&args, &[], &[])
}

fn check<'a>(document: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let found = checks_named(document, name);
    assert_eq!(found.len(), 1, "one `{name}` check in {document:#}");
    found[0]
}

#[test]
fn check_lists_each_missing_acl_with_its_grant_command_and_the_commands_make_it_pass() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let world = World::new(source, target, "perm-check");
    source.create_acls(&world.source_acls());
    let dir = tempfile::tempdir().unwrap();
    let plan = world.plan(dir.path(), source, target, "check", "");

    let run = plan_json(&plan, &[]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let diff = check(&document, "source-acls");
    assert_eq!(diff["status"], "fail", "{diff:#}");
    let detail = diff["detail"].as_str().unwrap();
    // 7 missing; the harness's own PREFIXED grants of `User:app`, present on both, are in scope too.
    assert!(detail.starts_with("7 of 11 source ACL(s)"), "{detail}");
    for expected in [
        format!("ALLOW Write on topic {}.ord (PREFIXED) for {}", world.base, world.target_principal()),
        format!("ALLOW Read on group {} for {}", world.group, world.target_principal()),
        format!("ALLOW Write on transactional-id {} for {}", world.transactional_id, world.target_principal()),
        format!("DENY Write on topic {} for {}", world.status, world.target_principal()),
        format!("ALLOW IdempotentWrite on cluster kafka-cluster for {}", world.target_principal()),
        format!("(on the source for {})", world.source_principal()),
    ] {
        assert!(detail.contains(&expected), "`{expected}` in {detail}");
    }
    // Passwords cannot be copied: the principal without a SCRAM user on the target is named.
    let users = check(&document, "scram-users");
    assert_eq!(users["status"], "warn", "{users:#}");
    assert!(users["detail"].as_str().unwrap().contains(&world.reporting), "{users:#}");
    assert!(users["hint"].as_str().unwrap().contains("passwords cannot be copied"), "{users:#}");
    assert!(!users["detail"].as_str().unwrap().contains(&world.target_principal()), "{users:#}");

    let hint = diff["hint"].as_str().unwrap();
    let commands: Vec<&str> = hint.lines().filter(|line| line.starts_with("kafka-acls ")).collect();
    assert_eq!(commands.len(), 7, "{hint}");
    assert!(commands.iter().any(|c| c.contains("--deny-principal") && c.contains("--operation Write")), "{hint}");
    assert!(commands.iter().any(|c| c.contains("--resource-pattern-type prefixed")), "{hint}");
    let script = commands.join(" && ");
    let output = target.kafka_tool(&script);
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(world.on_target(target), world.expected_on_target(), "the commands create exactly the source's ACLs");

    let run = plan_json(&plan, &[]);
    let document = run.json();
    let diff = check(&document, "source-acls");
    assert_eq!(diff["status"], "pass", "{diff:#}");
    let app_checks = checks_named(&document, "app-acls");
    assert_eq!(app_checks.len(), 2, "{document:#}");
    assert!(app_checks.iter().all(|c| c["status"] == "pass"), "{app_checks:#?}");
}

#[test]
fn sync_creates_exactly_the_missing_acls_and_teardown_removes_exactly_those() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let world = World::new(source, target, "perm-sync");
    source.create_acls(&world.source_acls());
    // One ACL of the app's target principal that the migration did not create: never deleted.
    let own = allow(&world.target_principal(), ResourceType::Topic, &world.orders, AclOperation::Describe);
    target.create_acls(std::slice::from_ref(&own));
    let dir = tempfile::tempdir().unwrap();
    let plan_path = world.plan(dir.path(), source, target, "sync", &admin_auth(target));

    // `plan` lists the ACLs first among the actions, and passes: apply creates them.
    let run = plan_json(&plan_path, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let actions = document["actions"].as_array().unwrap();
    let creates: Vec<&serde_json::Value> = actions.iter().take_while(|a| a["kind"] == "create-acl").collect();
    assert_eq!(creates.len(), 7, "{actions:#?}");
    assert!(actions.iter().skip(7).all(|a| a["kind"] != "create-acl"), "{actions:#?}");
    assert_eq!(check(&document, "acl-admin")["status"], "pass", "{document:#}");
    assert_eq!(world.on_target(target), BTreeSet::from([own.to_string()]), "plan changes nothing");

    let test_plan =
        TestPlan { _dir: tempfile::tempdir().unwrap(), path: plan_path.clone(), state: dir.path().join("state") };
    // Apache Kafka does not report allow.everyone.if.no.acl.found; the probe finds this target
    // closed, so `apply` creates the ACLs without asking for --yes.
    assert!(checks_named(&document, "open-target").is_empty(), "{document:#}");
    let engine = Engine::start(&test_plan);
    let mut expected = world.expected_on_target();
    expected.insert(own.to_string());
    assert_eq!(world.on_target_settled(target, &expected), expected, "apply creates exactly the missing ones");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(test_plan.state.join("synced-acls.json")).unwrap()).unwrap();
    assert_eq!(record["created"].as_array().unwrap().len(), 7, "{record:#}");
    engine.stop();

    let state = test_plan.state.to_str().unwrap();
    let teardown = |confirm: &[&str]| {
        let mut args =
            vec!["-p", plan_path.to_str().unwrap(), "--state-dir", state, "teardown", "--force", "--no-verify"];
        args.push("--remove-synced-acls");
        args.extend_from_slice(confirm);
        migrate(&args, &[], &[])
    };
    // The app runs on the target and holds its access there by the synced ACLs alone: removing
    // them would break it, so teardown refuses before removing anything, naming app and binding.
    std::fs::write(test_plan.state.join("control.json"), r#"{"apps":{"svc":"target"}}"#).unwrap();
    let refused = teardown(&[]);
    assert_eq!(refused.code, 4, "{}\n{}", refused.stdout, refused.stderr);
    let needed = format!(
        "app `svc` ({}) needs Write on Topic {}, granted only by ALLOW Write on topic {}.ord (PREFIXED) for {}",
        world.target_principal(),
        world.orders,
        world.base,
        world.target_principal()
    );
    assert!(refused.stderr.contains(&needed), "`{needed}` in {}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(world.on_target(target), expected, "nothing removed");
    assert!(!test_plan.state.join("teardown.json").exists());

    // --yes removes them all the same.
    let run = teardown(&["--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.matches("removed ACL ").count(), 7, "{}", run.stdout);
    let remaining = BTreeSet::from([own.to_string()]);
    assert_eq!(world.on_target_settled(target, &remaining), remaining, "only the synced ACLs are gone");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(test_plan.state.join("synced-acls.json")).unwrap()).unwrap();
    assert_eq!(record["created"], serde_json::json!([]));
}

#[test]
fn a_cutover_of_an_app_whose_target_acl_is_missing_stops_at_the_gate_without_touching_it() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let world = World::new(source, target, "perm-gate");
    source.create_acls(&world.source_acls());
    let mut on_target = world.app_acls(&world.target_principal());
    // Everything but the PREFIXED WRITE on the produced topic.
    let write = on_target.remove(0);
    target.create_acls(&on_target);
    let dir = tempfile::tempdir().unwrap();
    let plan = world.plan(dir.path(), source, target, "off", "");
    let state = dir.path().join("state");
    let cutover =
        || migrate(&["-p", plan.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "cutover", "svc"], &[], &[]);

    let refused = cutover();
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    let expected =
        format!("app-permissions: app `svc`: {} lacks Write on Topic {}", world.target_principal(), world.orders);
    assert!(refused.stderr.contains(&expected), "`{expected}` in {}", refused.stderr);
    assert!(!dir.path().join("stopped").exists(), "the stop hook ran");
    assert!(!state.join("move.json").exists());

    // With the permission granted the condition holds: the gate then waits on the engine only.
    target.create_acls(std::slice::from_ref(&write));
    let next = cutover();
    assert_eq!(next.code, 4, "{}", next.stderr);
    assert!(!next.stderr.contains("app-permissions"), "{}", next.stderr);
    assert!(next.stderr.contains("the engine does not answer"), "{}", next.stderr);
    assert!(!dir.path().join("stopped").exists(), "the stop hook ran");
}

#[test]
fn an_open_target_names_who_would_lose_access_and_sync_refuses_without_yes() {
    let clusters = clusters();
    let source = &clusters.source;
    let target = start_broker(BrokerOptions {
        extra_config: "allow.everyone.if.no.acl.found=true".into(),
        ..Default::default()
    });
    // Names outside the run prefix the harness grants everywhere: on this target no ACL governs
    // them yet, so everyone may use them.
    let world = World::new(source, &target, "perm-open");
    let rename = |name: &str| name.replacen(run_prefix(), "open-", 1);
    let world = World {
        orders: rename(&world.orders),
        status: rename(&world.status),
        group: rename(&world.group),
        transactional_id: rename(&world.transactional_id),
        base: rename(&world.base),
        ..world
    };
    source.create_topics(&[(&world.orders, 1, &[]), (&world.status, 1, &[])]);
    let replicator = format!("User:{REPLICATOR}");
    let mut source_acls = world.source_acls();
    for topic in [&world.orders, &world.status] {
        for operation in [AclOperation::Read, AclOperation::DescribeConfigs, AclOperation::Write] {
            source_acls.push(allow(&replicator, ResourceType::Topic, topic, operation));
        }
    }
    source_acls.push(allow(&replicator, ResourceType::Group, &world.group, AclOperation::Read));
    source.create_acls(&source_acls);
    let dir = tempfile::tempdir().unwrap();
    let plan_path = world.plan(dir.path(), source, &target, "sync", &admin_auth(&target));

    let run = plan_json(&plan_path, &[]);
    let document = run.json();
    let open = check(&document, "open-target");
    assert_eq!(open["status"], "warn", "{open:#}");
    let detail = open["detail"].as_str().unwrap();
    assert!(detail.contains("allow.everyone.if.no.acl.found=true"), "{detail}");
    // The PREFIXED WRITE on `<base>.ord` is the first ACL over the replicated `<base>.orders`.
    assert!(detail.contains(&format!("Topic {}.ord (PREFIXED): {replicator} and", world.base)), "{detail}");
    assert!(detail.contains(&format!("Topic {}: {replicator} and", world.status)), "{detail}");
    assert!(detail.contains(&format!("Group {}: {replicator} and", world.group)), "{detail}");

    let state = dir.path().join("state");
    let refused = migrate(
        &["-p", plan_path.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "apply", "--timeout", "5"],
        &[],
        &[],
    );
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&replicator), "{}", refused.stderr);
    assert!(world.on_target(&target).is_empty(), "nothing created without --yes");
    assert!(!state.join("synced-acls.json").exists());

    // The gate: the app holds no ACL here, yet every resource it uses is open to it today, so
    // `app-permissions` holds (with a note) and the gate waits on the engine only.
    let cutover = migrate(
        &["-p", plan_path.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "cutover", "svc"],
        &[],
        &[],
    );
    assert_eq!(cutover.code, 4, "{}", cutover.stderr);
    assert!(!cutover.stderr.contains(" lacks "), "{}", cutover.stderr);
    let note = format!(
        "app-permissions: {} may Write on Topic {} only because no ACL governs it",
        world.target_principal(),
        world.orders
    );
    assert!(cutover.stderr.contains(&note), "`{note}` in {}", cutover.stderr);
    assert!(cutover.stderr.contains("the engine does not answer"), "{}", cutover.stderr);
    assert!(!dir.path().join("stopped").exists(), "the stop hook ran");
}

/// Regression: `sync` recorded every binding it sent to CreateAcls, which succeeds for a binding
/// that already exists; one that appeared on the target between preflight and `apply` (someone
/// else's) was recorded as migrate's, and `teardown --remove-synced-acls` deleted it.
#[test]
fn sync_records_only_what_it_created_not_a_binding_that_appeared_after_preflight() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let world = World::new(source, target, "perm-race");
    source.create_acls(&world.source_acls());
    let dir = tempfile::tempdir().unwrap();
    let plan_path = world.plan(dir.path(), source, target, "sync", &admin_auth(target));
    let plan = migrate::plan::load(&plan_path, &|name| std::env::var(name).ok()).unwrap();
    let state = dir.path().join("state");

    // What preflight found missing: the app's bindings (mapped) and the reporting principal's.
    let mut to_create = world.app_acls(&world.target_principal());
    to_create.push(allow(&world.reporting, ResourceType::Topic, &world.status, AclOperation::Read));
    assert_eq!(to_create.len(), 7);
    // Then, before `apply`, someone grants the group READ by hand.
    let theirs = to_create.iter().find(|b| b.resource_type == ResourceType::Group).unwrap().clone();
    target.create_acls(std::slice::from_ref(&theirs));
    let expected_all: BTreeSet<String> = to_create.iter().map(ToString::to_string).collect();
    let only_theirs = BTreeSet::from([theirs.to_string()]);
    assert_eq!(world.on_target_settled(target, &only_theirs), only_theirs);

    let outcome = migrate::permissions::sync(&plan, &state, &to_create, Duration::from_secs(10)).unwrap();
    assert_eq!(outcome.already_present, vec![theirs.clone()]);
    assert_eq!(outcome.created.len(), 6, "{outcome:#?}");
    assert!(!outcome.created.contains(&theirs));
    let record = migrate::permissions::SyncedAcls::load(&state).unwrap();
    assert_eq!(record.created, outcome.created, "only what this call created is recorded");
    assert_eq!(world.on_target_settled(target, &expected_all), expected_all);

    let removed = migrate::permissions::remove_synced(&plan, &state, Duration::from_secs(10)).unwrap();
    assert_eq!(removed.len(), 6);
    assert_eq!(world.on_target_settled(target, &only_theirs), only_theirs, "their binding stays");
}
