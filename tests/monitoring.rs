//! What `monitoring/` ships, proven on a real Prometheus (Debian's `prometheus`, installed by
//! scripts/install.sh): promtool checks and unit-tests the rules; the Grafana dashboard asks only for
//! metrics the engine exports; a private Prometheus scraping a running engine sees the readiness gate
//! open and close as the engine's own `/status` says, and fires the split-brain alert.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ADMIN, Engine, Later, PlanYaml, TestPlan, clusters, free_port, poll_ok, poll_until, project_root, unique, wait_exit,
};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn monitoring() -> PathBuf {
    project_root().join("monitoring")
}

/// Runs promtool; a missing promtool fails the test (run scripts/install.sh), it never skips.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(monitoring())
        .output()
        .unwrap_or_else(|e| panic!("promtool: {e} (scripts/install.sh installs Debian's prometheus)"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let started = Instant::now();
    let checked = promtool(&["check", "rules", "prometheus-rules.yaml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "prometheus-rules.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    eprintln!("promtool check + test rules: {:.1} s\n{checked}{tested}", started.elapsed().as_secs_f64());
}

/// The metric names the engine's `/metrics` exports, read from its own `# TYPE` lines.
fn exported_metrics() -> BTreeSet<String> {
    use std::collections::BTreeMap;

    use migrate::engine::groups::GroupsReport;
    use migrate::engine::health::{Health, prometheus};
    use migrate::gate::Gate;
    let text = prometheus("p", &Health::default(), &GroupsReport::default(), &Gate::default(), &BTreeMap::new());
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect()
}

/// The metric names a PromQL expression reads: identifiers outside label matchers, ranges and
/// `by (…)`/`without (…)` lists, that are neither functions nor keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let stripped = regex::Regex::new(
        r#"\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|"[^"]*""#,
    )
    .unwrap()
    .replace_all(expr, " ");
    let identifier = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").unwrap();
    let keywords = ["and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan"];
    identifier
        .find_iter(&stripped)
        .map(|m| m.as_str())
        .filter(|m| !m.ends_with('('))
        .filter(|m| !keywords.contains(&m.to_ascii_lowercase().as_str()))
        .map(String::from)
        .collect()
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr").to_string();
            exprs.push((panel["title"].as_str().unwrap_or("?").to_string(), expr));
        }
    }
    exprs
}

#[test]
fn the_dashboard_and_the_rules_ask_only_for_metrics_the_engine_exports() {
    let exported = exported_metrics();
    assert!(exported.contains("ReadinessGateOpen") && exported.contains("AppSide"), "{exported:?}");
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 14, "{exprs:?}");
    let mut read = BTreeSet::new();
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: no metric in {expr}");
        for name in names {
            assert!(exported.contains(&name), "{title}: `{name}` is not exported by the engine ({expr})");
            read.insert(name);
        }
    }
    // Every exported metric has a place on the dashboard.
    let unused: Vec<_> = exported.difference(&read).collect();
    assert!(unused.is_empty(), "exported but on no panel: {unused:?}");

    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(monitoring().join("prometheus-rules.yaml")).unwrap()).unwrap();
    let rules: Vec<&serde_yaml::Value> =
        rules["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap()).collect();
    let recorded: BTreeSet<String> = rules.iter().filter_map(|r| r["record"].as_str()).map(String::from).collect();
    for rule in &rules {
        let expr = rule["expr"].as_str().unwrap();
        for name in metric_names(expr) {
            assert!(
                exported.contains(&name) || recorded.contains(&name) || name == "up",
                "rule {:?}: `{name}` is neither exported nor recorded ({expr})",
                rule["alert"].as_str().or(rule["record"].as_str())
            );
        }
    }
    eprintln!("{} dashboard queries and {} rules over {} exported metrics", exprs.len(), rules.len(), exported.len());
}

#[test]
fn metric_names_skips_functions_labels_and_ranges() {
    let names =
        metric_names(r#"sum by (ReplicatorName) (increase(ReplicatorFailure{plan=~"$plan"}[5m])) > 0 and up{job="x"}"#);
    assert_eq!(names, BTreeSet::from(["ReplicatorFailure".to_string(), "up".to_string()]));
}

/// A Prometheus of the test's own: temp config and storage, a free port, scraping every second.
struct Prometheus {
    child: Child,
    address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules = monitoring().join("prometheus-rules.yaml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n  - job_name: migrate-engine\n    static_configs:\n      - targets: ['{target}']\n",
            rules.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let log = dir.path().join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("prometheus: {e} (scripts/install.sh installs Debian's prometheus)"));
        let prometheus = Prometheus { child, address, log, _dir: dir };
        poll_until(
            Later(|| format!("Prometheus to be ready:\n{}", prometheus.log_text())),
            Duration::from_secs(60),
            || get(&prometheus.address, "/-/ready").is_some_and(|(code, _)| code == 200),
        );
        prometheus
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query through the HTTP API: its `data.result`.
    fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", urlencoding::encode(expr));
        let (code, body) = get(&self.address, &path).expect("Prometheus answers");
        let document: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(code == 200 && document["status"] == "success", "{expr}: {code} {body}");
        document["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a query that yields one series, if it yields one.
    fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        result.first().and_then(|series| series["value"][1].as_str()?.parse().ok())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if wait_exit(&mut self.child, Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.0 (so the answer is never chunked): status code and body.
fn get(address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn engine_gate_open(listen: &str) -> Option<bool> {
    let (code, body) = get(listen, "/status")?;
    let status: serde_json::Value = serde_json::from_str(&body).ok().filter(|_| code == 200)?;
    status["gate"]["open"].as_bool()
}

/// Samples the engine's `/status` and Prometheus's `ReadinessGateOpen` until both say
/// `open`; returns how long after `/status` Prometheus said it.
fn both_say(engine: &str, prometheus: &Prometheus, plan: &str, open: bool, timeout: Duration) -> Duration {
    let expr = format!("ReadinessGateOpen{{plan=\"{plan}\"}}");
    let mut status_said: Option<Instant> = None;
    let what = Later(|| {
        let gate = if open { "open" } else { "closed" };
        format!("the gate {gate} in /status and Prometheus; Prometheus's log:\n{}", prometheus.log_text())
    });
    poll_ok(what, timeout, || {
        let engine_says = engine_gate_open(engine);
        let prometheus_says = prometheus.value(&expr);
        if engine_says == Some(open) {
            status_said.get_or_insert_with(Instant::now);
        }
        match status_said {
            Some(said) if prometheus_says == Some(f64::from(u8::from(open))) => Ok(said.elapsed()),
            _ => Err(format!("/status says {engine_says:?}, Prometheus {prometheus_says:?}")),
        }
    })
}

#[test]
fn prometheus_sees_the_gate_open_and_close_as_the_engines_status_says() {
    let clusters = clusters();
    let topic = unique("watched");
    clusters.source.create_topics(&[(&topic, 1, &[])]);
    clusters.target.create_topics(&[(&topic, 1, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let name = "monitored";
    let body = format!(
        "replication:\n  topics: [{topic}]\nreadiness:\n  max_message_lag: 100000\n  max_replication_latency_ms: 10000\n  sustained_for: 2s\nengine:\n  listen: 127.0.0.1:0\napps:\n  - name: writer\n    produces: [{topic}]\n"
    );
    let path = PlanYaml::new(name, &clusters.source, &clusters.target, body).write_to(dir.path(), "plan.yaml");
    let plan = TestPlan { path, state: dir.path().join("state"), _dir: dir };
    let engine = Engine::start(&plan);
    let listen = engine.status().and_then(|s| s["listen"].as_str().map(String::from)).expect("the engine's address");
    let started = Instant::now();
    let prometheus = Prometheus::start(&listen);
    let ready_after = started.elapsed();

    produce(&clusters.source, &topic, 0..20);
    let opened_lag = both_say(&listen, &prometheus, name, true, Duration::from_secs(90));
    let open_after = started.elapsed();

    // A native write on the target, whose writer is the source: a split-brain alarm closes the gate.
    produce(&clusters.target, &topic, 20..25);
    let closed_lag = both_say(&listen, &prometheus, name, false, Duration::from_secs(60));
    // Exactly one alarm: the topic's one partition, written on the target (not one per record).
    let alarms = prometheus.value(&format!("SplitBrainAlarm{{plan=\"{name}\"}}"));
    assert_eq!(alarms, Some(1.0), "SplitBrainAlarm");
    // The shipped rules, loaded by this Prometheus, fire the split-brain alert.
    let alert = format!("ALERTS{{alertname=\"MigrateSplitBrain\",alertstate=\"firing\",plan=\"{name}\"}}");
    poll_until(
        Later(|| format!("MigrateSplitBrain to fire:\n{}", prometheus.log_text())),
        Duration::from_secs(30),
        || !prometheus.query(&alert).is_empty(),
    );
    // Each condition's series agrees with the gate the engine serves.
    let status = engine.status().expect("status");
    for condition in status["gate"]["conditions"].as_array().unwrap() {
        let cluster = condition["cluster"].as_str().map_or(String::new(), |c| format!(",ClusterAlias=\"{c}\""));
        let expr = format!(
            "ReadinessGateCondition{{plan=\"{name}\",Condition=\"{}\"{cluster}}}",
            condition["name"].as_str().unwrap()
        );
        let value = prometheus.value(&expr);
        assert!(value.is_some(), "no series for {expr}");
        if condition["name"] == "SplitBrainAlarm" {
            assert_eq!(value, Some(0.0), "{expr}");
        }
    }
    assert_eq!(
        prometheus.value(&format!("AppSide{{plan=\"{name}\",App=\"writer\",ClusterAlias=\"source\"}}")),
        Some(1.0)
    );
    // Every dashboard query runs on this Prometheus (the plan's name for `$plan`).
    let mut answered = 0;
    for (_, expr) in dashboard_exprs() {
        let expr = expr.replace("$plan", name).replace("$__range", "5m");
        if !prometheus.query(&expr).is_empty() {
            answered += 1;
        }
    }
    engine.stop();
    eprintln!(
        "Prometheus ready {:.1} s after the engine; gate open {:.1} s after start, seen by Prometheus {:.1} s after /status; closed (split-brain) seen {:.1} s after /status; {answered} of {} dashboard queries returned series",
        ready_after.as_secs_f64(),
        open_after.as_secs_f64(),
        opened_lag.as_secs_f64(),
        closed_lag.as_secs_f64(),
        dashboard_exprs().len()
    );
    assert!(opened_lag < Duration::from_secs(10) && closed_lag < Duration::from_secs(10), "Prometheus lags /status");
}

fn produce(broker: &common::Broker, topic: &str, range: std::ops::Range<usize>) {
    let producer: BaseProducer = broker.client_config(ADMIN).create().unwrap();
    for i in range {
        let value = format!("record-{i}");
        producer.send(BaseRecord::<str, str>::to(topic).partition(0).key("k").payload(&value)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).expect("records delivered");
}
