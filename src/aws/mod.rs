//! The AWS adapter: one client factory and one classification of AWS errors.
//!
//! Every AWS client comes from [`Clients::connect`]: `aws-config`'s default credential chain
//! (environment, profile, SSO, IMDS/ECS), the plan's region, an endpoint override for local
//! emulators (the plan's `msk.endpoint_url`, or `AWS_ENDPOINT_URL` which `aws-config` reads
//! itself), and the SDK's standard retry mode, which backs off and retries throttling errors.
//! Every failed call goes through [`classify`], which turns it into an [`AwsError`] naming the IAM
//! action and the resource — "not allowed to kafka:CreateReplicator on arn:…" rather than a bare
//! `AccessDeniedException`.

pub mod arn;
pub mod region;

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use arn::Arn;

/// Attempts per call (the first and up to four retries) for throttling and transient errors.
pub const MAX_ATTEMPTS: u32 = 5;

/// The AWS clients `migrate` uses, all built from one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub kafka: aws_sdk_kafka::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    /// Loads the default credential chain for `region`, with an optional endpoint override.
    pub async fn connect(region: &str, endpoint_url: Option<&str>) -> Clients {
        Clients::from_config(&load_config(region, endpoint_url).await)
    }

    pub fn from_config(config: &SdkConfig) -> Clients {
        Clients {
            sts: aws_sdk_sts::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            kafka: aws_sdk_kafka::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

/// The shared SDK configuration: default chain, `region`, standard retries, optional endpoint.
pub async fn load_config(region: &str, endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An AWS call that failed, sorted by what the operator does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("not allowed to {action} on {resource}: {message}")]
    AccessDenied { action: String, resource: String, message: String },
    #[error("{resource} does not exist ({action}: {code})")]
    NotFound { action: String, resource: String, code: String },
    #[error("AWS kept throttling {action} on {resource} after {MAX_ATTEMPTS} attempts")]
    Throttled { action: String, resource: String },
    #[error("no usable AWS credentials for {action}: {message}")]
    Credentials { action: String, message: String },
    #[error("the endpoint does not implement {action} ({message})")]
    NotImplemented { action: String, message: String },
    #[error("cannot reach AWS for {action}: {message}")]
    Unreachable { action: String, message: String },
    #[error("{action} on {resource} failed: {code}: {message}")]
    Other { action: String, resource: String, code: String, message: String },
}

impl AwsError {
    /// What to do about it, for a check's `fix:` line.
    pub fn hint(&self) -> String {
        match self {
            AwsError::AccessDenied { action, resource, .. } => {
                format!("grant `{action}` on `{resource}` to the identity running migrate (see `aws sts get-caller-identity`)")
            }
            AwsError::NotFound { .. } => "check the ARN or ID in the plan's `msk` section and the region".into(),
            AwsError::Throttled { .. } => "retry later, or raise the account's API rate quota".into(),
            AwsError::Credentials { .. } => {
                "configure credentials: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `aws sso login`, or an instance role".into()
            }
            AwsError::NotImplemented { .. } => "run against AWS itself; this endpoint (an emulator?) lacks the API".into(),
            AwsError::Unreachable { .. } => "check this machine's network path to AWS (proxy, VPC endpoints) and the region".into(),
            AwsError::Other { .. } => "see the AWS error above".into(),
        }
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(self, AwsError::AccessDenied { .. })
    }
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "ForbiddenException",
    "UnauthorizedException",
];
const CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
];
const THROTTLED: &[&str] =
    &["Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "ThrottledException"];

/// Sorts a failed call to `action` (an IAM action name, e.g. `kafka:DescribeClusterV2`) on
/// `resource` into an [`AwsError`].
pub fn classify<E, R>(error: &SdkError<E, R>, action: &str, resource: &str) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: Debug,
{
    let action = action.to_string();
    let resource = resource.to_string();
    let SdkError::ServiceError(service) = error else {
        let message = DisplayErrorContext(error).to_string();
        if message.contains("credential") || message.contains("Credentials") {
            return AwsError::Credentials { action, message };
        }
        return AwsError::Unreachable { action, message };
    };
    let code = service.err().code().unwrap_or("").to_string();
    let message = service.err().message().unwrap_or("").to_string();
    if ACCESS_DENIED.contains(&code.as_str()) {
        AwsError::AccessDenied { action, resource, message }
    } else if CREDENTIALS.contains(&code.as_str()) {
        AwsError::Credentials { action, message: format!("{code}: {message}") }
    } else if THROTTLED.contains(&code.as_str()) {
        AwsError::Throttled { action, resource }
    } else if code.contains("NotFound") || code == "NoSuchEntity" {
        AwsError::NotFound { action, resource, code }
    } else if code == "NotImplemented" || message.contains("not yet implemented") {
        AwsError::NotImplemented { action, message: format!("{code}: {message}") }
    } else if code.is_empty() {
        AwsError::Other { action, resource, code: "unknown".into(), message: DisplayErrorContext(error).to_string() }
    } else {
        AwsError::Other { action, resource, code, message }
    }
}
