//! The test harness: real Apache Kafka brokers (single-node KRaft, the StandardAuthorizer on, no
//! ACL means no access) on free loopback ports, started once per test binary by the project's own
//! `scripts/kafka/broker.sh` and stopped by a watchdog when the test process exits. Each test uses
//! its own topics and groups, all named by [`unique`] under this binary's run prefix, and the
//! `replicator` and `app` users hold exactly the operations the product says they need
//! ([`grant_least_privilege`]) on that prefix: never a super user, never `admin`.
#![allow(dead_code)]

pub mod apps;
pub mod aws;
pub mod ledger;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use migrate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

use migrate::preflight::acl::Requirement;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

pub const ADMIN: &str = "admin";
pub const REPLICATOR: &str = "replicator";
pub const APP: &str = "app";
/// A user that exists for SCRAM-SHA-256 only.
pub const SHA256_ONLY: &str = "sha256only";

/// The Apache Kafka versions of `scripts/kafka/versions.sh`, installed (once, cached) by the
/// project's own script.
pub struct KafkaVersions {
    pub source: String,
    pub target: String,
    pub kafka4: String,
    /// The 2.8 line (ZooKeeper), for one compatibility test.
    pub kafka2: String,
}

pub fn kafka_versions() -> &'static KafkaVersions {
    static VERSIONS: OnceLock<KafkaVersions> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        if std::env::var_os("MIGRATE_KAFKA_INSTALLED").is_none() {
            let status = Command::new(project_root().join("scripts/install.sh"))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .status()
                .expect("run scripts/install.sh");
            assert!(status.success(), "scripts/install.sh failed");
        }
        let text = std::fs::read_to_string(project_root().join("scripts/kafka/versions.sh")).unwrap();
        let version = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{name} in scripts/kafka/versions.sh"))
                .to_string()
        };
        KafkaVersions {
            source: version("KAFKA_SOURCE_VERSION"),
            target: version("KAFKA_TARGET_VERSION"),
            kafka4: version("KAFKA_4_VERSION"),
            kafka2: version("KAFKA_2_VERSION"),
        }
    })
}

/// A regular file to name as a CA in plans that are only validated (a device such as /dev/null
/// is refused as a CA file).
pub const PLACEHOLDER_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/placeholder-ca.pem");

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `N` distinct free ports: all bound at once before any is released, so the kernel cannot hand
/// the same port out twice (separate [`free_port`] calls once gave a broker's replicator and
/// controller listeners the same port, and the broker refused to format).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|index| listeners[index].local_addr().unwrap().port())
}

/// A topic to create: name, partition count, configs.
pub type TopicSpec<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// A running broker and the credentials of its users.
pub struct Broker {
    /// The apps' listener (SASL_PLAINTEXT, SCRAM-SHA-512 and -256).
    pub port: u16,
    /// The replicator's listener: SASL_SSL when the broker has `tls`, else SASL_PLAINTEXT.
    pub replicator_port: u16,
    pub cluster_id: String,
    pub version: String,
    pub dir: PathBuf,
    pub passwords: Vec<(String, String)>,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The CA that signed `tls`'s certificate, for clients.
    pub ca: Option<PathBuf>,
    /// The replicator listener is an MSK IAM one (OAUTHBEARER only): SCRAM clients use the apps'.
    pub iam: Option<IamListener>,
    process: std::sync::Mutex<Option<Spawned>>,
}

/// An MSK IAM replicator listener (scripts/kafka/broker.sh `IAM_*`): the region it accepts, its
/// access keys (id, secret, principal) and how long a token lives.
#[derive(Clone, Debug)]
pub struct IamListener {
    pub region: String,
    pub keys: Vec<(String, String, String)>,
    pub token_lifetime_secs: u64,
}

impl Broker {
    /// The validator's log lines (`accepted key=… principal=… token=…`, `refused … (key …)`).
    pub fn iam_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("iam.log")).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// The distinct tokens signed with access key `key` that the validator accepted.
    pub fn iam_tokens_accepted(&self, key: &str) -> std::collections::BTreeSet<String> {
        self.iam_log()
            .iter()
            .filter(|line| line.contains(&format!(" accepted key={key} ")))
            .filter_map(|line| line.split_whitespace().find_map(|word| word.strip_prefix("token=")).map(str::to_string))
            .collect()
    }
}

impl Broker {
    /// Stops the broker process (SIGTERM, its data stays).
    pub fn stop(&self) {
        if let Some(spawned) = self.process.lock().unwrap().take() {
            stop(spawned);
        }
    }

    /// `kill -9` of the broker's JVM: no clean shutdown, as a crash or an OOM kill leaves it.
    pub fn kill9(&self) {
        if let Some(spawned) = self.process.lock().unwrap().take() {
            let pid = std::fs::read_to_string(self.dir.join("run.pid")).expect("run.pid");
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
            stop(spawned);
        }
    }

    /// Starts the broker again on the same ports and data.
    pub fn restart(&self) {
        let mut process = self.process.lock().unwrap();
        assert!(process.is_none(), "the broker is running");
        *process = Some(spawn_broker(&self.dir, self.port));
    }

    /// The listener tests and plans use: the TLS one on a broker with `tls`, else the apps' one.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", if self.scram_over_tls() { self.replicator_port } else { self.port })
    }

    /// The replicator listener takes SCRAM over TLS (not when it is an IAM one).
    fn scram_over_tls(&self) -> bool {
        self.ca.is_some() && self.iam.is_none()
    }

    /// The apps' listener (SASL_PLAINTEXT).
    pub fn apps_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(u, _)| u == user).expect("known user").1
    }

    /// `user`'s password file (written before the broker was formatted; plans read it).
    pub fn password_file(&self, user: &str) -> PathBuf {
        self.password(user);
        self.dir.join(format!("{user}.password"))
    }

    /// The `app` user's librdkafka properties, as a hook's `MIGRATE_CLIENT_CONFIG` file holds them
    /// (for an app's first start, which is not a move).
    pub fn app_properties(&self) -> String {
        format!(
            "bootstrap.servers={}\nsecurity.protocol=sasl_plaintext\nsasl.mechanism=SCRAM-SHA-512\nsasl.username={APP}\nsasl.password={}\n",
            self.apps_bootstrap(),
            self.password(APP)
        )
    }

    /// An admin client logged in as `admin`.
    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config(ADMIN).create().expect("admin client")
    }

    pub fn client_config(&self, user: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        match self.ca.as_ref().filter(|_| self.iam.is_none()) {
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

    /// `admin`'s Java client properties for the listener [`Broker::bootstrap`] names, for Kafka's
    /// own tools (`--command-config`), written once into the broker's directory.
    pub fn admin_properties(&self) -> PathBuf {
        // Two tests of one binary writing it at once raced on the atomic write's temporary file
        // (one rename found it gone): written once, under a lock.
        static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join("admin.properties");
        if !path.exists() {
            let mut text = format!(
                "sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{ADMIN}\" password=\"{}\";\n",
                self.password(ADMIN)
            );
            match self.ca.as_ref().filter(|_| self.iam.is_none()) {
                Some(ca) => text.push_str(&format!(
                    "security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
                    ca.display()
                )),
                None => text.push_str("security.protocol=SASL_PLAINTEXT\n"),
            }
            migrate::state::write_atomically_with_mode(&path, text.as_bytes(), 0o600).unwrap();
        }
        path
    }

    /// Runs one of the project's Kafka tool wrappers (`scripts/kafka/bin`) for this broker's
    /// version, in the broker's directory (where `admin.properties` is), as `sh -c command`.
    pub fn kafka_tool(&self, command: &str) -> Output {
        self.admin_properties();
        let path = format!(
            "{}:{}",
            project_root().join("scripts/kafka/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("sh")
            .args(["-c", command])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("MIGRATE_KAFKA_VERSION", &self.version)
            .output()
            .expect("sh -c")
    }

    /// Creates SCRAM-SHA-512 user `name` with Kafka's own `kafka-configs`; returns its password file.
    pub fn create_user(&self, name: &str) -> PathBuf {
        let password = self.set_new_password(name);
        let file = self.dir.join(format!("{name}.password"));
        migrate::state::write_atomically_with_mode(&file, password.as_bytes(), 0o600).unwrap();
        file
    }

    /// Gives SCRAM-SHA-512 user `name` a new random password (creating the user if need be) with
    /// Kafka's own `kafka-configs`, as an operator rotating it would; returns it.
    pub fn set_new_password(&self, name: &str) -> String {
        let password = format!("pw-{name}-{}", random_suffix());
        let output = self.kafka_tool(&format!(
            "kafka-configs --bootstrap-server {} --command-config admin.properties --alter --entity-type users --entity-name {name} --add-config 'SCRAM-SHA-512=[password={password}]'",
            self.bootstrap()
        ));
        assert!(output.status.success(), "kafka-configs: {}", String::from_utf8_lossy(&output.stderr));
        password
    }

    /// Creates `bindings` as `admin`, again while the broker answers that its controller is not
    /// ready: a broker that has just started under load once took longer than CreateAcls's 10 s
    /// ("Failed while waiting for controller: Local: Timed out"), failing a whole test binary's
    /// set-up. Creating a binding that exists already is no error, so a retry is safe.
    pub fn create_acls(&self, bindings: &[AclBinding]) {
        let admin = self.admin();
        poll_ok(format!("CreateAcls on {}", self.bootstrap()), Duration::from_secs(90), || {
            migrate::kafka::admin::create_acls(admin.inner(), bindings, Duration::from_secs(10))
        });
    }

    /// Deletes the binding equal to `binding` as `admin`; returns how many were deleted.
    pub fn delete_acl(&self, binding: &AclBinding) -> usize {
        let admin = self.admin();
        migrate::kafka::admin::delete_acl(admin.inner(), binding, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("DeleteAcls on {}: {e}", self.bootstrap()))
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
        for (name, partitions, _) in topics {
            poll_until(format!("topic {name} to appear"), Duration::from_secs(10), || {
                let metadata = admin.inner().fetch_metadata(Some(name), Duration::from_secs(5)).expect("metadata");
                metadata
                    .topics()
                    .first()
                    .is_some_and(|t| t.error().is_none() && t.partitions().len() == *partitions as usize)
            });
        }
    }
}

#[derive(Default)]
pub struct BrokerOptions {
    /// The Apache Kafka version; the target's (`scripts/kafka/versions.sh`) when `None`.
    pub version: Option<String>,
    /// Certificate and key files: the replicator's listener then speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub ca: Option<PathBuf>,
    /// No authorizer at all (everyone may do everything), as some self-managed sources run.
    pub no_authorizer: bool,
    /// More `server.properties` lines.
    pub extra_config: String,
    /// Makes the replicator listener (which needs `tls`) an MSK IAM one.
    pub iam: Option<IamListener>,
}

/// A new KRaft cluster ID: 16 random bytes in URL-safe base64 without padding, as
/// `kafka-storage random-uuid` prints.
pub fn new_cluster_id() -> String {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut random| random.read_exact(&mut bytes)).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Formats and starts a single-node KRaft cluster (ZooKeeper for a 2.x version) with the SCRAM users `admin`, `replicator`,
/// `app` (SCRAM-SHA-512) and `sha256only` (SCRAM-SHA-256); `admin` is its only human super user,
/// `replicator` and `app` hold [`grant_least_privilege`]'s ACLs.
pub fn start_broker(options: BrokerOptions) -> Broker {
    let dir = tempfile::Builder::new().prefix("migrate-broker-").tempdir().unwrap().keep();
    let version = options.version.unwrap_or_else(|| kafka_versions().target.clone());
    let cluster_id = new_cluster_id();
    let [port, replicator_port, controller_port, internal_port] = free_ports();
    let mut passwords = Vec::new();
    let mut users = Vec::new();
    for (user, mechanism) in [
        (ADMIN, "SCRAM-SHA-512"),
        (REPLICATOR, "SCRAM-SHA-512"),
        (APP, "SCRAM-SHA-512"),
        (SHA256_ONLY, "SCRAM-SHA-256"),
    ] {
        let password = format!("pw-{user}-{}", random_suffix());
        migrate::state::write_atomically_with_mode(&dir.join(format!("{user}.password")), password.as_bytes(), 0o600)
            .unwrap();
        passwords.push((user.to_string(), password));
        users.push(format!("{user}:{mechanism}"));
    }
    let mut env = format!(
        "KAFKA_VERSION={version}\nCLUSTER_ID={cluster_id}\nAPPS_PORT={port}\nREPLICATOR_PORT={replicator_port}\nCONTROLLER_PORT={controller_port}\nINTERNAL_PORT={internal_port}\nUSERS=\"{}\"\n",
        users.join(" ")
    );
    if options.no_authorizer {
        env.push_str("AUTHORIZER=none\n");
    }
    if !options.extra_config.is_empty() {
        env.push_str(&format!("EXTRA_CONFIG='{}'\n", options.extra_config));
    }
    if let Some((cert, key)) = &options.tls {
        env.push_str(&format!("TLS_CERT={}\nTLS_KEY={}\n", cert.display(), key.display()));
    }
    if let Some(iam) = &options.iam {
        let mut keys = Vec::new();
        for (id, secret, principal) in &iam.keys {
            migrate::state::write_atomically_with_mode(&dir.join(format!("{id}.secret")), secret.as_bytes(), 0o600)
                .unwrap();
            keys.push(format!("{id}:{principal}"));
        }
        env.push_str(&format!(
            "IAM_REGION={}\nIAM_KEYS=\"{}\"\nIAM_TOKEN_LIFETIME={}\n",
            iam.region,
            keys.join(" "),
            iam.token_lifetime_secs
        ));
    }
    std::fs::write(dir.join("broker.env"), env).unwrap();
    let output = Command::new(broker_script()).args(["format", dir.to_str().unwrap()]).output().expect("broker.sh");
    assert!(output.status.success(), "broker.sh format {}: {}", dir.display(), String::from_utf8_lossy(&output.stderr));
    let process = spawn_broker(&dir, port);
    wait_for_port(replicator_port, Duration::from_secs(60));
    let mut broker = Broker {
        port,
        replicator_port,
        cluster_id,
        version,
        dir,
        passwords,
        tls: options.tls,
        ca: options.ca,
        iam: options.iam,
        process: std::sync::Mutex::new(Some(process)),
    };
    if broker.version.starts_with("2.") {
        // On ZooKeeper the cluster picks its own ID.
        broker.cluster_id = migrate::kafka::admin::cluster_id(broker.admin().inner(), Duration::from_secs(30))
            .expect("the 2.x cluster reports its ID");
    }
    if !options.no_authorizer {
        grant_least_privilege(&broker);
    }
    broker
}

fn broker_script() -> PathBuf {
    kafka_versions();
    project_root().join("scripts/kafka/broker.sh")
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

fn spawn_broker(dir: &Path, port: u16) -> Spawned {
    let watchdog =
        spawn_watched(&broker_script(), &["run".to_string(), dir.display().to_string()], &dir.join("broker.log"), &[]);
    wait_for_port(port, Duration::from_secs(60));
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
    poll_until(format!("the broker on {} to stop", spawned.port), Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", spawned.port)).is_err()
    });
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    poll_until(format!("something to listen on {port}"), timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// Waits until `condition` holds; panics naming `what` once `timeout` has passed. Every wait of
/// the tests is one of these (or [`poll_for`], [`poll_ok`], [`settled`]): never a fixed sleep.
pub fn poll_until(what: impl std::fmt::Display, timeout: Duration, mut condition: impl FnMut() -> bool) {
    poll_for(what, timeout, || condition().then_some(()))
}

/// Waits until `attempt` gives a value and returns it; panics naming `what` once `timeout` has
/// passed.
pub fn poll_for<T>(what: impl std::fmt::Display, timeout: Duration, attempt: impl FnMut() -> Option<T>) -> T {
    retry(timeout, attempt).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Waits until `attempt` succeeds and returns its value; panics naming `what` and the last error
/// once `timeout` has passed (a commit while the group's coordinator loads, a state not reached
/// yet, described by the attempt).
pub fn poll_ok<T, E: std::fmt::Display>(
    what: impl std::fmt::Display,
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> T {
    let mut last = None;
    let found = retry(timeout, || attempt().map_err(|error| last = Some(error)).ok());
    found.unwrap_or_else(|| {
        let last = last.map_or(String::new(), |error| format!("; the last attempt: {error}"));
        panic!("timed out after {timeout:?} waiting for {what}{last}")
    })
}

/// What `read` returns once it equals `expected`, or its last answer once `timeout` has passed:
/// for state that converges (the ACLs a KRaft broker applies from its metadata log after the
/// request returned), compared by the caller's `assert_eq!`, which shows the difference.
pub fn settled<T: PartialEq>(timeout: Duration, expected: &T, mut read: impl FnMut() -> T) -> T {
    let mut last = None;
    retry(timeout, || {
        let found = read();
        if found == *expected {
            return Some(found);
        }
        last = Some(found);
        None
    })
    .unwrap_or_else(|| last.expect("read at least once"))
}

/// A failure message made only when shown, for a wait whose failure shows logs too costly to read
/// at every attempt: `poll_until(Later(|| format!("… {}", engine.log_text())), …)`.
pub struct Later<F>(pub F);

impl<F: Fn() -> String> std::fmt::Display for Later<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// Calls `attempt` until it gives a value; `None` when the first attempt to end past `timeout`
/// gives none either. Each pause is as long as the attempt before it took, from 20 ms to 250 ms:
/// a file read is retried every 20 ms, a question to a broker (often through a new client) spends
/// no more time asking than waiting, up to 250 ms.
fn retry<T>(timeout: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let started = Instant::now();
        if let Some(value) = attempt() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(started.elapsed().clamp(Duration::from_millis(20), Duration::from_millis(250)));
    }
}

/// The source and target shared by the tests of one binary: the source on the older 3.x line,
/// the target on the newest 3.x line, as a real migration to MSK goes.
pub struct Clusters {
    pub source: Broker,
    pub target: Broker,
}

pub fn clusters() -> &'static Clusters {
    static CLUSTERS: OnceLock<Clusters> = OnceLock::new();
    CLUSTERS.get_or_init(|| {
        let versions = kafka_versions();
        let (source, target) = std::thread::scope(|scope| {
            let source = scope
                .spawn(|| start_broker(BrokerOptions { version: Some(versions.source.clone()), ..Default::default() }));
            let target = scope.spawn(|| start_broker(BrokerOptions::default()));
            (source.join().unwrap(), target.join().unwrap())
        });
        Clusters { source, target }
    })
}

/// A source (SCRAM, the source's Kafka version) and a target whose replicator listener is an MSK
/// IAM one (SASL_SSL, OAUTHBEARER only, with a CA of its own; `iam`'s keys, region and token
/// lifetime), as MSK's port 9098. The target's SCRAM apps listener stays for the tests' own
/// inspection; a plan from [`iam_plan_yaml`] names only the IAM one.
pub fn start_iam_pair(name: &str, iam: IamListener) -> (Broker, Broker) {
    let certs = tempfile::Builder::new().prefix(&format!("migrate-{name}-certs-")).tempdir().unwrap().keep();
    let Certificates { ca, cert, key } = certificates(&certs, name);
    std::thread::scope(|scope| {
        let source = scope.spawn(|| {
            start_broker(BrokerOptions { version: Some(kafka_versions().source.clone()), ..Default::default() })
        });
        let target = scope.spawn(|| {
            start_broker(BrokerOptions { tls: Some((cert, key)), ca: Some(ca), iam: Some(iam), ..Default::default() })
        });
        (source.join().unwrap(), target.join().unwrap())
    })
}

/// A plan whose target is reached only over `target`'s IAM listener: both target identities
/// `AWS_MSK_IAM`, its CA named.
pub fn iam_plan_yaml<'a>(name: &'a str, source: &'a Broker, target: &'a Broker, body: String) -> PlanYaml<'a> {
    let mut yaml = PlanYaml::new(name, source, target, body);
    yaml.target_bootstrap = format!("127.0.0.1:{}", target.replicator_port);
    yaml.target_extra = format!("  tls:\n    ca_file: {}\n", target.ca.as_ref().unwrap().display());
    yaml.target_auth = Some("{ mechanism: AWS_MSK_IAM }".into());
    yaml
}

/// The environment that gives a process an AWS access key through the default credential chain
/// only (no profile, no instance metadata), for `region`.
pub fn aws_key_env(key: &str, secret: &str, region: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", key.into()),
        ("AWS_SECRET_ACCESS_KEY", secret.into()),
        ("AWS_REGION", region.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
}

/// This test binary's prefix: every name [`unique`] gives starts with it.
pub fn run_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("t{}-", &random_suffix()[..8]))
}

/// A name unique to this test run, for topics and groups, under [`run_prefix`].
pub fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{prefix}-{}-{n}", run_prefix(), random_suffix())
}

/// Grants `replicator` and `app` on `broker` exactly the operations the product requires of them
/// (the embedded engine's replicator in both directions, an app that produces, consumes with a
/// group and commits), PREFIXED on this binary's [`run_prefix`], so every test's own topics and
/// groups are covered and nothing else is.
pub fn grant_least_privilege(broker: &Broker) {
    grant_least_privilege_to(broker, REPLICATOR, APP);
}

/// [`grant_least_privilege`] for users `replicator` and `app` (a test's own, say).
pub fn grant_least_privilege_to(broker: &Broker, replicator: &str, app: &str) {
    use migrate::plan::Side;
    use migrate::preflight::acl::{app_requirements, embedded_replicator_requirements};
    let names = [run_prefix().to_string()];
    // A broker may serve as either side: the union of both sides' needs, bidirectional.
    let mut needs = embedded_replicator_requirements(&names, &names, Side::Source, true);
    needs.extend(embedded_replicator_requirements(&names, &names, Side::Target, true));
    needs.sort();
    needs.dedup();
    let mut bindings = allows(&format!("User:{replicator}"), &needs);
    bindings.extend(allows(&format!("User:{app}"), &app_requirements(&names, &names, &names, &names)));
    broker.create_acls(&bindings);
}

/// ALLOW bindings for `requirements`: PREFIXED for names under [`run_prefix`], LITERAL otherwise
/// (the cluster, the engine's own group names).
pub fn allows(principal: &str, requirements: &[Requirement]) -> Vec<AclBinding> {
    requirements
        .iter()
        .map(|requirement| AclBinding {
            resource_type: requirement.resource_type,
            resource_name: requirement.resource_name.clone(),
            pattern_type: if requirement.resource_name.starts_with(run_prefix()) {
                PatternType::Prefixed
            } else {
                PatternType::Literal
            },
            principal: principal.to_string(),
            host: "*".into(),
            operation: requirement.operation,
            permission: AclPermission::Allow,
        })
        .collect()
}

/// One ALLOW binding, LITERAL, any host.
pub fn allow(principal: &str, resource_type: ResourceType, name: &str, operation: AclOperation) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission: AclPermission::Allow,
    }
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
    // On a fresh broker the first group use creates `__consumer_offsets`: the coordinator answers
    // NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS until its partitions are loaded.
    poll_ok(format!("`{group}` to commit"), Duration::from_secs(30), || {
        consumer.commit(&offsets, CommitMode::Sync).inspect_err(|error| {
            let text = error.to_string();
            assert!(text.contains("coordinator") || text.contains("Coordinator"), "commit group offset: {text}");
        })
    });
}

/// The committed offsets of `group` on partitions `0..partitions` of `topic` (partitions without
/// a commit left out; none while the group's coordinator is not ready).
pub fn committed_offsets(
    broker: &Broker,
    group: &str,
    topic: &str,
    partitions: i32,
) -> std::collections::BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = broker.client_config(ADMIN).set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    // A coordinator still loading its partition of `__consumer_offsets` (a fresh broker) knows
    // no commit yet: callers poll.
    let found = match consumer.committed_offsets(list, Duration::from_secs(10)) {
        Ok(found) => found,
        Err(error) if error.to_string().contains("oordinator") => return Default::default(),
        Err(error) => panic!("the committed offsets of `{group}`: {error}"),
    };
    (0..partitions)
        .filter_map(|p| match found.find_partition(topic, p)?.offset() {
            Offset::Offset(offset) => Some((p, offset)),
            _ => None,
        })
        .collect()
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
    /// The target's replicator identity (default: `replicator`).
    pub target_replicator_user: String,
    pub target_replicator_password: PathBuf,
    pub mechanism: String,
    /// The target's `bootstrap_servers` (default: [`Broker::bootstrap`]).
    pub target_bootstrap: String,
    /// Extra lines under `target:` (each indented by two spaces), e.g. `tls`.
    pub target_extra: String,
    /// Both target identities, as inline YAML (default: the SCRAM users `replicator` and `app`),
    /// e.g. `{ mechanism: AWS_MSK_IAM }`.
    pub target_auth: Option<String>,
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
            target_replicator_user: REPLICATOR.into(),
            target_replicator_password: target.password_file(REPLICATOR),
            mechanism: "SCRAM-SHA-512".into(),
            target_bootstrap: target.bootstrap(),
            target_extra: String::new(),
            target_auth: None,
            body: body.into(),
        }
    }

    pub fn render(&self) -> String {
        let identity = |user: &str, password: &Path, mechanism: &str| {
            format!("{{ mechanism: {mechanism}, username: {user}, password: {{ file: {} }} }}", password.display())
        };
        format!(
            "name: {name}\nsource:\n  bootstrap_servers: {source}\n{extra}  replicator_auth: {source_replicator}\n  app_auth: {source_app}\ntarget:\n  bootstrap_servers: {target}\n{target_extra}  replicator_auth: {target_replicator}\n  app_auth: {target_app}\n{body}",
            name = self.name,
            source = self.source_bootstrap,
            extra = self.source_extra,
            source_replicator = identity(&self.replicator_user, &self.replicator_password, &self.mechanism),
            source_app = identity(APP, &self.source.password_file(APP), "SCRAM-SHA-512"),
            target = self.target_bootstrap,
            target_extra = self.target_extra,
            target_replicator = self.target_auth.clone().unwrap_or_else(|| identity(
                &self.target_replicator_user,
                &self.target_replicator_password,
                "SCRAM-SHA-512"
            )),
            target_app = self.target_auth.clone().unwrap_or_else(|| identity(
                APP,
                &self.target.password_file(APP),
                "SCRAM-SHA-512"
            )),
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
        Engine::start_with_env(plan, &[])
    }

    /// [`Engine::start`] with more environment variables for `migrate apply`.
    pub fn start_with_env(plan: &TestPlan, envs: &[(&str, &str)]) -> Engine {
        Engine::start_with(plan, envs, &[])
    }

    /// [`Engine::start`] answering yes to `apply`'s confirmations.
    pub fn start_confirmed(plan: &TestPlan) -> Engine {
        Engine::start_with(plan, &[], &["--yes"])
    }

    /// [`Engine::start`] inside the cgroup whose `cgroup.procs` is `procs`, from its first socket
    /// on (a shell joins it, then becomes the engine).
    pub fn start_in_cgroup(plan: &TestPlan, procs: &Path) -> Engine {
        let mut command = Command::new("sh");
        command.args(["-c", r#"echo $$ > "$0" && exec "$@""#, procs.to_str().unwrap(), env!("CARGO_BIN_EXE_migrate")]);
        Engine::spawn(command, plan, &[], &[])
    }

    fn start_with(plan: &TestPlan, envs: &[(&str, &str)], extra: &[&str]) -> Engine {
        Engine::spawn(Command::new(env!("CARGO_BIN_EXE_migrate")), plan, envs, extra)
    }

    fn spawn(mut command: Command, plan: &TestPlan, envs: &[(&str, &str)], extra: &[&str]) -> Engine {
        let log = plan.state.with_extension(format!("log-{}", unique("run")));
        std::fs::create_dir_all(&plan.state).unwrap();
        let child = command
            .args([
                "-p",
                plan.path.to_str().unwrap(),
                "--state-dir",
                plan.state.to_str().unwrap(),
                "apply",
                "--timeout",
                "5",
            ])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "migrate=info,warn")
            .envs(envs.iter().copied())
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
        let gate = Later(|| {
            format!(
                "the gate to open: {:#}\n{}",
                self.status().map(|s| s["gate"].clone()).unwrap_or_default(),
                self.log_text()
            )
        });
        poll_until(gate, timeout, || self.status().is_some_and(|s| s["gate"]["open"] == true));
    }

    pub fn wait_running(&self) {
        poll_until(Later(|| format!("the engine to start:\n{}", self.log_text())), Duration::from_secs(60), || {
            if self.status().is_some_and(|status| status["state"] == "running" && status["pid"] == self.child.id()) {
                return true;
            }
            assert!(
                Path::new(&format!("/proc/{}/status", self.child.id())).exists() && !self.exited(),
                "the engine exited:\n{}",
                self.log_text()
            );
            false
        });
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
    let status = retry(timeout, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// A CA of its own and the certificate it signed for a TLS listener on 127.0.0.1/localhost.
pub struct Certificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes [`Certificates`] in `dir/name/` (the CA's name `name test CA`) with the project's own
/// `scripts/kafka/certificates.sh`, as the local clusters and the benchmark make theirs.
pub fn certificates(dir: &Path, name: &str) -> Certificates {
    let made = dir.join(name);
    std::fs::create_dir_all(&made).unwrap();
    let output = Command::new(project_root().join("scripts/kafka/certificates.sh"))
        .arg(&made)
        .arg(format!("{name} test CA"))
        .output()
        .expect("scripts/kafka/certificates.sh");
    assert!(output.status.success(), "certificates.sh {}: {}", made.display(), String::from_utf8_lossy(&output.stderr));
    Certificates { ca: made.join("ca.pem"), cert: made.join("server.pem"), key: made.join("server.key") }
}
