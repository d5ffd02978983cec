//! The decoding of real DescribeAcls bindings, against a wire-level test double.
//!
//! Nisshi has no authorizer (DescribeAcls answers an empty list), so this double speaks just
//! enough of the Kafka protocol for librdkafka's admin client — ApiVersions v0, Metadata v1,
//! DescribeAcls v1 — and answers with fixed bindings covering every resource type, pattern type,
//! operation and permission the evaluation uses. It proves the FFI module decodes what a real
//! broker sends; the evaluation itself is tested in `tests/acl.rs`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use migrate::kafka::admin::{AdminError, describe_acls};
use migrate::preflight::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

const API_METADATA: i16 = 3;
const API_DESCRIBE_ACLS: i16 = 29;
const API_VERSIONS: i16 = 18;
const SECURITY_DISABLED: i16 = 54;

/// (resource type, name, pattern type, principal, host, operation, permission) as Kafka's wire
/// values: resource 2 topic, 3 group, 4 cluster, 5 transactional id; pattern 3 literal, 4 prefixed;
/// operation 2 all, 3 read, 4 write, 8 describe, 12 idempotent write; permission 2 deny, 3 allow.
const BINDINGS: &[(i8, &str, i8, &str, &str, i8, i8)] = &[
    (2, "orders", 3, "User:replicator", "*", 4, 3),
    (2, "ord", 4, "User:replicator", "*", 2, 3),
    (3, "order-", 4, "User:replicator", "*", 3, 3),
    (4, "kafka-cluster", 3, "User:replicator", "*", 12, 3),
    (2, "orders", 3, "User:*", "10.0.0.9", 8, 2),
    (5, "tx", 3, "User:app", "*", 4, 3),
];

fn expected() -> Vec<AclBinding> {
    let b = |resource_type, name: &str, pattern_type, principal: &str, host: &str, operation, permission| AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: host.into(),
        operation,
        permission,
    };
    vec![
        b(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:replicator",
            "*",
            AclOperation::Write,
            AclPermission::Allow,
        ),
        b(
            ResourceType::Topic,
            "ord",
            PatternType::Prefixed,
            "User:replicator",
            "*",
            AclOperation::All,
            AclPermission::Allow,
        ),
        b(
            ResourceType::Group,
            "order-",
            PatternType::Prefixed,
            "User:replicator",
            "*",
            AclOperation::Read,
            AclPermission::Allow,
        ),
        b(
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
            "User:replicator",
            "*",
            AclOperation::IdempotentWrite,
            AclPermission::Allow,
        ),
        b(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:*",
            "10.0.0.9",
            AclOperation::Describe,
            AclPermission::Deny,
        ),
        b(
            ResourceType::TransactionalId,
            "tx",
            PatternType::Literal,
            "User:app",
            "*",
            AclOperation::Write,
            AclPermission::Allow,
        ),
    ]
}

struct Frame(Vec<u8>);

impl Frame {
    fn i8(&mut self, v: i8) -> &mut Self {
        self.0.push(v as u8);
        self
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.i16(s.len() as i16);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
}

fn serve(mut stream: TcpStream, port: u16, security_disabled: bool) {
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return;
        }
        let mut request = vec![0u8; i32::from_be_bytes(size) as usize];
        if stream.read_exact(&mut request).is_err() {
            return;
        }
        let api_key = i16::from_be_bytes([request[0], request[1]]);
        let api_version = i16::from_be_bytes([request[2], request[3]]);
        let correlation = i32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        let mut response = Frame(Vec::new());
        response.i32(correlation);
        match api_key {
            API_VERSIONS => {
                // KIP-511: answer a version we do not speak with UNSUPPORTED_VERSION in v0 form.
                response.i16(if api_version == 0 { 0 } else { 35 }).i32(3);
                for (key, max) in [(API_VERSIONS, 0), (API_METADATA, 1), (API_DESCRIBE_ACLS, 1)] {
                    response.i16(key).i16(0).i16(max);
                }
            }
            API_METADATA => {
                response.i32(1).i32(1).string("127.0.0.1").i32(port as i32).i16(-1);
                response.i32(1).i32(0);
            }
            API_DESCRIBE_ACLS => {
                response.i32(0);
                if security_disabled {
                    response.i16(SECURITY_DISABLED).string("No Authorizer is configured on the broker").i32(0);
                } else {
                    response.i16(0).i16(-1).i32(BINDINGS.len() as i32);
                    for (resource_type, name, pattern, principal, host, operation, permission) in BINDINGS {
                        response.i8(*resource_type).string(name).i8(*pattern).i32(1);
                        response.string(principal).string(host).i8(*operation).i8(*permission);
                    }
                }
            }
            _ => return,
        }
        let mut frame = (response.0.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&response.0);
        if stream.write_all(&frame).is_err() {
            return;
        }
    }
}

fn double(security_disabled: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, port, security_disabled));
        }
    });
    port
}

fn admin(port: u16) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", format!("127.0.0.1:{port}")).create().unwrap()
}

#[test]
fn every_binding_field_is_decoded() {
    let client = admin(double(false));
    let bindings = describe_acls(client.inner(), Duration::from_secs(10)).expect("DescribeAcls");
    assert_eq!(bindings, expected());
}

/// A broker without an authorizer answers DescribeAcls with SECURITY_DISABLED. librdkafka 2.12
/// drops that top-level error (rd_kafka_DescribeAclsResponse_parse reads it into `errstr` and
/// returns NO_ERROR with an empty list), so it reaches us as "no ACLs at all", which preflight
/// reports as "cannot verify", never as a pass. Should librdkafka start surfacing the error, it
/// arrives as `AdminError::NoAuthorizer` with the broker's message, also reported "cannot verify".
#[test]
fn security_disabled_arrives_as_no_acls_and_cannot_be_verified() {
    use migrate::preflight::acl::{AclReport, check, replicator_requirements};
    let client = admin(double(true));
    match describe_acls(client.inner(), Duration::from_secs(10)) {
        Ok(bindings) => {
            assert!(bindings.is_empty(), "{bindings:?}");
            assert_eq!(
                check(&bindings, "User:replicator", &replicator_requirements(&["orders".into()], &[])),
                AclReport::CannotVerify
            );
        }
        Err(AdminError::NoAuthorizer(message)) => assert!(message.contains("No Authorizer"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
    }
}
