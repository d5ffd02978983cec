//! MSK IAM access control for Kafka clients, without AWS: the token `aws-msk-iam-sasl-signer`
//! makes from fixed credentials is checked field by field and its SigV4 signature recomputed here
//! independently; librdkafka's token request is answered by the client's token thread without
//! the client being polled. A broker that checks the tokens: `tests/iam.rs`.

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine;
use common::{Later, poll_for};
use hmac::{KeyInit, Mac};
use migrate::kafka::iam::IamTokens;
use migrate::kafka::{CaptureContext, Identity, Served, client_config};
use rdkafka::consumer::BaseConsumer;

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "session/token+value=";

fn fixed_tokens(region: &str) -> IamTokens {
    let credentials = Credentials::from_keys(ACCESS_KEY, SECRET_KEY, Some(SESSION_TOKEN.into()));
    IamTokens::with_credentials(region, SharedCredentialsProvider::new(credentials))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `YYYYMMDDTHHMMSSZ` in ms since the epoch (days from the civil date, proleptic Gregorian).
fn epoch_ms(date: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| date[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + n(9..11)) * 3600 + n(11..13) * 60 + n(13..15)) * 1000
}

#[test]
fn the_token_is_a_presigned_kafka_cluster_connect_url_signed_with_the_given_credentials() {
    let before_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let token = fixed_tokens("eu-west-1").token().expect("a token from fixed credentials, without AWS");
    assert_eq!(token.principal_name, "");
    assert!(
        token.token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url without padding: {}",
        token.token
    );
    let url =
        String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token.token).unwrap()).unwrap();
    let (base, query) = url.split_once('?').expect("a query");
    assert_eq!(base, "https://kafka.eu-west-1.amazonaws.com/");
    let params: Vec<(String, String)> = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let decode = |s: &str| urlencoding::decode(&s.replace('+', " ")).unwrap().into_owned();
            (decode(k), decode(v))
        })
        .collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let date = get("X-Amz-Date");
    assert_eq!(date.len(), 16, "{date}");
    assert_eq!(get("Action"), "kafka-cluster:Connect");
    assert_eq!(get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(get("X-Amz-Credential"), format!("{ACCESS_KEY}/{}/eu-west-1/kafka-cluster/aws4_request", &date[..8]));
    assert_eq!(get("X-Amz-Expires"), "900");
    assert_eq!(get("X-Amz-SignedHeaders"), "host");
    assert_eq!(get("X-Amz-Security-Token"), SESSION_TOKEN);
    assert!(get("User-Agent").starts_with("aws-msk-iam-sasl-signer-rs/1.0.1"), "{}", get("User-Agent"));
    let signature = get("X-Amz-Signature");
    assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()), "{signature}");
    // The lifetime librdkafka gets is the signing time plus the 900 s the URL is valid.
    let signed_at = epoch_ms(&date);
    assert_eq!(token.lifetime_ms, signed_at + 900_000);
    assert!((signed_at - before_ms).abs() < 60_000, "signed now: {signed_at} vs {before_ms}");

    // The signature, recomputed from the SigV4 specification: every parameter signed but the
    // signature itself and the User-Agent the signer appends afterwards.
    let mut signed: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != "X-Amz-Signature" && k != "User-Agent").cloned().collect();
    signed.sort();
    let canonical_query: Vec<String> = signed.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let empty_payload = hex(&<sha2::Sha256 as sha2::Digest>::digest(b""));
    let canonical_request =
        format!("GET\n/\n{}\nhost:kafka.eu-west-1.amazonaws.com\n\nhost\n{empty_payload}", canonical_query.join("&"));
    let scope = format!("{}/eu-west-1/kafka-cluster/aws4_request", &date[..8]);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&<sha2::Sha256 as sha2::Digest>::digest(canonical_request.as_bytes()))
    );
    let key = hmac(
        &hmac(&hmac(&hmac(format!("AWS4{SECRET_KEY}").as_bytes(), &date[..8]), "eu-west-1"), "kafka-cluster"),
        "aws4_request",
    );
    assert_eq!(hex(&hmac(&key, &string_to_sign)), signature, "canonical request:\n{canonical_request}");
}

#[test]
fn librdkafka_gets_a_token_without_the_client_being_polled() {
    // The plan's MSK target: AWS_MSK_IAM over TLS with OAUTHBEARER, the region from `msk.region`.
    let plan = common::aws::example_msk_plan(|text| text);
    assert_eq!(plan.target.aws_region.as_deref(), Some("eu-west-1"));
    let mut config = client_config(&plan.target, Identity::Replicator).expect("an IAM client configuration");
    assert_eq!(config.get("sasl.mechanism"), Some("OAUTHBEARER"));
    assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
    assert!(CaptureContext::for_cluster(&plan.target).uses_iam());
    assert!(!CaptureContext::for_cluster(&plan.source).uses_iam());

    // Nothing listens there: the token is asked for when the client starts, before any connection.
    config.set("bootstrap.servers", format!("127.0.0.1:{}", common::free_port()));
    config.set("group.id", "iam-test");
    let context = CaptureContext::with_iam(fixed_tokens("eu-west-1"));
    let _consumer: Served<BaseConsumer<CaptureContext>> = context.clone().create(&config).unwrap();
    let asked = Later(|| format!("librdkafka to ask for a token; errors: {:?}", context.errors()));
    let issued = poll_for(asked, Duration::from_secs(10), || Some(context.tokens_issued()).filter(|n| *n > 0));
    assert_eq!(issued, 1, "librdkafka asked once at start; errors: {:?}", context.errors());
}

/// Regression: rdkafka's admin client never serves librdkafka's token requests, so an admin client
/// over IAM waited for a token forever; now its token thread answers at once, polled or not.
#[test]
fn an_admin_client_over_iam_gets_its_token_unpolled() {
    let plan = common::aws::example_msk_plan(|text| text);
    let mut config = client_config(&plan.target, Identity::Replicator).expect("an IAM client configuration");
    config.set("bootstrap.servers", format!("127.0.0.1:{}", common::free_port()));
    let context = CaptureContext::with_iam(fixed_tokens("eu-west-1"));
    let _admin: Served<rdkafka::admin::AdminClient<CaptureContext>> = context.clone().create(&config).unwrap();
    let asked = Later(|| format!("librdkafka to ask for a token; errors: {:?}", context.errors()));
    let issued = poll_for(asked, Duration::from_secs(10), || Some(context.tokens_issued()).filter(|n| *n > 0));
    assert_eq!(issued, 1, "errors: {:?}", context.errors());
}

/// `verify` on an msk plan is refused at once (MSK Replicator's copies carry no provenance).
#[tokio::test(flavor = "multi_thread")]
async fn verify_on_an_msk_plan_is_refused_at_once() {
    let plan = common::aws::example_msk_plan(|text| text);
    let started = std::time::Instant::now();
    let error = migrate::verify::verify(&plan, &migrate::verify::NoProgress).await.unwrap_err();
    assert!(matches!(error, migrate::verify::VerifyError::MskBackend), "{error}");
    assert!(error.to_string().contains("on an msk plan"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}
