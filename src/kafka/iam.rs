//! Amazon MSK IAM access control for Kafka clients: SASL `OAUTHBEARER` with a token signed by
//! `aws-msk-iam-sasl-signer` (pinned to 1.0.1 in `Cargo.toml`, read before pinning: it presigns
//! `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect` with SigV4 in the query,
//! service `kafka-cluster`, 900 s expiry, and base64url-encodes the URL without padding; it
//! panics nowhere on our path and calls no AWS API when given credentials).
//!
//! librdkafka asks for a token when a client starts and again before the token expires, through
//! rdkafka's **synchronous** callback ([`rdkafka::ClientContext::generate_oauth_token`]) on
//! whichever thread polls the client. Signing is async in the signer, so [`IamTokens::token`]
//! runs it on a thread of its own with a runtime of its own: safe to call from inside or outside
//! a Tokio runtime. The callback only runs while the client is polled: [`prime`] polls a new
//! consumer once so its first request finds a token.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use rdkafka::client::OAuthToken;

use crate::plan::{Auth, Cluster};

/// How long signing may take (loading credentials from the default chain included).
const SIGNING_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a cluster's IAM tokens come from.
#[derive(Clone)]
pub struct IamTokens {
    region: String,
    /// `None`: the default credential chain (environment, profile, SSO, instance role, …), loaded
    /// at each signing so rotated credentials are picked up.
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for IamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamTokens").field("region", &self.region).finish_non_exhaustive()
    }
}

impl IamTokens {
    pub fn new(region: impl Into<String>) -> Self {
        Self { region: region.into(), credentials: None }
    }

    pub fn with_credentials(region: impl Into<String>, credentials: SharedCredentialsProvider) -> Self {
        Self { region: region.into(), credentials: Some(credentials) }
    }

    /// The tokens for `cluster`, when one of its identities is AWS_MSK_IAM.
    pub fn for_cluster(cluster: &Cluster) -> Option<Arc<Self>> {
        let uses_iam = cluster.replicator_auth == Auth::MskIam || cluster.app_auth == Auth::MskIam;
        if !uses_iam {
            return None;
        }
        Some(Arc::new(Self::new(region(cluster)?)))
    }

    /// A fresh token: (the token, when it expires in ms since the epoch).
    pub fn token(&self) -> Result<OAuthToken, String> {
        let region = Region::new(self.region.clone());
        let credentials = self.credentials.clone();
        let signing = std::thread::spawn(move || -> Result<(String, i64), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the signer's runtime: {e}"))?;
            runtime.block_on(async move {
                let credentials = match credentials {
                    Some(credentials) => credentials,
                    None => aws_config::defaults(BehaviorVersion::latest())
                        .region(region.clone())
                        .load()
                        .await
                        .credentials_provider()
                        .ok_or("no AWS credentials found (environment, profile, SSO or instance role)")?,
                };
                let signed = tokio::time::timeout(
                    SIGNING_TIMEOUT,
                    aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(region, credentials),
                )
                .await
                .map_err(|_| format!("signing the MSK IAM token took more than {} s", SIGNING_TIMEOUT.as_secs()))?;
                signed.map_err(|e| format!("cannot sign the MSK IAM token: {e}"))
            })
        });
        let (token, lifetime_ms) = signing.join().map_err(|_| "the MSK IAM signer panicked".to_string())??;
        // AWS's own examples leave the principal empty: the broker takes it from the signature.
        Ok(OAuthToken { token, principal_name: String::new(), lifetime_ms })
    }
}

/// Refuses an admin client on an AWS_MSK_IAM cluster: rdkafka's `AdminClient` polls a queue of
/// its own, never the one librdkafka's token requests arrive on, so it would wait for a token
/// forever. What needs admin calls (the embedded engine, `verify`) says so instead of hanging;
/// the consumers of the offset work, the moves and teardown's checks do get tokens.
pub fn refuse_admin(cluster: &Cluster, what: &str) -> Result<(), String> {
    if cluster.replicator_auth == Auth::MskIam {
        return Err(format!(
            "{what} does not run over AWS_MSK_IAM in this version (its admin client cannot answer IAM token requests): on MSK use backend msk"
        ));
    }
    Ok(())
}

/// The region IAM tokens for `cluster` are signed for: the plan's (`msk.region` or the brokers'
/// names), else `AWS_REGION` / `AWS_DEFAULT_REGION`.
pub fn region(cluster: &Cluster) -> Option<String> {
    cluster
        .aws_region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
}

/// The region in MSK broker names (`b-1.name.abc123.c2.kafka.eu-west-1.amazonaws.com:9098`,
/// `….kafka-serverless.eu-west-1.amazonaws.com`), when every name agrees on one.
pub fn region_in_broker_names(servers: &[String]) -> Option<String> {
    let mut found: Option<String> = None;
    for server in servers {
        let host = server.rsplit_once(':').map_or(server.as_str(), |(host, _)| host);
        let labels: Vec<&str> = host.split('.').collect();
        let n = labels.len();
        if n < 4 || labels[n - 2] != "amazonaws" || !labels[n - 4].starts_with("kafka") {
            return None;
        }
        let region = labels[n - 3].to_string();
        match &found {
            Some(known) if *known != region => return None,
            _ => found = Some(region),
        }
    }
    found
}

/// Lets a consumer answer librdkafka's first token request before its first call that needs the
/// broker (metadata, offsets): the request waits on the consumer's queue until it is polled.
/// Does nothing for other clusters.
pub fn prime(consumer: &rdkafka::consumer::BaseConsumer<super::CaptureContext>) {
    use rdkafka::consumer::Consumer;
    if consumer.context().uses_iam() {
        let _ = consumer.poll(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_region_in_msk_broker_names() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            region_in_broker_names(&names(&[
                "b-1.orders.abc123.c2.kafka.eu-west-1.amazonaws.com:9098",
                "b-2.orders.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"
            ])),
            Some("eu-west-1".into())
        );
        assert_eq!(
            region_in_broker_names(&names(&["boot-x.c1.kafka-serverless.us-east-2.amazonaws.com:9098"])),
            Some("us-east-2".into())
        );
        assert_eq!(region_in_broker_names(&names(&["127.0.0.1:9092"])), None);
        assert_eq!(
            region_in_broker_names(&names(&[
                "b-1.x.c2.kafka.eu-west-1.amazonaws.com:9098",
                "b-1.x.c2.kafka.us-east-1.amazonaws.com:9098"
            ])),
            None
        );
    }
}
