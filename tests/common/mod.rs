//! The test harness: real Nisshi brokers on free loopback ports, started once per test binary,
//! stopped by a watchdog when the test process exits. Each test uses its own topics and groups.
#![allow(dead_code)]

pub mod aws;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

pub const ADMIN: &str = "admin";
pub const REPLICATOR: &str = "replicator";
pub const APP: &str = "app";
/// A user that exists for SCRAM-SHA-256 only.
pub const SHA256_ONLY: &str = "sha256only";

/// The broker binary, installed (once, cached) by the project's own script.
pub fn nisshi() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("NISSHI_BIN") {
            return PathBuf::from(path);
        }
        let output = Command::new(project_root().join("scripts/install.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/install.sh");
        assert!(output.status.success(), "scripts/install.sh failed");
        let text = String::from_utf8_lossy(&output.stdout);
        PathBuf::from(text.lines().last().expect("install.sh prints the broker path").trim())
    })
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A topic to create: name, partition count, configs.
pub type TopicSpec<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// A running broker and the credentials of its users.
pub struct Broker {
    pub port: u16,
    pub cluster_id: String,
    pub dir: PathBuf,
    pub passwords: Vec<(String, String)>,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The CA that signed `tls`'s certificate, for clients.
    pub ca: Option<PathBuf>,
    process: std::sync::Mutex<Option<Spawned>>,
}

impl Broker {
    /// Stops the broker process (its sqlite data stays).
    pub fn stop(&self) {
        if let Some(spawned) = self.process.lock().unwrap().take() {
            stop(spawned);
        }
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&self) {
        let mut process = self.process.lock().unwrap();
        assert!(process.is_none(), "the broker is running");
        *process = Some(spawn_broker(&self.dir, self.port, &self.cluster_id, true, self.tls.as_ref()));
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(u, _)| u == user).expect("known user").1
    }

    /// Writes `user`'s password to a file (for plans) and returns its path.
    ///
    /// Regression: this rewrote the file on every call, so a plan read by one test could see it
    /// empty while a concurrent test truncated it (a wrong-password test then exited 2, invalid
    /// plan, instead of 3). Now it is written once, atomically.
    pub fn password_file(&self, user: &str) -> PathBuf {
        let path = self.dir.join(format!("{user}.password"));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(self.password(user)) {
            let temporary = self.dir.join(format!(".{user}.password.{}", unique("tmp")));
            std::fs::write(&temporary, self.password(user)).unwrap();
            std::fs::rename(&temporary, &path).unwrap();
        }
        path
    }

    /// The `app` user's librdkafka properties, as a hook's `MIGRATE_CLIENT_CONFIG` file holds them
    /// (for an app's first start, which is not a move).
    pub fn app_properties(&self) -> String {
        format!(
            "bootstrap.servers={}\nsecurity.protocol=sasl_plaintext\nsasl.mechanism=SCRAM-SHA-512\nsasl.username={APP}\nsasl.password={}\n",
            self.bootstrap(),
            self.password(APP)
        )
    }

    /// An admin client logged in as `admin`.
    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config(ADMIN).create().expect("admin client")
    }

    pub fn client_config(&self, user: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        match &self.ca {
            Some(ca) => config.set("security.protocol", "sasl_ssl").set("ssl.ca.location", ca.display().to_string()),
            None => config.set("security.protocol", "sasl_plaintext"),
        };
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", user)
            .set("sasl.password", self.password(user));
        config
    }

    /// Creates topics as the admin user and waits until metadata shows them.
    pub fn create_topics(&self, topics: &[TopicSpec<'_>]) {
        let admin = self.admin();
        let new_topics: Vec<NewTopic> = topics
            .iter()
            .map(|(name, partitions, configs)| {
                let mut topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(1));
                for (key, value) in *configs {
                    topic = topic.set(key, value);
                }
                topic
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime
            .block_on(
                admin.create_topics(&new_topics, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))),
            )
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (name, partitions, _) in topics {
            loop {
                let metadata = admin.inner().fetch_metadata(Some(name), Duration::from_secs(5)).expect("metadata");
                if metadata
                    .topics()
                    .first()
                    .is_some_and(|t| t.error().is_none() && t.partitions().len() == *partitions as usize)
                {
                    break;
                }
                assert!(Instant::now() < deadline, "topic {name} did not appear");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

pub struct BrokerOptions {
    pub cluster_id: String,
    /// Certificate and key files: the broker then speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub ca: Option<PathBuf>,
}

/// Starts a SCRAM-protected broker: provisions users without authentication, then restarts it
/// with `--authentication`.
pub fn start_broker(options: BrokerOptions) -> Broker {
    let dir = tempfile::Builder::new().prefix("migrate-broker-").tempdir().unwrap().keep();
    let port = free_port();
    let mut passwords = Vec::new();
    let provisioning = spawn_broker(&dir, port, &options.cluster_id, false, None);
    for (user, mechanism) in
        [(ADMIN, "scram512"), (REPLICATOR, "scram512"), (APP, "scram512"), (SHA256_ONLY, "scram256")]
    {
        let password = format!("pw-{user}-{}", random_suffix());
        let status = Command::new(nisshi())
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{port}"),
                "--mechanism",
                mechanism,
                user,
                &password,
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "nisshi user create {user}");
        passwords.push((user.to_string(), password));
    }
    stop(provisioning);
    let process = spawn_broker(&dir, port, &options.cluster_id, true, options.tls.as_ref());
    Broker {
        port,
        cluster_id: options.cluster_id,
        dir,
        passwords,
        tls: options.tls,
        ca: options.ca,
        process: std::sync::Mutex::new(Some(process)),
    }
}

/// A fixed-width random-ish suffix (stable lengths keep snapshot tables aligned).
fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{:08x}{:08x}", nanos, std::process::id())
}

/// A broker process watched by a shell that kills it when the test process exits.
struct Spawned {
    watchdog: std::process::Child,
    port: u16,
}

fn spawn_broker(
    dir: &Path,
    port: u16,
    cluster_id: &str,
    authentication: bool,
    tls: Option<&(PathBuf, PathBuf)>,
) -> Spawned {
    let mut args = vec![
        "broker".to_string(),
        "--cluster-id".into(),
        cluster_id.into(),
        "--listener-url".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--advertised-listener-url".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--storage-engine".into(),
        format!("sqlite:///{}/data.db", dir.display()),
    ];
    if authentication {
        args.push("--authentication".into());
    }
    if let Some((cert, key)) = tls {
        args.extend(["--cert".into(), cert.display().to_string(), "--key".into(), key.display().to_string()]);
    }
    let watchdog = spawn_watched(nisshi(), &args, &dir.join("broker.log"), &[]);
    wait_for_port(port, Duration::from_secs(30));
    Spawned { watchdog, port }
}

/// Starts `binary` with `args` (output appended to `log`) under a shell that kills it when the
/// test process exits, or when the returned watchdog gets SIGTERM.
pub fn spawn_watched(binary: &Path, args: &[String], log: &Path, envs: &[(&str, &str)]) -> std::process::Child {
    let script = r#"bin=$1; parent=$2; log=$3; shift 3
"$bin" "$@" >>"$log" 2>&1 &
child=$!
trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done
kill $child 2>/dev/null; wait $child"#;
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(binary)
        .arg(std::process::id().to_string())
        .arg(log)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .spawn()
        .expect("watchdog shell")
}

fn stop(mut spawned: Spawned) {
    let _ = Command::new("kill").arg(spawned.watchdog.id().to_string()).status();
    let _ = spawned.watchdog.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", spawned.port)).is_ok() {
        assert!(Instant::now() < deadline, "broker on {} did not stop", spawned.port);
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The source and target shared by the tests of one binary.
pub struct Clusters {
    pub source: Broker,
    pub target: Broker,
}

pub fn clusters() -> &'static Clusters {
    static CLUSTERS: OnceLock<Clusters> = OnceLock::new();
    CLUSTERS.get_or_init(|| {
        let tag = random_suffix();
        let (source, target) = std::thread::scope(|scope| {
            let source = scope.spawn(|| {
                start_broker(BrokerOptions { cluster_id: format!("test-source-{tag}"), tls: None, ca: None })
            });
            let target = scope.spawn(|| {
                start_broker(BrokerOptions { cluster_id: format!("test-target-{tag}"), tls: None, ca: None })
            });
            (source.join().unwrap(), target.join().unwrap())
        });
        Clusters { source, target }
    })
}

/// A name unique to this test run, for topics and groups.
pub fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", random_suffix())
}

/// The result of running the `migrate` binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// Runs `migrate` with `args`, asserting that none of `secrets` appears in its output.
pub fn migrate(args: &[&str], envs: &[(&str, &str)], secrets: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("MIGRATE_PLAN")
        .env_remove("MIGRATE_STATE_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrate");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret leaked into the output:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// Finds the checks named `name` in a `plan -o json` document.
pub fn checks_named<'a>(document: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    document["checks"].as_array().expect("checks").iter().filter(|c| c["name"] == name).collect()
}

/// Commits offset 0 of partition 0 of `topic` for `group`, so the group exists (state Empty).
pub fn commit_group_offset(broker: &Broker, group: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = broker
        .client_config(ADMIN)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(topic, 0, Offset::Offset(0)).unwrap();
    consumer.commit(&offsets, CommitMode::Sync).expect("commit group offset");
}

/// The YAML of a test plan over two brokers, with the fields tests vary; everything else (the
/// target's identities, the apps' identities) is the healthy default.
pub struct PlanYaml<'a> {
    pub name: &'a str,
    pub source: &'a Broker,
    pub target: &'a Broker,
    pub source_bootstrap: String,
    /// Extra lines under `source:` (each indented by two spaces), e.g. `cluster_id` or `tls`.
    pub source_extra: String,
    pub replicator_user: String,
    pub replicator_password: PathBuf,
    pub mechanism: String,
    /// Top-level sections after the clusters: `replication`, `apps`, …
    pub body: String,
}

impl<'a> PlanYaml<'a> {
    pub fn new(name: &'a str, source: &'a Broker, target: &'a Broker, body: impl Into<String>) -> Self {
        PlanYaml {
            name,
            source,
            target,
            source_bootstrap: source.bootstrap(),
            source_extra: String::new(),
            replicator_user: REPLICATOR.into(),
            replicator_password: source.password_file(REPLICATOR),
            mechanism: "SCRAM-SHA-512".into(),
            body: body.into(),
        }
    }

    pub fn render(&self) -> String {
        let identity = |user: &str, password: &Path, mechanism: &str| {
            format!("{{ mechanism: {mechanism}, username: {user}, password: {{ file: {} }} }}", password.display())
        };
        format!(
            "name: {name}\nsource:\n  bootstrap_servers: {source}\n{extra}  replicator_auth: {source_replicator}\n  app_auth: {source_app}\ntarget:\n  bootstrap_servers: {target}\n  replicator_auth: {target_replicator}\n  app_auth: {target_app}\n{body}",
            name = self.name,
            source = self.source_bootstrap,
            extra = self.source_extra,
            source_replicator = identity(&self.replicator_user, &self.replicator_password, &self.mechanism),
            source_app = identity(APP, &self.source.password_file(APP), "SCRAM-SHA-512"),
            target = self.target.bootstrap(),
            target_replicator = identity(REPLICATOR, &self.target.password_file(REPLICATOR), "SCRAM-SHA-512"),
            target_app = identity(APP, &self.target.password_file(APP), "SCRAM-SHA-512"),
            body = self.body,
        )
    }

    /// Writes the plan as `file` in `dir` and returns its path.
    pub fn write_to(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.render()).unwrap();
        path
    }
}

/// A plan file and its state directory, in a directory removed with it.
pub struct TestPlan {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub state: PathBuf,
}

/// A running `migrate apply`.
pub struct Engine {
    pub child: Child,
    pub log: PathBuf,
    pub state: PathBuf,
}

impl Engine {
    pub fn start(plan: &TestPlan) -> Engine {
        let log = plan.state.with_extension(format!("log-{}", unique("run")));
        std::fs::create_dir_all(&plan.state).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args([
                "-p",
                plan.path.to_str().unwrap(),
                "--state-dir",
                plan.state.to_str().unwrap(),
                "apply",
                "--timeout",
                "5",
            ])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "migrate=info,warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let engine = Engine { child, log, state: plan.state.clone() };
        engine.wait_running();
        engine
    }

    pub fn status(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.join("engine/status.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits until the engine reports its readiness gate open.
    pub fn wait_gate_open(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.status().is_none_or(|s| s["gate"]["open"] != true) {
            assert!(
                Instant::now() < deadline,
                "the gate did not open: {:#}\n{}",
                self.status().map(|s| s["gate"].clone()).unwrap_or_default(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_running(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.status()
                && status["state"] == "running"
                && status["pid"] == self.child.id()
            {
                return;
            }
            assert!(
                Path::new(&format!("/proc/{}/status", self.child.id())).exists() && !self.exited(),
                "the engine exited:\n{}",
                self.log_text()
            );
            assert!(Instant::now() < deadline, "the engine did not start:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is gone or a zombie (exited, not yet reaped).
    pub fn exited(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).map_or(true, |stat| stat.contains(") Z "))
    }

    /// `GET path` on the engine's endpoint.
    pub fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let address =
            self.status().and_then(|s| s["listen"].as_str().map(String::from)).expect("the engine serves HTTP");
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response.split_once("\r\n\r\n").unwrap().1.to_string()
    }

    /// The value of the `/metrics` sample whose name and labels contain `selector`.
    pub fn metric(&self, name: &str, label: &str) -> f64 {
        let text = self.get("/metrics");
        text.lines()
            .find(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} with {label} in:\n{text}"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
    }

    /// SIGTERM: the engine delivers what is in flight and exits 0.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(60));
        let log = self.log_text();
        assert_eq!(status, Some(0), "graceful stop:\n{log}");
        log
    }

    pub fn kill(mut self) {
        self.signal("-KILL");
        wait_exit(&mut self.child, Duration::from_secs(10));
    }
}

/// A test that fails half-way must not leave its engine running (it would hold CPU and ports
/// for the rest of the run).
impl Drop for Engine {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `child`'s exit code within `timeout`; `None` when it was killed by a signal or is still
/// running (then killed and reaped).
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    wait_status(child, timeout).and_then(|status| status.code())
}

/// How `child` ended within `timeout` (a code or a signal); `None`, and the child killed and
/// reaped, when it is still running.
pub fn wait_status(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// Makes a CA (`<name>-ca.pem`/`.key`) in `dir`.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
    dir.join(format!("{name}-ca.pem"))
}

/// Makes a broker certificate for 127.0.0.1/localhost signed by CA `ca`; returns (cert, key).
pub fn make_server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    (dir.join("server.pem"), dir.join("server.key"))
}
