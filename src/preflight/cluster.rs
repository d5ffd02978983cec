//! Phase one of preflight: the facts of one cluster, each step a named, timed check.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::producer::{BaseProducer, Producer};

use super::{Check, Options, Reporter};
use crate::kafka::acl::{AclBinding, AclOperation};
use crate::kafka::admin::{self, AdminError};
use crate::kafka::probe::{self, ApiVersion, Connection};
use crate::kafka::{CaptureContext, Identity, client_config_for, describe_topic_configs};
use crate::plan::{AclMode, Auth, Cluster, INTERNAL_TOPIC_PREFIX, Plan, ScramCredentials, ScramMechanism, Side};

/// What preflight learned about one cluster.
#[derive(Debug, Default)]
pub struct ClusterFacts {
    pub side: String,
    pub checks: Vec<Check>,
    /// The replicator logged in and the cluster could be read.
    pub readable: bool,
    pub bootstrap: String,
    pub replicator_principal: Option<String>,
    pub cluster_id: Option<String>,
    pub acls: Option<Result<Vec<AclBinding>, AdminError>>,
    /// Every non-internal topic and its partition count.
    pub topics: BTreeMap<String, usize>,
    /// `max.message.bytes` of the topics the plan replicates, where the cluster reported it.
    pub max_message_bytes: BTreeMap<String, u64>,
    pub config_error: Option<String>,
    /// Group → state (Stable, Empty, …), from ListGroups + DescribeGroups.
    pub groups: Option<Result<BTreeMap<String, String>, String>>,
    /// The users holding a SCRAM credential (target, unless `replication.acls: off`).
    pub scram_users: Option<Result<BTreeSet<String>, String>>,
    /// `allow.everyone.if.no.acl.found` as a broker reports it (target, unless `acls: off`).
    pub open_to_everyone: Option<Result<bool, String>>,
    /// `target.admin_auth`'s login and its operations on the cluster (DescribeCluster).
    pub admin_operations: Option<Result<Vec<AclOperation>, String>>,
}

type Admin = crate::kafka::Served<AdminClient<CaptureContext>>;

pub async fn gather(plan: &Plan, cluster: &Cluster, options: &Options, reporter: &dyn Reporter) -> ClusterFacts {
    let side = cluster.side.as_str();
    let mut facts = ClusterFacts {
        side: side.to_string(),
        bootstrap: cluster.replicator_bootstrap_servers.join(","),
        ..Default::default()
    };
    let mut addresses: Vec<&String> = cluster.bootstrap_servers.iter().collect();
    for server in &cluster.replicator_bootstrap_servers {
        if !addresses.contains(&server) {
            addresses.push(server);
        }
    }

    reporter.step(side, "dns");
    let Some(resolved) = resolve(side, &addresses, options.timeout, &mut facts.checks).await else {
        return facts;
    };
    reporter.step(side, "connect");
    if !connect(cluster, &resolved, options.timeout, &mut facts.checks).await {
        return facts;
    }

    reporter.step(side, "login");
    let replicator_started = Instant::now();
    let replicator = login(cluster, Identity::Replicator, options.timeout).await;
    let admin = match replicator {
        Ok((admin, summary)) => {
            facts.checks.push(
                Check::pass(
                    "replicator-login",
                    side,
                    format!("{}: {summary}", describe_identity(cluster, Identity::Replicator)),
                )
                .timed(replicator_started),
            );
            admin
        }
        Err(failure) => {
            facts.checks.push(
                login_failure("replicator-login", cluster, Identity::Replicator, failure).timed(replicator_started),
            );
            return facts;
        }
    };
    if let Auth::Scram(scram) = &cluster.replicator_auth {
        facts.replicator_principal = Some(format!("User:{}", scram.username));
    }
    app_logins(plan, cluster, options.timeout, &mut facts.checks).await;

    reporter.step(side, "cluster");
    facts.readable = true;
    read_cluster(plan, cluster, Arc::clone(&admin), options.timeout, &mut facts).await;
    if cluster.side == Side::Target && plan.replication.acls != AclMode::Off {
        reporter.step(side, "permissions");
        read_permission_facts(cluster, admin, options.timeout, &mut facts).await;
    }
    facts
}

/// What the apps' permissions check needs of the target beyond its ACLs: who has SCRAM
/// credentials, whether resources without ACLs are open to everyone, and whether the plan's admin
/// identity may create ACLs (Alter on the cluster).
async fn read_permission_facts(cluster: &Cluster, replicator: Arc<Admin>, timeout: Duration, facts: &mut ClusterFacts) {
    let admin = match &cluster.admin_auth {
        // SCRAM only (plan validation refuses another mechanism): no IAM tokens to serve; on the
        // one listener that takes it (not an IAM replicator's).
        Some(_) => match crate::kafka::admin_client_config(cluster) {
            Ok((config, who)) => match connect_admin(config, None, timeout).await {
                Ok((admin, _)) => Some(admin),
                Err(cause) => {
                    facts.admin_operations = Some(Err(format!("{who}: {cause}")));
                    None
                }
            },
            Err(error) => {
                facts.admin_operations = Some(Err(error.to_string()));
                None
            }
        },
        None => None,
    };
    // Broker configs need DescribeConfigs on the cluster, which the admin identity has and the
    // replicator usually has not.
    let reader = admin.clone().unwrap_or_else(|| Arc::clone(&replicator));
    let users_client = Arc::clone(&replicator);
    let operations_client = admin.clone();
    let (users, open, operations) = tokio::join!(
        tokio::task::spawn_blocking(move || scram_users_if_allowed(users_client.inner(), timeout)),
        read_allow_everyone(reader, timeout),
        tokio::task::spawn_blocking(move || {
            operations_client.map(|client| admin::cluster_authorized_operations(client.inner(), timeout))
        }),
    );
    facts.scram_users = Some(users.map_err(|error| error.to_string()).and_then(|users| users));
    facts.open_to_everyone = Some(match open {
        Ok(open) => Ok(open),
        Err(unreported) => {
            probe_openness(cluster, facts, timeout).await.map_err(|probe| format!("{unreported}; {probe}"))
        }
    });
    if let Ok(Some(found)) = operations {
        facts.admin_operations = Some(found.map_err(|error| error.to_string()));
    }
}

/// Openness by behaviour when the brokers do not report it ([`super::openness::probe_open_to_everyone`]).
async fn probe_openness(cluster: &Cluster, facts: &ClusterFacts, timeout: Duration) -> Result<bool, String> {
    let bindings = match &facts.acls {
        Some(Ok(bindings)) => bindings.clone(),
        Some(Err(error)) => return Err(format!("not probed: the ACLs could not be read ({error})")),
        None => return Err("not probed: the ACLs were not read".into()),
    };
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || super::openness::probe_open_to_everyone(&cluster, &bindings, timeout))
        .await
        .map_err(|error| error.to_string())?
}

/// The users with SCRAM credentials, asked only of an identity allowed to Describe the cluster.
/// librdkafka (2.12.1) aborts the process (`munmap_chunk(): invalid pointer`) while reading a
/// DescribeUserScramCredentials answer that carries CLUSTER_AUTHORIZATION_FAILED, so the
/// permission is read first (DescribeCluster's authorized operations, which never fails for
/// want of it).
fn scram_users_if_allowed<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    timeout: Duration,
) -> Result<BTreeSet<String>, String> {
    let operations = admin::cluster_authorized_operations(client, timeout).map_err(|error| error.to_string())?;
    if !operations.iter().any(|op| matches!(op, AclOperation::Describe | AclOperation::All)) {
        return Err("not authorized: DescribeUserScramCredentials needs Describe on the cluster".into());
    }
    admin::scram_users(client, timeout).map_err(|error| error.to_string())
}

/// `allow.everyone.if.no.acl.found` of the first broker in the metadata.
async fn read_allow_everyone(client: Arc<Admin>, timeout: Duration) -> Result<bool, String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let metadata_client = Arc::clone(&client);
    let broker = tokio::task::spawn_blocking(move || {
        metadata_client.inner().fetch_metadata(None, timeout).map(|m| m.brokers().first().map(|b| b.id()))
    })
    .await
    .map_err(|error| error.to_string())?
    .map_err(|error| error.to_string())?
    .ok_or_else(|| "the metadata names no broker".to_string())?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = client
        .describe_configs(&[ResourceSpecifier::Broker(broker)], &options)
        .await
        .map_err(|error| format!("DescribeConfigs of broker {broker}: {error}"))?;
    let resource = results
        .into_iter()
        .next()
        .ok_or_else(|| format!("DescribeConfigs of broker {broker}: no answer"))?
        .map_err(|code| format!("DescribeConfigs of broker {broker}: {code}"))?;
    // Not reported is unknown, never "closed": Apache Kafka keeps the setting with the authorizer,
    // out of the broker's configs, and a reader without DescribeConfigs on the cluster gets an
    // empty list (rust-rdkafka does not read the resource's own error).
    match resource.get("allow.everyone.if.no.acl.found").and_then(|entry| entry.value.as_deref()) {
        Some(value) => Ok(value.eq_ignore_ascii_case("true")),
        None if resource.entries.is_empty() => {
            Err(format!("DescribeConfigs of broker {broker} returned nothing (not authorized?)"))
        }
        None => Err(format!("broker {broker} does not report allow.everyone.if.no.acl.found")),
    }
}

/// Logs `cluster`'s replicator identity in, as [`gather`] does, and reports it as check `name`:
/// the MSK preflight proves the secret's credentials this way.
pub(crate) async fn replicator_login_check(name: &str, cluster: &Cluster, timeout: Duration) -> Check {
    let started = Instant::now();
    match login(cluster, Identity::Replicator, timeout).await {
        Ok((_, summary)) => Check::pass(
            name,
            cluster.side.as_str(),
            format!("{}: {summary}", describe_identity(cluster, Identity::Replicator)),
        )
        .timed(started),
        Err(failure) => login_failure(name, cluster, Identity::Replicator, failure).timed(started),
    }
}

fn describe_identity(cluster: &Cluster, identity: Identity<'_>) -> String {
    let tls = if identity.tls(cluster).is_some() { " over TLS" } else { "" };
    format!("{}{tls}", identity.endpoint(cluster).1.describe())
}

async fn resolve(
    side: &str,
    addresses: &[&String],
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> Option<Vec<(String, Vec<SocketAddr>)>> {
    let started = Instant::now();
    let lookups = addresses.iter().map(|address| async move {
        let outcome = tokio::time::timeout(timeout, tokio::net::lookup_host(address.as_str())).await;
        let outcome = match outcome {
            Ok(Ok(found)) => Some(found.collect::<Vec<_>>())
                .filter(|ips| !ips.is_empty())
                .ok_or_else(|| "no address found".to_string()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        };
        (address.to_string(), outcome)
    });
    let outcomes = futures::future::join_all(lookups).await;
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|(address, outcome)| outcome.as_ref().err().map(|e| format!("{address}: {e}")))
        .collect();
    if !failures.is_empty() {
        checks.push(
            Check::fail(
                "dns",
                side,
                failures.join("; "),
                "check the host names in bootstrap_servers and this machine's DNS",
            )
            .timed(started),
        );
        return None;
    }
    let resolved: Vec<(String, Vec<SocketAddr>)> =
        outcomes.into_iter().filter_map(|(address, outcome)| outcome.ok().map(|ips| (address, ips))).collect();
    let detail = resolved
        .iter()
        .map(|(address, ips)| {
            format!("{address} → {}", ips.iter().map(|ip| ip.ip().to_string()).collect::<Vec<_>>().join(" "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    checks.push(Check::pass("dns", side, detail).timed(started));
    Some(resolved)
}

/// TCP, TLS and the ApiVersions handshake to every address, concurrently.
async fn connect(
    cluster: &Cluster,
    resolved: &[(String, Vec<SocketAddr>)],
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> bool {
    let side = cluster.side.as_str();
    let started = Instant::now();
    let probes = resolved.iter().map(|(address, ips)| {
        // An address only the apps use speaks TLS only when the apps' listener does (`tls.apps`).
        let identity = if cluster.replicator_bootstrap_servers.contains(address) {
            Identity::Replicator
        } else {
            Identity::App(&cluster.app_auth)
        };
        let (address, ips, tls) = (address.clone(), ips.clone(), identity.tls(cluster).cloned());
        tokio::task::spawn_blocking(move || probe::probe_address(address, &ips, tls.as_ref(), timeout))
    });
    let probes: Vec<probe::AddressProbe> =
        futures::future::join_all(probes).await.into_iter().filter_map(Result::ok).collect();
    let elapsed = started.elapsed().as_millis() as u64;
    let with_time = |mut check: Check| {
        check.duration_ms = elapsed;
        check
    };

    let unreachable: Vec<String> =
        probes.iter().filter_map(|p| p.tcp.as_ref().err().map(|e| format!("{}: {e}", p.address))).collect();
    if !unreachable.is_empty() {
        checks.push(with_time(Check::fail(
            "tcp",
            side,
            unreachable.join("; "),
            "check the address and port, that the broker runs, and firewalls or security groups on the way",
        )));
        return false;
    }
    let latencies: Vec<String> = probes
        .iter()
        .filter_map(|p| p.tcp.as_ref().ok().map(|d| format!("{} in {:.1} ms", p.address, d.as_secs_f64() * 1000.0)))
        .collect();
    checks.push(with_time(Check::pass("tcp", side, format!("reachable: {}", latencies.join(", ")))));

    if let Some(tls) = &cluster.tls {
        let failures: Vec<String> = probes
            .iter()
            .filter_map(|p| match &p.tls {
                Some(Err(e)) => Some(format!("{}: {e}", p.address)),
                _ => None,
            })
            .collect();
        if !failures.is_empty() {
            let ca = tls
                .ca_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "the system trust store".into());
            checks.push(with_time(Check::fail("tls", side, failures.join("; "), format!("the broker's certificate chain does not verify against {ca}: set `tls.ca_file` to the CA that signed it (MSK Replicator needs the same CA in its secret's `certificate`)"))));
            return false;
        }
        let peers: Vec<String> = probes
            .iter()
            .filter_map(|p| match &p.tls {
                Some(Ok(peer)) => Some(format!(
                    "{} {} [{}], issuer {}, expires {}",
                    p.address, peer.protocol, peer.subject, peer.issuer, peer.not_after
                )),
                _ => None,
            })
            .collect();
        let ca = tls
            .ca_file
            .as_ref()
            .map(|f| format!("verified against {}", f.display()))
            .unwrap_or_else(|| "verified against the system trust store".into());
        checks.push(with_time(Check::pass("tls", side, format!("{ca}: {}", peers.join("; ")))));
    }

    let failures: Vec<String> = probes
        .iter()
        .filter_map(|p| match &p.api {
            Some(Err(e)) => Some(format!("{}: {e}", p.address)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        checks.push(with_time(Check::fail(
            "kafka-api",
            side,
            failures.join("; "),
            "the address answers but not as a Kafka broker: check the port (TLS vs plaintext listener) and `tls`",
        )));
        return false;
    }
    let answered: Vec<(&String, &Vec<ApiVersion>)> = probes
        .iter()
        .filter_map(|p| match &p.api {
            Some(Ok(v)) => Some((&p.address, v)),
            _ => None,
        })
        .collect();
    let counts: Vec<String> =
        answered.iter().map(|(address, versions)| format!("{address}: {} APIs", versions.len())).collect();
    checks.push(with_time(Check::pass("kafka-api", side, format!("ApiVersions answered: {}", counts.join(", ")))));

    // Every broker must qualify: during a rolling upgrade they differ.
    let older: Vec<String> = answered
        .iter()
        .filter_map(|(address, versions)| {
            let missing = probe::missing_for_kafka_2_8(versions);
            (!missing.is_empty()).then(|| format!("{address}: {}", missing.join(", ")))
        })
        .collect();
    if older.is_empty() {
        checks.push(with_time(Check::pass(
            "broker-version",
            side,
            "offers the APIs of Kafka ≥ 2.8 (a probe cannot tell 2.8.0 from 2.8.1)",
        )));
    } else {
        checks.push(with_time(Check::fail(
            "broker-version",
            side,
            format!("older than Kafka 2.8: {}", older.join("; ")),
            "MSK Replicator needs Kafka 2.8.1 or later on the external cluster: upgrade the brokers first",
        )));
    }
    !answered.is_empty()
}

/// Why a login failed.
struct LoginFailure {
    cause: String,
    /// The broker does not enable the mechanism on this listener (from SaslHandshake).
    mechanism_not_enabled: Option<Vec<String>>,
    /// The same credentials work with the other SCRAM mechanism.
    works_with: Option<ScramMechanism>,
}

/// Whether `identity` logs in to `cluster` and reads its metadata within `timeout`: `Err` with
/// the cause (never a secret) when not. `apply` asks it before restarting the engine with a
/// rotated password.
pub async fn logs_in(cluster: &Cluster, identity: Identity<'_>, timeout: Duration) -> Result<(), String> {
    login(cluster, identity, timeout).await.map(|_| ()).map_err(|failure| failure.cause)
}

async fn login(
    cluster: &Cluster,
    identity: Identity<'_>,
    timeout: Duration,
) -> Result<(Arc<Admin>, String), LoginFailure> {
    let (servers, auth) = identity.endpoint(cluster);
    let failure = |cause: String| LoginFailure { cause, mechanism_not_enabled: None, works_with: None };
    if let Auth::Scram(scram) = auth {
        let (address, tls, mechanism) = (servers[0].clone(), identity.tls(cluster).cloned(), scram.mechanism.as_str());
        let enabled = tokio::task::spawn_blocking(move || mechanisms_enabled(&address, tls, mechanism, timeout))
            .await
            .ok()
            .flatten();
        if let Some((false, enabled)) = enabled {
            return Err(LoginFailure {
                cause: format!(
                    "the broker does not enable {mechanism} on this listener (enabled: {})",
                    enabled.join(", ")
                ),
                mechanism_not_enabled: Some(enabled),
                works_with: None,
            });
        }
    }
    let config =
        client_config_for(cluster, servers, auth, identity.tls(cluster)).map_err(|error| failure(error.to_string()))?;
    let tokens = crate::kafka::iam::IamTokens::for_cluster(cluster).filter(|_| *auth == Auth::MskIam);
    let cause = match connect_admin(config, tokens, timeout).await {
        Ok(found) => return Ok(found),
        Err(cause) => cause,
    };
    // A SCRAM user exists per mechanism: try the other one, to tell "wrong password" from "this
    // user has no credential for the planned mechanism".
    let works_with = match auth {
        Auth::Scram(scram) => {
            let other = Auth::Scram(ScramCredentials { mechanism: scram.mechanism.other(), ..scram.clone() });
            match client_config_for(cluster, servers, &other, identity.tls(cluster)) {
                Ok(config) => connect_admin(config, None, timeout).await.ok().map(|_| scram.mechanism.other()),
                Err(_) => None,
            }
        }
        _ => None,
    };
    Err(LoginFailure { works_with, ..failure(cause) })
}

/// SaslHandshake on a fresh connection: `Some((accepted, enabled mechanisms))`, `None` when the
/// probe itself could not run (then librdkafka's login attempt explains).
fn mechanisms_enabled(
    address: &str,
    tls: Option<crate::plan::Tls>,
    mechanism: &str,
    timeout: Duration,
) -> Option<(bool, Vec<String>)> {
    let ips: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(address).ok()?.collect();
    let stream = probe::connect_tcp(&ips, timeout).ok()?;
    let mut connection = match tls {
        Some(tls) => {
            probe::tls_handshake(stream, probe::host_of(address), tls.ca_file.as_deref(), tls.verify_hostname).ok()?.0
        }
        None => Connection::Plain(stream),
    };
    probe::sasl_handshake(&mut connection, mechanism).ok()
}

/// Proves the configuration logs in and can read metadata, failing fast on authentication errors,
/// then returns an admin client for the cluster's facts.
///
/// The login runs on a producer because its `poll` serves librdkafka's main queue, where the
/// causes of a failure (SASL errors, TLS errors, disconnects) arrive as log and error events; an
/// admin client never polls that queue, so it would only ever see a timeout.
async fn connect_admin(
    config: rdkafka::ClientConfig,
    tokens: Option<Arc<crate::kafka::iam::IamTokens>>,
    timeout: Duration,
) -> Result<(Arc<Admin>, String), String> {
    let context = CaptureContext::default();
    let probe: crate::kafka::Served<BaseProducer<CaptureContext>> =
        crate::kafka::create(&config, context.clone(), tokens.clone())
            .map_err(|error| format!("cannot create a Kafka client: {error}"))?;
    let probe = Arc::new(probe);
    let deadline = Instant::now() + timeout;
    let summary = loop {
        let client = Arc::clone(&probe);
        let attempt = tokio::task::spawn_blocking(move || {
            let outcome = client
                .client()
                .fetch_metadata(None, Duration::from_millis(500))
                .map(|m| (m.brokers().len(), m.topics().len()));
            client.poll(Duration::ZERO);
            outcome
        })
        .await
        .map_err(|error| error.to_string())?;
        match attempt {
            Ok((brokers, topics)) => break format!("authenticated; {brokers} broker(s), {topics} topic(s) visible"),
            Err(error) => {
                let seen = context.errors();
                if let Some(fatal) =
                    context.first_fatal().or_else(|| seen.iter().find(|reason| is_fatal_login_error(reason)).cloned())
                {
                    return Err(fatal);
                }
                if Instant::now() >= deadline {
                    return Err(if seen.is_empty() { error.to_string() } else { seen.join("; ") });
                }
            }
        }
    };
    let admin: Admin = crate::kafka::create(&config, CaptureContext::default(), tokens)
        .map_err(|error| format!("cannot create a Kafka admin client: {error}"))?;
    Ok((Arc::new(admin), summary))
}

/// What [`crate::kafka::classify`] cannot tell by the error's code: a refusal librdkafka only
/// logs, and TLS failures, whose code (`_SSL`) a transient one shares.
fn is_fatal_login_error(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("authentication")
        || reason.contains("ssl handshake failed")
        || reason.contains("certificate verify failed")
}

fn login_failure(name: &str, cluster: &Cluster, who: Identity<'_>, failure: LoginFailure) -> Check {
    let side = cluster.side.as_str();
    let auth = who.endpoint(cluster).1;
    let identity = describe_identity(cluster, who);
    if let Some(enabled) = failure.mechanism_not_enabled {
        let hint = match enabled.iter().find(|m| m.starts_with("SCRAM")) {
            Some(other) => format!("set `mechanism: {other}` or enable the plan's mechanism on the broker's listener"),
            None => {
                "enable SASL/SCRAM on the listener the plan points at (often a separate listener on port 9096)".into()
            }
        };
        return Check::fail(name, side, format!("{identity}: {}", failure.cause), hint);
    }
    if let (Some(works), Auth::Scram(scram)) = (failure.works_with, auth) {
        return Check::fail(
            name,
            side,
            format!(
                "{identity}: authentication failed; the same credentials log in with {works}: user `{}` has no {} credential",
                scram.username, scram.mechanism
            ),
            format!(
                "set `mechanism: {works}`, or add the credential: kafka-configs --alter --entity-type users --entity-name {} --add-config '{}=[password=...]'",
                scram.username, scram.mechanism
            ),
        );
    }
    let hint = match auth {
        // RFC 5802's server errors name the cause exactly.
        Auth::Scram(scram) if failure.cause.contains("invalid-proof") => {
            format!("the password of `{}` is wrong: check the plan's password source", scram.username)
        }
        // Apache Kafka answers a wrong password and an unknown user alike (it does not tell which
        // users exist); the mechanism is already ruled out above.
        Auth::Scram(scram) if failure.cause.contains("due to invalid credentials") => format!(
            "the password of `{}` is wrong, or the user has no {} credential on this cluster: check the plan's password source and the user",
            scram.username, scram.mechanism
        ),
        Auth::Scram(scram) if failure.cause.contains("unknown-user") => {
            format!(
                "user `{}` has no {} credential on this cluster: create it, or check the username",
                scram.username, scram.mechanism
            )
        }
        Auth::Scram(_) => {
            "check the username and password (and that the user exists on this cluster for this mechanism)".to_string()
        }
        Auth::MskIam => {
            let region = crate::kafka::iam::region(cluster).unwrap_or_else(|| "?".into());
            let detail = if failure.cause.contains("SASL authentication error") {
                format!("{identity}: the broker refused the MSK IAM token (SASL OAUTHBEARER): {}", failure.cause)
            } else {
                format!("{identity}: {}", failure.cause)
            };
            return Check::fail(
                name,
                side,
                detail,
                format!(
                    "check the AWS credentials the default chain finds (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the instance or task role), the region the token is signed for ({region}), and that the identity may kafka-cluster:Connect on this cluster"
                ),
            );
        }
        _ => "check the listener's security protocol against the plan's `tls` and auth settings".to_string(),
    };
    Check::fail(name, side, format!("{identity}: {}", failure.cause), hint)
}

/// Logs in with each distinct app identity on this cluster (the replicator's is already proven).
async fn app_logins(plan: &Plan, cluster: &Cluster, timeout: Duration, checks: &mut Vec<Check>) {
    let mut identities: Vec<(&Auth, Vec<&str>)> = Vec::new();
    for app in &plan.apps {
        let auth = app.auth_on(cluster);
        match identities.iter_mut().find(|(known, _)| *known == auth) {
            Some((_, apps)) => apps.push(&app.name),
            None => identities.push((auth, vec![app.name.as_str()])),
        }
    }
    let side = cluster.side.as_str();
    let attempts = identities.into_iter().map(|(auth, apps)| async move {
        let started = Instant::now();
        let name = "app-login";
        match login(cluster, Identity::App(auth), timeout).await {
            Ok((_, summary)) => Check::pass(
                name,
                side,
                format!("apps {}: {}: {summary}", apps.join(", "), describe_identity(cluster, Identity::App(auth))),
            ),
            Err(failure) => {
                let mut check = login_failure(name, cluster, Identity::App(auth), failure);
                check.detail = format!("apps {}: {}", apps.join(", "), check.detail);
                check
            }
        }
        .timed(started)
    });
    checks.extend(futures::future::join_all(attempts).await);
}

/// Cluster ID, ACLs, topics, configs and groups, concurrently, with the replicator's client.
async fn read_cluster(plan: &Plan, cluster: &Cluster, admin: Arc<Admin>, timeout: Duration, facts: &mut ClusterFacts) {
    let side = cluster.side.as_str().to_string();
    let id_client = Arc::clone(&admin);
    let acl_client = Arc::clone(&admin);
    let metadata_client = Arc::clone(&admin);
    let group_client = Arc::clone(&admin);
    let started = Instant::now();
    let (cluster_id, acls, metadata, groups) = tokio::join!(
        tokio::task::spawn_blocking(move || admin::cluster_id(id_client.inner(), timeout)),
        tokio::task::spawn_blocking(move || acls_or_why_none(acl_client.inner(), timeout)),
        tokio::task::spawn_blocking(move || topic_partition_counts(metadata_client.inner(), timeout)),
        tokio::task::spawn_blocking(move || group_states(group_client.inner(), timeout)),
    );
    let elapsed = started.elapsed().as_millis() as u64;

    facts.cluster_id = cluster_id.ok().flatten();
    let mut check = cluster_id_check(&side, facts.cluster_id.as_deref(), cluster.expected_cluster_id.as_deref());
    check.duration_ms = elapsed;
    facts.checks.push(check);

    facts.acls = Some(
        acls.unwrap_or_else(|error| Err(AdminError::Failed { operation: "DescribeAcls", message: error.to_string() })),
    );
    match listed_topics(&side, metadata, started) {
        Ok(topics) => facts.topics = topics,
        Err(check) => {
            facts.readable = false;
            facts.checks.push(check);
            return;
        }
    }
    facts.groups = Some(match groups {
        Ok(Ok(groups)) => Ok(with_consumer_protocol_groups(plan, &admin, groups, timeout).await),
        Ok(Err(error)) => Err(error.to_string()),
        Err(error) => Err(error.to_string()),
    });
    read_planned_max_message_bytes(plan, &admin, timeout, facts).await;
}

/// The cluster's ACLs; an error when there are none because the client may not Describe the
/// cluster.
fn acls_or_why_none<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    timeout: Duration,
) -> Result<Vec<AclBinding>, AdminError> {
    let bindings = admin::describe_acls(client, timeout)?;
    if !bindings.is_empty() {
        return Ok(bindings);
    }
    // No ACLs at all: no authorizer, or no Describe on the cluster (librdkafka hides
    // which). DescribeCluster's authorized operations tell them apart.
    match admin::cluster_authorized_operations(client, timeout) {
        Ok(allowed) if !allowed.iter().any(|op| matches!(op, AclOperation::Describe | AclOperation::All)) => {
            let allowed: Vec<&str> = allowed.iter().map(|op| op.as_str()).collect();
            let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
            Err(AdminError::ClusterDescribeDenied { allowed })
        }
        _ => Ok(bindings),
    }
}

/// Every non-internal topic the metadata lists without an error, and its partition count.
fn topic_partition_counts<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    timeout: Duration,
) -> rdkafka::error::KafkaResult<BTreeMap<String, usize>> {
    client.fetch_metadata(None, timeout).map(|metadata| {
        metadata
            .topics()
            .iter()
            .filter(|topic| !topic.name().starts_with(INTERNAL_TOPIC_PREFIX) && topic.error().is_none())
            .map(|topic| (topic.name().to_string(), topic.partitions().len()))
            .collect::<BTreeMap<_, _>>()
    })
}

/// Every group the classic listing (ListGroups) shows, and its state.
fn group_states<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    timeout: Duration,
) -> rdkafka::error::KafkaResult<BTreeMap<String, String>> {
    client.fetch_group_list(None, timeout).map(|list| {
        list.groups()
            .iter()
            .map(|group| (group.name().to_string(), group.state().to_string()))
            .collect::<BTreeMap<_, _>>()
    })
}

/// The `cluster-id` check: the ID the brokers report against the one the plan expects.
fn cluster_id_check(side: &str, found: Option<&str>, expected: Option<&str>) -> Check {
    match (found, expected) {
        (Some(id), Some(expected)) if id == expected => {
            Check::pass("cluster-id", side, format!("{id} (as the plan expects)"))
        }
        (Some(id), Some(expected)) => Check::fail(
            "cluster-id",
            side,
            format!("the cluster reports `{id}`, the plan expects `{expected}`"),
            format!(
                "the bootstrap servers point at another cluster than planned; fix `{side}.bootstrap_servers` or `{side}.cluster_id`"
            ),
        ),
        (Some(id), None) => Check::pass(
            "cluster-id",
            side,
            format!("{id} (no expectation in the plan; pin it with `{side}.cluster_id`)"),
        ),
        (None, _) => Check::fail(
            "cluster-id",
            side,
            "the brokers report no cluster ID",
            "MSK Replicator identifies the external cluster by its ID: the brokers must report one in Metadata",
        ),
    }
}

/// The topics the metadata read listed, or the failed `metadata` check.
fn listed_topics(
    side: &str,
    metadata: Result<rdkafka::error::KafkaResult<BTreeMap<String, usize>>, tokio::task::JoinError>,
    started: Instant,
) -> Result<BTreeMap<String, usize>, Check> {
    match metadata {
        Ok(Ok(topics)) => Ok(topics),
        Ok(Err(error)) => Err(Check::fail(
            "metadata",
            side,
            format!("cannot list topics: {error}"),
            "the replicator needs Describe on the topics and the cluster",
        )
        .timed(started)),
        Err(error) => {
            Err(Check::fail("metadata", side, format!("cannot list topics: {error}"), "retry; this is unexpected")
                .timed(started))
        }
    }
}

/// `groups` with the apps' groups on the consumer protocol added.
async fn with_consumer_protocol_groups(
    plan: &Plan,
    admin: &Arc<Admin>,
    mut groups: BTreeMap<String, String>,
    timeout: Duration,
) -> BTreeMap<String, String> {
    // The classic listing reports a group on the consumer protocol (KIP-848) as "Dead":
    // look up the apps' groups it does not show alive in ListConsumerGroups.
    let unseen: Vec<String> = plan
        .apps
        .iter()
        .flat_map(|app| app.consumes.iter().map(|c| c.group.clone()))
        .filter(|group| groups.get(group).is_none_or(|state| state.is_empty() || state == "Dead"))
        .collect();
    let describer = Arc::clone(admin);
    let described = tokio::task::spawn_blocking(move || {
        if unseen.is_empty() {
            return Vec::new();
        }
        // ListConsumerGroups, not DescribeConsumerGroups: see `admin::list_consumer_groups`.
        admin::list_consumer_groups(describer.inner(), timeout)
            .unwrap_or_default()
            .into_iter()
            .filter(|listing| listing.state != "Dead" && unseen.contains(&listing.group))
            .map(|listing| (listing.group, listing.state))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    groups.extend(described);
    groups
}

/// `max.message.bytes` of the listed topics the plan replicates (or why it could not be read).
async fn read_planned_max_message_bytes(plan: &Plan, admin: &Admin, timeout: Duration, facts: &mut ClusterFacts) {
    let planned: Vec<String> =
        facts.topics.keys().filter(|name| plan.replication.replicates_topic(name)).cloned().collect();
    if !planned.is_empty() {
        match read_max_message_bytes(admin, &planned, timeout).await {
            Ok(sizes) => facts.max_message_bytes = sizes,
            Err(error) => facts.config_error = Some(error),
        }
    }
}

async fn read_max_message_bytes(
    admin: &Admin,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, String> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let results = describe_topic_configs(admin, &names, timeout).await?;
    let mut sizes = BTreeMap::new();
    let mut failures = BTreeSet::new();
    for (topic, result) in results {
        match result {
            Ok(resource) => {
                if let Some(value) = resource
                    .get("max.message.bytes")
                    .and_then(|entry| entry.value.as_deref())
                    .and_then(|v| v.parse().ok())
                {
                    sizes.insert(topic, value);
                }
            }
            Err(code) => {
                failures.insert(format!("{topic}: {code}"));
            }
        }
    }
    if sizes.is_empty() && !failures.is_empty() {
        return Err(format!("DescribeConfigs failed: {}", failures.into_iter().collect::<Vec<_>>().join("; ")));
    }
    Ok(sizes)
}
