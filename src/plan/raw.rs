//! Stage one of reading a plan: the YAML as written, with serde.
//!
//! Every field is optional here so that one pass can report *every* missing field at once (stage
//! two, `validate.rs`, decides what is required). Unknown keys are collected with `serde_ignored`
//! instead of `deny_unknown_fields`, which would stop at the first one. Enumerations (backend,
//! mechanism, compression, …) stay strings so the validator can name the accepted values.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
pub struct RawPlan {
    pub name: Option<String>,
    pub state_dir: Option<String>,
    pub source: Option<RawCluster>,
    pub target: Option<RawCluster>,
    pub replication: Option<RawReplication>,
    pub readiness: Option<RawReadiness>,
    pub apps: Option<Vec<RawApp>>,
    pub msk: Option<RawMsk>,
    pub engine: Option<RawEngine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawEngine {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCluster {
    pub bootstrap_servers: Option<ServerList>,
    pub replicator_bootstrap_servers: Option<ServerList>,
    pub cluster_id: Option<String>,
    pub tls: Option<RawTls>,
    pub properties: Option<BTreeMap<String, Scalar>>,
    pub replicator_auth: Option<RawAuth>,
    pub app_auth: Option<RawAuth>,
    pub admin_auth: Option<RawAuth>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub enabled: Option<bool>,
    pub ca_file: Option<String>,
    pub verify_hostname: Option<bool>,
    pub apps: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAuth {
    pub mechanism: Option<String>,
    pub username: Option<RawCredential>,
    pub password: Option<RawCredential>,
}

/// A credential: either a string written in the plan, or where to read it from.
#[derive(Debug)]
pub enum RawCredential {
    Literal(String),
    From(RawCredentialSource),
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCredentialSource {
    pub env: Option<String>,
    pub file: Option<String>,
    pub secret_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReplication {
    pub backend: Option<String>,
    pub topics: Option<Vec<RawSelector>>,
    pub groups: Option<Vec<RawSelector>>,
    pub starting_position: Option<String>,
    pub target_compression: Option<String>,
    pub bidirectional: Option<bool>,
    pub acls: Option<String>,
    pub principal_map: Option<BTreeMap<String, String>>,
}

/// A topic or group selector: a plain string is an exact name, `{regex: ...}` a full-match regex.
#[derive(Debug)]
pub enum RawSelector {
    Name(String),
    Pattern(RawPattern),
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPattern {
    pub regex: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReadiness {
    pub max_message_lag: Option<u64>,
    pub max_replication_latency_ms: Option<u64>,
    pub max_sum_offset_lag: Option<u64>,
    pub sustained_for: Option<String>,
    pub expected_consumer_group_count: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawApp {
    pub name: Option<String>,
    pub produces: Option<Vec<String>>,
    pub consumes: Option<Vec<RawConsume>>,
    pub transactional_ids: Option<Vec<String>>,
    pub auth: Option<RawAppAuth>,
    pub role_arn: Option<String>,
    pub stop: Option<String>,
    pub start: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawConsume {
    pub group: Option<String>,
    pub topics: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAppAuth {
    pub source: Option<RawAuth>,
    pub target: Option<RawAuth>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawMsk {
    pub region: Option<String>,
    pub cluster_arn: Option<String>,
    pub service_execution_role_arn: Option<String>,
    pub security_group_ids: Option<Vec<String>>,
    pub subnet_ids: Option<Vec<String>>,
    pub scram_secret_arn: Option<String>,
    pub certificate_secret_arn: Option<String>,
    pub scram_mechanism: Option<String>,
    pub secret_kms_key_arn: Option<String>,
    pub log_delivery: Option<RawLogDelivery>,
    pub replicator_names: Option<RawReplicatorNames>,
    pub consumer_group_offset_sync_mode: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLogDelivery {
    pub cloudwatch_logs_group: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
    pub firehose_delivery_stream: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReplicatorNames {
    pub external_to_msk: Option<String>,
    pub msk_to_external: Option<String>,
}

/// `bootstrap_servers` as either `"a:9092,b:9092"` or a list.
#[derive(Debug, Clone, Default)]
pub struct ServerList(pub Vec<String>);

/// A librdkafka property value: YAML booleans and numbers are accepted and kept as text.
#[derive(Debug, Clone)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for ServerList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ServerListVisitor;
        impl<'de> Visitor<'de> for ServerListVisitor {
            type Value = ServerList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a comma-separated string of host:port or a list of them")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ServerList, E> {
                // Split on commas only after interpolation: a `${VAR:-a:1,b:2}` default holds commas.
                Ok(ServerList(vec![value.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ServerList, A::Error> {
                let mut servers = Vec::new();
                while let Some(server) = seq.next_element::<String>()? {
                    servers.push(server.trim().to_string());
                }
                Ok(ServerList(servers))
            }
        }
        deserializer.deserialize_any(ServerListVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Deserializes "string or mapping" types: the string form becomes `from_str`, the mapping form is
/// handed to `T`'s own derive (through the same `MapAccess`, so `serde_ignored` still sees its keys).
fn string_or_map<'de, D, T, R>(
    deserializer: D,
    expecting: &'static str,
    from_str: fn(String) -> R,
    from_map: fn(T) -> R,
) -> Result<R, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct StringOrMap<T, R> {
        expecting: &'static str,
        from_str: fn(String) -> R,
        from_map: fn(T) -> R,
    }
    impl<'de, T: Deserialize<'de>, R> Visitor<'de> for StringOrMap<T, R> {
        type Value = R;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<R, E> {
            Ok((self.from_str)(value.to_string()))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
            let inner = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok((self.from_map)(inner))
        }
    }
    deserializer.deserialize_any(StringOrMap { expecting, from_str, from_map })
}

impl<'de> Deserialize<'de> for RawCredential {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string_or_map(
            deserializer,
            "a string or a mapping with `env`, `file` or `secret_arn`",
            RawCredential::Literal,
            RawCredential::From,
        )
    }
}

impl<'de> Deserialize<'de> for RawSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string_or_map(deserializer, "a name or a mapping `{regex: ...}`", RawSelector::Name, RawSelector::Pattern)
    }
}
