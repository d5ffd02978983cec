//! The Kafka edge: one client factory, a raw protocol probe, and the admin calls rdkafka's safe API
//! lacks.
//!
//! Every producer, consumer and admin client of the project gets its connection, TLS and SASL
//! settings from [`client_config`], so the replicator's identity and the apps' identities are set in
//! exactly one place and can never be mixed up, and is made by [`create`], which serves its MSK IAM
//! tokens on an AWS_MSK_IAM cluster.

pub mod acl;
pub mod admin;
pub mod classify;
pub mod iam;
pub mod probe;

pub use classify::{ErrorClass, classify, classify_code};

use std::sync::{Arc, Mutex};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::plan::{Auth, Cluster, Tls};

/// Which listener and identity a client uses on a cluster.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'a> {
    /// The replicator's own SCRAM user, on the replicator's listener.
    Replicator,
    /// An app's identity, on the apps' listener.
    App(&'a Auth),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error(
        "{cluster}: AWS_MSK_IAM needs the AWS region: set `msk.region`, use the brokers' AWS names, or set AWS_REGION"
    )]
    IamWithoutRegion { cluster: String },
}

impl<'a> Identity<'a> {
    /// The listener and credentials this identity uses on `cluster`.
    pub fn endpoint(self, cluster: &'a Cluster) -> (&'a [String], &'a Auth) {
        match self {
            Identity::Replicator => (&cluster.replicator_bootstrap_servers, &cluster.replicator_auth),
            Identity::App(auth) => (&cluster.bootstrap_servers, auth),
        }
    }

    /// The TLS settings of this identity's listener on `cluster` (`tls.apps: false`: the apps'
    /// listener has none).
    pub fn tls(self, cluster: &'a Cluster) -> Option<&'a Tls> {
        match self {
            Identity::Replicator => cluster.tls.as_ref(),
            Identity::App(_) => cluster.tls.as_ref().filter(|tls| tls.apps),
        }
    }
}

/// The client configuration for `identity` on `cluster`: bootstrap, TLS, SASL and the plan's
/// passthrough properties.
pub fn client_config(cluster: &Cluster, identity: Identity<'_>) -> Result<ClientConfig, ClientConfigError> {
    let (servers, auth) = identity.endpoint(cluster);
    client_config_for(cluster, servers, auth, identity.tls(cluster))
}

/// The client configuration for `auth` on `servers` of `cluster`; [`client_config`] is the usual
/// entry point, this one serves probes that try other credentials on the same listener.
pub fn client_config_for(
    cluster: &Cluster,
    servers: &[String],
    auth: &Auth,
    tls: Option<&Tls>,
) -> Result<ClientConfig, ClientConfigError> {
    let mut config = ClientConfig::new();
    // rdkafka derives librdkafka's log level from the `log` crate, which is not wired up here; ask
    // for everything and let `CaptureContext::log` route it to tracing.
    config.set_log_level(RDKafkaLogLevel::Debug);
    config.set("bootstrap.servers", servers.join(","));
    config.set("client.id", "migrate");
    // The plan's passthrough first, so the plan's own auth and TLS fields always win.
    for (key, value) in &cluster.properties {
        config.set(key, value);
    }
    let protocol = match (auth, tls.is_some()) {
        // MSK's IAM listener (9098) is TLS only.
        (Auth::MskIam, _) => "sasl_ssl",
        (Auth::None, false) => "plaintext",
        (Auth::None, true) => "ssl",
        (_, false) => "sasl_plaintext",
        (_, true) => "sasl_ssl",
    };
    config.set("security.protocol", protocol);
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca_file {
            config.set("ssl.ca.location", ca.to_string_lossy());
        }
        config.set("ssl.endpoint.identification.algorithm", if tls.verify_hostname { "https" } else { "none" });
    }
    match auth {
        Auth::None => {}
        Auth::Scram(scram) => {
            config.set("sasl.mechanism", scram.mechanism.as_str());
            config.set("sasl.username", &scram.username);
            config.set("sasl.password", scram.password.expose());
        }
        Auth::MskIam => {
            // The token comes from the client's context (`CaptureContext::for_cluster`).
            if iam::region(cluster).is_none() {
                return Err(ClientConfigError::IamWithoutRegion { cluster: cluster.side.to_string() });
            }
            config.set("sasl.mechanism", "OAUTHBEARER");
        }
    }
    Ok(config)
}

/// A Kafka client (consumer, producer, admin client) with, on an AWS_MSK_IAM cluster, the thread
/// that answers its token requests ([`admin::TokenServer`]); derefs to the client.
///
/// Field order matters: Rust drops fields in declaration order, so the token thread is stopped
/// and joined before the client it serves is destroyed.
pub struct Served<T> {
    /// Only held: dropping it stops the thread.
    _token_server: Option<admin::TokenServer>,
    client: T,
}

impl<T> std::ops::Deref for Served<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.client
    }
}

/// The clients [`create`] makes: each gives the librdkafka client under it.
pub trait HasNativeClient {
    type Context: ClientContext;
    fn native_client(&self) -> &rdkafka::client::Client<Self::Context>;
}

impl<C: rdkafka::consumer::ConsumerContext> HasNativeClient for rdkafka::consumer::BaseConsumer<C> {
    type Context = C;
    fn native_client(&self) -> &rdkafka::client::Client<C> {
        rdkafka::consumer::Consumer::client(self)
    }
}

impl<C: rdkafka::producer::ProducerContext> HasNativeClient for rdkafka::producer::BaseProducer<C> {
    type Context = C;
    fn native_client(&self) -> &rdkafka::client::Client<C> {
        rdkafka::producer::Producer::client(self)
    }
}

impl<C: ClientContext> HasNativeClient for rdkafka::admin::AdminClient<C> {
    type Context = C;
    fn native_client(&self) -> &rdkafka::client::Client<C> {
        self.inner()
    }
}

/// Creates a client from `config` with `context`; with `tokens` (an AWS_MSK_IAM cluster, see
/// [`iam::IamTokens::for_cluster`]) its token requests go to a SASL queue of their own, answered
/// by a thread of the returned [`Served`], so every client — polled or not, admin clients
/// included — gets its first token at once and a fresh one before each expires.
pub fn create<T>(
    config: &ClientConfig,
    context: T::Context,
    tokens: Option<Arc<iam::IamTokens>>,
) -> Result<Served<T>, KafkaError>
where
    T: HasNativeClient + rdkafka::config::FromClientConfigAndContext<<T as HasNativeClient>::Context>,
{
    let Some(tokens) = tokens else {
        return Ok(Served { _token_server: None, client: T::from_config_and_context(config, context)? });
    };
    let mut config = config.clone();
    config.set("enable_sasl_queue", "true");
    let client = T::from_config_and_context(&config, context)?;
    let server = admin::TokenServer::start(client.native_client(), tokens).map_err(KafkaError::ClientCreation)?;
    Ok(Served { _token_server: Some(server), client })
}

/// A client context that keeps the errors librdkafka reports asynchronously (authentication
/// failures, TLS failures, all brokers down), so a failed call can be explained with its cause,
/// and carries the cluster's IAM tokens for [`CaptureContext::create`]. (Its token callback only
/// serves clients made without [`create`], which polling answers.)
#[derive(Clone, Default)]
pub struct CaptureContext {
    errors: Arc<Mutex<Vec<String>>>,
    /// The first error reported that [`classify`] calls fatal (a refused login, say).
    fatal: Arc<Mutex<Option<String>>>,
    iam: Option<Arc<iam::IamTokens>>,
}

impl CaptureContext {
    /// The context for clients of `cluster`: with IAM tokens when it uses AWS_MSK_IAM.
    pub fn for_cluster(cluster: &Cluster) -> Self {
        Self { iam: iam::IamTokens::for_cluster(cluster), ..Self::default() }
    }

    /// A context that signs IAM tokens with `tokens`.
    pub fn with_iam(tokens: iam::IamTokens) -> Self {
        Self { iam: Some(Arc::new(tokens)), ..Self::default() }
    }

    pub fn uses_iam(&self) -> bool {
        self.iam.is_some()
    }

    /// How many tokens this context's clients asked for and got.
    pub fn tokens_issued(&self) -> u32 {
        self.iam.as_ref().map_or(0, |tokens| tokens.issued())
    }

    /// A client with this context ([`create`]), its IAM tokens served when the cluster uses IAM.
    pub fn create<T>(self, config: &ClientConfig) -> Result<Served<T>, KafkaError>
    where
        T: HasNativeClient<Context = Self> + rdkafka::config::FromClientConfigAndContext<Self>,
    {
        let tokens = self.iam.clone();
        create(config, self, tokens)
    }

    /// The errors seen so far, oldest first, without duplicates.
    pub fn errors(&self) -> Vec<String> {
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        let mut unique: Vec<String> = Vec::new();
        for error in errors {
            if !unique.contains(&error) {
                unique.push(error);
            }
        }
        unique
    }

    /// The first reported error that trying again cannot mend ([`classify`]), if any.
    pub fn first_fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|fatal| fatal.clone())
    }
}

impl CaptureContext {
    fn record(&self, message: &str) {
        if let Ok(mut errors) = self.errors.lock()
            && errors.len() < 32
        {
            errors.push(without_thread_and_broker(message).to_string());
        }
    }
}

/// DescribeConfigs for `topics`, bounded by `timeout` (librdkafka's request timeout, and a guard
/// around it), each topic paired with its own result.
///
/// A topic answered with no config at all is an error: Kafka returns every config of a topic it
/// describes (defaults included), and rust-rdkafka (0.39) does not read a resource's own error
/// code, so a topic the identity may not DescribeConfigs (TOPIC_AUTHORIZATION_FAILED) or that
/// does not exist comes back as an empty list. Taken as "no configs", it had the engine create
/// such a topic on the target with the broker's defaults, silently.
pub async fn describe_topic_configs<C: ClientContext + 'static>(
    admin: &rdkafka::admin::AdminClient<C>,
    topics: &[&str],
    timeout: std::time::Duration,
) -> Result<Vec<(String, Result<rdkafka::admin::ConfigResource, String>)>, String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let specifiers: Vec<ResourceSpecifier> = topics.iter().map(|topic| ResourceSpecifier::Topic(topic)).collect();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = tokio::time::timeout(
        timeout + std::time::Duration::from_secs(2),
        admin.describe_configs(&specifiers, &options),
    )
    .await
    .map_err(|_| format!("DescribeConfigs timed out after {} s", timeout.as_secs()))?
    .map_err(|error| format!("DescribeConfigs failed: {error}"))?;
    Ok(topics
        .iter()
        .map(|topic| topic.to_string())
        .zip(results)
        .map(|(topic, result)| {
            let result = match result {
                Ok(resource) if resource.entries.is_empty() => Err(
                    "the broker returned no configs (not authorized: DescribeConfigs on the topic is needed; or no such topic)"
                        .to_string(),
                ),
                Ok(resource) => Ok(resource),
                Err(code) => Err(code.to_string()),
            };
            (topic, result)
        })
        .collect())
}

/// Routes a librdkafka log line to tracing (problems at debug, the rest at trace, under the
/// `librdkafka` target, so `-v`/`-vv` and RUST_LOG control it); returns whether it was a problem
/// (warning or worse). Every client context of the project logs through this.
pub fn log_to_tracing(level: RDKafkaLogLevel, facility: &str, message: &str) -> bool {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error
        | RDKafkaLogLevel::Warning => {
            tracing::debug!(target: "librdkafka", facility, "{message}");
            true
        }
        _ => {
            tracing::trace!(target: "librdkafka", facility, "{message}");
            false
        }
    }
}

/// librdkafka prefixes messages with its thread and the broker's name
/// (`[thrd:sasl_ssl://h:9096/bootstrap]: sasl_ssl://h:9096/bootstrap: SASL authentication error: …`);
/// the cause is what follows.
fn without_thread_and_broker(message: &str) -> &str {
    let mut rest = message;
    if rest.starts_with("[thrd:")
        && let Some(end) = rest.find("]: ")
    {
        rest = &rest[end + 3..];
    }
    if let Some((name, cause)) = rest.split_once(": ")
        && name.contains("://")
        && !name.contains(' ')
    {
        rest = cause;
    }
    rest
}

/// Deliveries are not used: the context only serves login probes.
impl rdkafka::producer::ProducerContext for CaptureContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// Lets the same context serve the offset work's plain consumers (no rebalance callbacks needed).
impl rdkafka::consumer::ConsumerContext for CaptureContext {}

impl ClientContext for CaptureContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(&self, _: Option<&str>) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        let Some(tokens) = &self.iam else {
            return Err("OAUTHBEARER is only used with AWS_MSK_IAM, and this cluster does not use it".into());
        };
        match tokens.token() {
            Ok(token) => Ok(token),
            Err(error) => {
                self.record(&error);
                Err(error.into())
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        if log_to_tracing(level, facility, message) {
            self.record(message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, "{reason}");
        self.record(reason);
        if classify(&error) == ErrorClass::Fatal
            && let Ok(mut fatal) = self.fatal.lock()
        {
            fatal.get_or_insert_with(|| without_thread_and_broker(reason).to_string());
        }
    }
}

/// Why there is no admin client for `admin_auth`.
#[derive(Debug, thiserror::Error)]
pub enum AdminConfigError {
    #[error("the plan names no `target.admin_auth`: ACLs cannot be created or removed on the target")]
    NoAdmin,
    #[error("target: cannot create an admin client as {who}: {cause}")]
    Client { who: String, cause: String },
}

/// The listener `target.admin_auth` (always SCRAM) logs in on, with its TLS settings: the
/// replicator's when the replicator logs in with SCRAM there, else the apps' when they do. An MSK
/// IAM listener (9098) takes no SCRAM login: with an IAM replicator the admin goes to the apps'
/// SCRAM listener (9096), never to the replicator's port. `None` when neither listener is SCRAM.
pub fn admin_endpoint(cluster: &Cluster) -> Option<(&[String], Option<&Tls>)> {
    if matches!(cluster.replicator_auth, Auth::Scram(_)) {
        Some((&cluster.replicator_bootstrap_servers, Identity::Replicator.tls(cluster)))
    } else if matches!(cluster.app_auth, Auth::Scram(_)) {
        Some((&cluster.bootstrap_servers, Identity::App(&cluster.app_auth).tls(cluster)))
    } else {
        None
    }
}

/// The client configuration for `target.admin_auth` on [`admin_endpoint`]'s listener, and who it
/// is (`SCRAM-SHA-512 user admin on b-1:9096`, for messages).
pub fn admin_client_config(cluster: &Cluster) -> Result<(ClientConfig, String), AdminConfigError> {
    let auth = cluster.admin_auth.as_ref().ok_or(AdminConfigError::NoAdmin)?;
    let Some((servers, tls)) = admin_endpoint(cluster) else {
        return Err(AdminConfigError::Client {
            who: auth.describe(),
            cause: "neither the replicator's nor the apps' listener of the target takes a SCRAM login".into(),
        });
    };
    let who = format!("{} on {}", auth.describe(), servers.join(","));
    let config = client_config_for(cluster, servers, auth, tls)
        .map_err(|error| AdminConfigError::Client { who: who.clone(), cause: error.to_string() })?;
    Ok((config, who))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_librdkafka_thread_and_broker_prefixes() {
        assert_eq!(
            without_thread_and_broker(
                "[thrd:sasl_plaintext://127.0.0.1:19092/bootstrap]: sasl_plaintext://127.0.0.1:19092/bootstrap: SASL authentication error: SASL SCRAM authentication failed: broker responded with invalid-proof (after 39ms in state AUTH_REQ)"
            ),
            "SASL authentication error: SASL SCRAM authentication failed: broker responded with invalid-proof (after 39ms in state AUTH_REQ)"
        );
        assert_eq!(without_thread_and_broker("1/1 brokers are down"), "1/1 brokers are down");
    }

    fn target(replicator: &str, apps: &str) -> Cluster {
        let scram = "{ mechanism: SCRAM-SHA-512, username: u, password: { env: PW } }";
        let auth = |mechanism: &str| if mechanism == "iam" { "{ mechanism: AWS_MSK_IAM }" } else { scram };
        let text = format!(
            "name: t\nsource:\n  bootstrap_servers: s:9092\n  replicator_auth: {scram}\n  app_auth: {scram}\ntarget:\n  bootstrap_servers: b-1.shop.kafka.eu-west-1.amazonaws.com:9096\n  replicator_bootstrap_servers: b-1.shop.kafka.eu-west-1.amazonaws.com:9098\n  tls: {{}}\n  replicator_auth: {}\n  app_auth: {}\n  admin_auth: {scram}\nreplication:\n  topics: [orders]\n  acls: sync\napps:\n  - name: orders\n    produces: [orders]\n",
            auth(replicator),
            auth(apps)
        );
        let lookup = |_: &str| Some("pw".to_string());
        crate::plan::parse(std::path::Path::new("plan.yaml"), &text, &lookup).expect("valid plan").target
    }

    /// Regression: with an MSK IAM replicator listener, `sync` logged the SCRAM admin in on the
    /// replicator's IAM port (9098), which takes no SCRAM login, and said so in its messages.
    #[test]
    fn the_scram_admin_never_goes_to_an_iam_replicator_listener() {
        let iam_replicator = target("iam", "scram");
        let (servers, tls) = admin_endpoint(&iam_replicator).unwrap();
        assert_eq!(servers, ["b-1.shop.kafka.eu-west-1.amazonaws.com:9096"]);
        assert!(tls.is_some());
        let (config, who) = admin_client_config(&iam_replicator).unwrap();
        assert_eq!(config.get("bootstrap.servers"), Some("b-1.shop.kafka.eu-west-1.amazonaws.com:9096"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert!(who.ends_with(" on b-1.shop.kafka.eu-west-1.amazonaws.com:9096"), "{who}");

        let scram_replicator = target("scram", "scram");
        let (servers, _) = admin_endpoint(&scram_replicator).unwrap();
        assert_eq!(servers, ["b-1.shop.kafka.eu-west-1.amazonaws.com:9098"], "the replicator's SCRAM listener");

        let all_iam = target("iam", "iam");
        assert!(admin_endpoint(&all_iam).is_none());
        let error = admin_client_config(&all_iam).unwrap_err().to_string();
        assert!(error.contains("neither the replicator's nor the apps' listener"), "{error}");
    }
}
