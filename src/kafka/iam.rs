//! Amazon MSK IAM access control for Kafka clients: SASL `OAUTHBEARER` with a token signed by
//! `aws-msk-iam-sasl-signer` (pinned to 1.0.1 in `Cargo.toml`, read before pinning: it presigns
//! `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect` with SigV4 in the query,
//! service `kafka-cluster`, 900 s expiry, and base64url-encodes the URL without padding; it
//! panics nowhere on our path and calls no AWS API when given credentials).
//!
//! librdkafka asks for a token when a client starts and again at 80 % of the token's lifetime.
//! Every client of the project is made by [`super::create`], which sends those requests to a
//! queue of their own and answers them on a thread ([`super::admin::TokenServer`]), so admin
//! clients, which nothing polls, and consumers idle between polls get their tokens in time.
//! Signing is async in the signer, so [`IamTokens::token`] runs it on a thread of its own with a
//! runtime of its own: safe to call from inside or outside a Tokio runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use rdkafka::client::OAuthToken;

use crate::plan::{Auth, Cluster};

/// How long signing may take (loading credentials from the default chain included).
const SIGNING_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest lifetime [`crate::settings::ENV_IAM_TOKEN_LIFETIME`] may ask for.
const SHORTEST_LIFETIME_SECS: u64 = 10;

/// Where a cluster's IAM tokens come from.
#[derive(Clone)]
pub struct IamTokens {
    region: String,
    /// How many tokens were made.
    issued: Arc<AtomicU32>,
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
        Self { region: region.into(), issued: Arc::default(), credentials: None }
    }

    pub fn with_credentials(region: impl Into<String>, credentials: SharedCredentialsProvider) -> Self {
        Self { region: region.into(), issued: Arc::default(), credentials: Some(credentials) }
    }

    /// The tokens for `cluster`, when one of its identities is AWS_MSK_IAM.
    pub fn for_cluster(cluster: &Cluster) -> Option<Arc<Self>> {
        let uses_iam = cluster.replicator_auth == Auth::MskIam || cluster.app_auth == Auth::MskIam;
        if !uses_iam {
            return None;
        }
        Some(Arc::new(Self::new(region(cluster)?)))
    }

    /// How many tokens were made so far.
    pub fn issued(&self) -> u32 {
        self.issued.load(Ordering::Relaxed)
    }

    /// A fresh token: (the token, when it expires in ms since the epoch). The expiry librdkafka
    /// is told is the signed URL's (900 s after signing), or sooner with
    /// [`crate::settings::ENV_IAM_TOKEN_LIFETIME`]; librdkafka asks for the next token at 80 % of it.
    pub fn token(&self) -> Result<OAuthToken, String> {
        let shorter = lifetime_from_env()?;
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
        let (token, mut lifetime_ms) = signing.join().map_err(|_| "the MSK IAM signer panicked".to_string())??;
        if let Some(shorter) = shorter {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as i64);
            lifetime_ms = lifetime_ms.min(now_ms + shorter.as_millis() as i64);
        }
        self.issued.fetch_add(1, Ordering::Relaxed);
        // AWS's own examples leave the principal empty: the broker takes it from the signature.
        Ok(OAuthToken { token, principal_name: String::new(), lifetime_ms })
    }
}

/// [`crate::settings::ENV_IAM_TOKEN_LIFETIME`]: whole seconds from 10 up; `None` when unset.
fn lifetime_from_env() -> Result<Option<Duration>, String> {
    let name = crate::settings::ENV_IAM_TOKEN_LIFETIME;
    let Ok(text) = std::env::var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(seconds) if seconds >= SHORTEST_LIFETIME_SECS => Ok(Some(Duration::from_secs(seconds))),
        _ => Err(format!("{name} must be whole seconds, at least {SHORTEST_LIFETIME_SECS} (found {text:?})")),
    }
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
