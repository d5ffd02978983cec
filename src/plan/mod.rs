//! The migration plan: what to move, from where, to where, and when it is safe.
//!
//! Reading a plan has two stages: `raw` deserializes the YAML as written, `validate` checks it into
//! the [`Plan`] below, collecting every problem with its file, line and column. Nothing outside this
//! module sees the raw structs.

mod interpolate;
pub mod position;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use position::Position;
pub use validate::parse_duration;

use crate::secret::SecretString;

/// Which of the two clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Target,
            Side::Target => Side::Source,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file, as given.
    pub file: PathBuf,
    /// Names replicators, state and metrics.
    pub name: String,
    pub state_dir: Option<PathBuf>,
    pub source: Cluster,
    pub target: Cluster,
    pub replication: Replication,
    pub readiness: Readiness,
    pub apps: Vec<App>,
    /// The replication backend and its settings (`replication.backend` with the `msk` section).
    pub backend: Backend,
    pub engine: EngineSettings,
}

/// The embedded engine's own settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Where `/metrics` and `/status` are served (port 0: any free port, recorded in the status).
    pub listen: std::net::SocketAddr,
}

/// The default address of `/metrics` and `/status`: loopback only.
pub const DEFAULT_ENGINE_LISTEN: &str = "127.0.0.1:9464";

impl Plan {
    /// The MSK backend's settings; `None` on the embedded engine.
    pub fn msk(&self) -> Option<&MskSettings> {
        match &self.backend {
            Backend::Msk(msk) => Some(msk),
            Backend::Embedded => None,
        }
    }

    /// [`Plan::msk`], to change (tests and tools that derive plans).
    pub fn msk_mut(&mut self) -> Option<&mut MskSettings> {
        match &mut self.backend {
            Backend::Msk(msk) => Some(msk),
            Backend::Embedded => None,
        }
    }

    /// The apps that log in to the target with SASL/SCRAM, with their credentials there.
    pub fn scram_apps_on_target(&self) -> Vec<(&str, &ScramCredentials)> {
        self.apps
            .iter()
            .filter_map(|app| match app.auth_on(&self.target) {
                Auth::Scram(credentials) => Some((app.name.as_str(), credentials)),
                _ => None,
            })
            .collect()
    }

    pub fn cluster(&self, side: Side) -> &Cluster {
        match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub side: Side,
    /// The listener the apps use.
    pub bootstrap_servers: Vec<String>,
    /// The listener the replicator uses (often an extra SCRAM listener on 9096); defaults to
    /// `bootstrap_servers`.
    pub replicator_bootstrap_servers: Vec<String>,
    pub expected_cluster_id: Option<String>,
    pub tls: Option<Tls>,
    /// librdkafka properties passed through to every client of this cluster.
    pub properties: BTreeMap<String, String>,
    pub replicator_auth: Auth,
    /// The apps' default identity on this cluster; each app may override it.
    pub app_auth: Auth,
    /// The identity that creates and deletes ACLs under `replication.acls: sync` (target only):
    /// it needs Alter on the cluster, which neither the apps nor the replicator should hold.
    pub admin_auth: Option<Auth>,
    /// The AWS region IAM tokens are signed for (AWS_MSK_IAM): `msk.region`, or the region in the
    /// brokers' names (`….kafka.<region>.amazonaws.com`).
    pub aws_region: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// PEM file with the CA chain; the system trust store when absent.
    pub ca_file: Option<PathBuf>,
    pub verify_hostname: bool,
    /// Whether the apps' listener (`bootstrap_servers`) speaks TLS too; `false` when only the
    /// replicator's listener does (a SASL_PLAINTEXT listener for the apps, SASL_SSL for the
    /// replicator, as the AWS guide sets up a self-managed source).
    pub apps: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// No SASL (plaintext or TLS-only listeners).
    None,
    Scram(ScramCredentials),
    /// Amazon MSK IAM access control (SASL OAUTHBEARER with a signed token).
    MskIam,
}

impl Auth {
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "no SASL".to_string(),
            Auth::Scram(scram) => format!("{} as {}", scram.mechanism, scram.username),
            Auth::MskIam => "AWS_MSK_IAM".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScramCredentials {
    pub mechanism: ScramMechanism,
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn other(self) -> ScramMechanism {
        match self {
            ScramMechanism::Sha256 => ScramMechanism::Sha512,
            ScramMechanism::Sha512 => ScramMechanism::Sha256,
        }
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which replication backend the plan uses, with its settings: decided once, by plan validation.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The project's own engine (`engine` section).
    Embedded,
    /// MSK Replicator, provisioned through the AWS SDK (`msk` section).
    Msk(Box<MskSettings>),
}

impl Backend {
    /// `embedded` or `msk`, as the plan spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Msk(_) => "msk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    Earliest,
    Latest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub const NAMES: [&'static str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
}

#[derive(Debug, Clone)]
pub struct Replication {
    pub topics: Vec<Selector>,
    pub groups: Vec<Selector>,
    pub starting_position: StartingPosition,
    pub target_compression: Compression,
    pub bidirectional: bool,
    /// What preflight and `apply` do with the source's ACLs for the plan's apps.
    pub acls: AclMode,
    /// Source principal → the principal the same app has on the target (`User:orders-svc` →
    /// `User:orders-svc-msk`); a principal not listed keeps its name.
    pub principal_map: BTreeMap<String, String>,
}

impl Replication {
    /// The target principal of source principal `principal`.
    pub fn target_principal<'a>(&'a self, principal: &'a str) -> &'a str {
        self.principal_map.get(principal).map(String::as_str).unwrap_or(principal)
    }
}

/// `replication.acls`: whether the apps' permissions are compared, copied, or left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AclMode {
    /// Preflight fails (exit 3) when a source ACL of the plan's apps has no match on the target.
    Check,
    /// `apply` creates the missing ones on the target with `target.admin_auth`.
    Sync,
    /// Neither compared nor copied (the per-app permission checks still run).
    Off,
}

impl AclMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AclMode::Check => "check",
            AclMode::Sync => "sync",
            AclMode::Off => "off",
        }
    }
}

impl Replication {
    pub fn replicates_topic(&self, topic: &str) -> bool {
        self.topics.iter().any(|selector| selector.matches(topic))
    }

    pub fn syncs_group(&self, group: &str) -> bool {
        self.groups.iter().any(|selector| selector.matches(group))
    }
}

/// Topics whose names start with this are the clusters' own (offsets, transactions, MSK
/// Replicator's internal topics): never matched by a plan's patterns, never replicated.
pub const INTERNAL_TOPIC_PREFIX: &str = "__";

/// An exact name or a regular expression that must match a whole name.
#[derive(Debug, Clone)]
pub enum Selector {
    Name(String),
    Regex(regex::Regex),
}

impl Selector {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Selector::Name(exact) => exact == name,
            Selector::Regex(regex) => regex.is_match(name),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Name(name) => f.write_str(name),
            // The stored regex is anchored `^(?:...)$`; show what the user wrote.
            Selector::Regex(regex) => {
                let text = regex.as_str();
                let inner = text.strip_prefix("^(?:").and_then(|t| t.strip_suffix(")$")).unwrap_or(text);
                write!(f, "/{inner}/")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Readiness {
    /// Records the replicator's consumer may be behind each source.
    pub max_message_lag: u64,
    pub max_replication_latency: Duration,
    /// Per group, on each cluster.
    pub max_sum_offset_lag: u64,
    /// How long every condition must hold before an app may move.
    pub sustained_for: Duration,
    /// Groups expected on the target; defaults to the number of groups the plan syncs.
    pub expected_consumer_group_count: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub produces: Vec<String>,
    pub consumes: Vec<Consume>,
    /// The `transactional.id`s of the app's producers: what its identity must be allowed to
    /// write as, and what a drain names when one of them left a transaction open.
    pub transactional_ids: Vec<String>,
    pub source_auth: Option<Auth>,
    pub target_auth: Option<Auth>,
    /// The IAM role (or user) the app's clients run as on an AWS_MSK_IAM target: preflight
    /// simulates its policies for the app's `kafka-cluster:*` actions.
    pub role_arn: Option<String>,
    pub stop: Option<String>,
    pub start: Option<String>,
}

impl App {
    /// The identity this app uses on `cluster`: its own override, else the cluster's app default.
    pub fn auth_on<'a>(&'a self, cluster: &'a Cluster) -> &'a Auth {
        let own = match cluster.side {
            Side::Source => self.source_auth.as_ref(),
            Side::Target => self.target_auth.as_ref(),
        };
        own.unwrap_or(&cluster.app_auth)
    }
}

#[derive(Debug, Clone)]
pub struct Consume {
    pub group: String,
    pub topics: Vec<String>,
}

/// The AWS side of an `msk` backend plan.
#[derive(Debug, Clone)]
pub struct MskSettings {
    pub region: String,
    pub cluster_arn: String,
    pub service_execution_role_arn: String,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub scram_secret_arn: String,
    /// The secret whose `certificate` holds the source's private or self-signed CA chain
    /// (`RootCaCertificate`): `msk.certificate_secret_arn`, else the SCRAM secret. `None` when
    /// `source.tls` names no `ca_file`: the brokers' certificates are publicly trusted (the system
    /// trust store), and MSK Replicator needs no CA, as AWS documents.
    pub certificate_secret_arn: Option<String>,
    /// The replicator's SCRAM mechanism on the source (`SaslScram.Mechanism`).
    pub scram_mechanism: ScramMechanism,
    /// The KMS key the secrets are encrypted with, when the plan names it (scopes `kms:Decrypt`).
    pub secret_kms_key_arn: Option<String>,
    pub log_delivery: LogDelivery,
    pub external_to_msk_name: String,
    pub msk_to_external_name: String,
    pub offset_sync_mode: OffsetSyncMode,
    /// An endpoint for every AWS service (a local emulator); `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
}

impl MskSettings {
    /// The cluster ARN taken apart (validation guarantees it parses).
    pub fn cluster(&self) -> crate::aws::arn::MskClusterArn {
        crate::aws::arn::MskClusterArn::parse(&self.cluster_arn).expect("validated MSK cluster ARN")
    }

    /// The distinct secrets the replicator reads: the SCRAM one, and the certificate's when apart.
    pub fn secret_arns(&self) -> Vec<&str> {
        let mut arns = vec![self.scram_secret_arn.as_str()];
        if let Some(certificate) = self.certificate_secret_arn.as_deref().filter(|c| *c != self.scram_secret_arn) {
            arns.push(certificate);
        }
        arns
    }
}

/// Where the replicators write their logs (`ReplicatorLogDelivery`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogDelivery {
    pub cloudwatch_logs_group: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
    pub firehose_delivery_stream: Option<String>,
}

/// `ConsumerGroupReplication.ConsumerGroupOffsetSyncMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSyncMode {
    /// Offsets follow the apps both ways; needs IDENTICAL names and the reverse replicator.
    Enhanced,
    Legacy,
}

impl OffsetSyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetSyncMode::Enhanced => "ENHANCED",
            OffsetSyncMode::Legacy => "LEGACY",
        }
    }
}

/// One thing wrong with a plan, located in the file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// The field's path, such as `apps[1].consumes[0].group`; empty for the whole document.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Every problem found in one plan file.
impl Problem {
    /// `file:line:column: path: message`, as every report of a plan's problem names it.
    pub fn located(&self, file: &Path) -> String {
        let path = if self.path.is_empty() { String::new() } else { format!("{}: ", self.path) };
        format!("{}:{}:{}: {path}{}", file.display(), self.line, self.column, self.message)
    }
}

#[derive(Debug, Clone)]
pub struct PlanError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(f, "{} has {count} problem{}:", self.file.display(), if count == 1 { "" } else { "s" })?;
        for problem in &self.problems {
            writeln!(f, "  {}", problem.located(&self.file))?;
            if let Some(hint) = &problem.hint {
                writeln!(f, "      hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

/// Reads and validates the plan at `file`, looking variables up with `lookup` (the process
/// environment in production, a fixed map in tests).
pub fn load(file: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Plan, PlanError> {
    let text =
        crate::files::read_text_bounded_or_pipe(file, crate::files::MAX_PLAN_BYTES, "a plan").map_err(|error| {
            PlanError {
                file: file.to_path_buf(),
                problems: vec![Problem {
                    path: String::new(),
                    line: 1,
                    column: 1,
                    message: format!("cannot read the plan: {error}"),
                    hint: Some(
                        "pass the plan with -p/--plan FILE or MIGRATE_PLAN, or write one with `migrate init`".into(),
                    ),
                }],
            }
        })?;
    parse(file, &text, lookup)
}

/// Validates plan `text` as if read from `file` (relative paths resolve against its directory).
pub fn parse(file: &Path, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Plan, PlanError> {
    validate::parse(file, text, lookup).map_err(|problems| PlanError { file: file.to_path_buf(), problems })
}

/// The process environment, for [`load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
