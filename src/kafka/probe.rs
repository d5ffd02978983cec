//! A raw Kafka protocol probe: TCP, TLS, ApiVersions and SaslHandshake, without librdkafka.
//!
//! librdkafka hides the handshake: it retries forever, reports TLS and SASL failures only as log
//! lines, and never shows the broker's API versions. Preflight needs each step named with its own
//! cause, so this module speaks the two requests it needs itself. Both are the protocol's oldest,
//! non-flexible versions (ApiVersions v0, SaslHandshake v1), which every broker since 0.10 accepts
//! before authentication.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslStream, SslVerifyMode};

const API_KEY_SASL_HANDSHAKE: i16 = 17;
const API_KEY_API_VERSIONS: i16 = 18;
const CLIENT_ID: &str = "migrate-preflight";
/// No legitimate answer to these two requests comes near this size.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// One API the broker offers, with its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ApiVersion {
    pub key: i16,
    pub min: i16,
    pub max: i16,
}

/// A plain or TLS connection to one broker.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.read(buf),
            Connection::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.write(buf),
            Connection::Tls(stream) => stream.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Plain(stream) => stream.flush(),
            Connection::Tls(stream) => stream.flush(),
        }
    }
}

/// Connects to the first of `addresses` that accepts, as Kafka clients do with a host name that
/// resolves to several addresses (`localhost` → ::1, 127.0.0.1). The error is the last one seen.
pub fn connect_tcp(addresses: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
    for address in addresses {
        match connect_one(*address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn connect_one(address: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What a verified TLS handshake learned about the broker's certificate.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub protocol: String,
}

/// Performs a TLS handshake verifying the broker's chain against `ca_file` (or the system store)
/// and, when asked, its host name. The error says why verification failed.
pub fn tls_handshake(
    stream: TcpStream,
    host: &str,
    ca_file: Option<&Path>,
    verify_hostname: bool,
) -> Result<(Connection, TlsPeer), String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| format!("TLS setup: {e}"))?;
    match ca_file {
        Some(ca) => builder.set_ca_file(ca).map_err(|e| format!("cannot load CA file {}: {e}", ca.display()))?,
        None => builder.set_default_verify_paths().map_err(|e| format!("cannot load the system CA store: {e}"))?,
    }
    builder.set_verify(SslVerifyMode::PEER);
    let connector = builder.build();
    let mut configuration = connector.configure().map_err(|e| format!("TLS setup: {e}"))?;
    configuration.set_verify_hostname(verify_hostname);
    configuration.set_use_server_name_indication(true);
    match configuration.connect(host, stream) {
        Ok(tls) => {
            let ssl = tls.ssl();
            let peer = match ssl.peer_certificate() {
                Some(certificate) => TlsPeer {
                    subject: name_text(certificate.subject_name()),
                    issuer: name_text(certificate.issuer_name()),
                    not_after: certificate.not_after().to_string(),
                    protocol: ssl.version_str().to_string(),
                },
                None => return Err("the broker sent no certificate".into()),
            };
            Ok((Connection::Tls(Box::new(tls)), peer))
        }
        Err(HandshakeError::Failure(mid)) => {
            let verify = mid.ssl().verify_result();
            if verify.as_raw() != 0 {
                Err(format!("certificate verify failed: {}", verify.error_string()))
            } else {
                Err(format!("TLS handshake failed: {}", mid.error()))
            }
        }
        Err(HandshakeError::SetupFailure(error)) => Err(format!("TLS setup failed: {error}")),
        Err(HandshakeError::WouldBlock(_)) => Err("TLS handshake timed out".into()),
    }
}

/// A certificate name as `CN=…, O=…`.
pub fn name_text(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .filter_map(|entry| {
            let key = entry.object().nid().short_name().ok()?;
            let value = entry.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends ApiVersions v0 and returns the broker's API table.
pub fn api_versions(connection: &mut Connection) -> io::Result<Vec<ApiVersion>> {
    let response = round_trip(connection, API_KEY_API_VERSIONS, 0, 1, &[])?;
    decode_api_versions(&response)
}

/// Sends SaslHandshake v1 for `mechanism`; returns whether the broker accepts it and the mechanisms
/// it has enabled. The connection is unusable afterwards (authentication is left unfinished).
pub fn sasl_handshake(connection: &mut Connection, mechanism: &str) -> io::Result<(bool, Vec<String>)> {
    let mut body = Vec::new();
    put_string(&mut body, mechanism);
    let response = round_trip(connection, API_KEY_SASL_HANDSHAKE, 1, 2, &body)?;
    let mut reader = Cursor::new(&response);
    let error_code = reader.i16()?;
    let count = reader.i32()?;
    let mut mechanisms = Vec::new();
    for _ in 0..count.max(0) {
        mechanisms.push(reader.string()?);
    }
    Ok((error_code == 0, mechanisms))
}

fn round_trip(
    connection: &mut Connection,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let mut request = Vec::with_capacity(32 + body.len());
    request.extend_from_slice(&api_key.to_be_bytes());
    request.extend_from_slice(&api_version.to_be_bytes());
    request.extend_from_slice(&correlation_id.to_be_bytes());
    put_string(&mut request, CLIENT_ID);
    request.extend_from_slice(body);
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    connection.write_all(&frame)?;
    connection.flush()?;

    let mut size = [0u8; 4];
    connection.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > MAX_RESPONSE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("response of {size} bytes: not a Kafka broker?"),
        ));
    }
    let mut response = vec![0u8; size as usize];
    connection.read_exact(&mut response)?;
    let answered = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
    if answered != correlation_id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "response does not match the request: not a Kafka broker?",
        ));
    }
    Ok(response[4..].to_vec())
}

fn decode_api_versions(response: &[u8]) -> io::Result<Vec<ApiVersion>> {
    let mut reader = Cursor::new(response);
    let error_code = reader.i16()?;
    let count = reader.i32()?;
    // UNSUPPORTED_VERSION (35) still carries the table (KIP-511), so read it in both cases.
    if error_code != 0 && error_code != 35 {
        return Err(io::Error::other(format!("ApiVersions failed with error code {error_code}")));
    }
    let mut versions = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count.max(0) {
        versions.push(ApiVersion { key: reader.i16()?, min: reader.i16()?, max: reader.i16()? });
    }
    Ok(versions)
}

fn put_string(buffer: &mut Vec<u8>, text: &str) {
    buffer.extend_from_slice(&(text.len() as i16).to_be_bytes());
    buffer.extend_from_slice(text.as_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "truncated Kafka response"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn i16(&mut self) -> io::Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> io::Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.i16()?;
        let bytes = self.take(len.max(0) as usize)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The APIs replication relies on, at the versions Apache Kafka 2.8 offers them. Metadata v11,
/// CreateTopics v7 and DescribeCluster v0 first shipped in 2.8.0 (KIP-516 topic IDs, KIP-700
/// DescribeCluster), so a broker offering all of these speaks at least 2.8's protocol. Used to
/// tell whether a broker offers "the APIs of Kafka ≥ 2.8".
pub const KAFKA_2_8_APIS: &[(i16, &str, i16)] = &[
    (0, "Produce", 8),
    (1, "Fetch", 12),
    (2, "ListOffsets", 5),
    (3, "Metadata", 11),
    (8, "OffsetCommit", 8),
    (9, "OffsetFetch", 7),
    (10, "FindCoordinator", 3),
    (11, "JoinGroup", 7),
    (15, "DescribeGroups", 5),
    (18, "ApiVersions", 3),
    (19, "CreateTopics", 7),
    (32, "DescribeConfigs", 3),
    (60, "DescribeCluster", 0),
];

/// Which of [`KAFKA_2_8_APIS`] the broker lacks or offers only at a lower version.
pub fn missing_for_kafka_2_8(offered: &[ApiVersion]) -> Vec<String> {
    KAFKA_2_8_APIS
        .iter()
        .filter_map(|(key, name, needed)| match offered.iter().find(|api| api.key == *key) {
            None => Some(format!("{name} (key {key}) not offered")),
            Some(api) if api.max < *needed => Some(format!("{name} v{} < v{needed}", api.max)),
            Some(_) => None,
        })
        .collect()
}

/// What connecting to one bootstrap address showed, step by step: TCP (with its latency), TLS
/// (when the cluster uses it) and ApiVersions. A later step is `None` when an earlier one failed.
pub struct AddressProbe {
    pub address: String,
    pub tcp: Result<Duration, String>,
    pub tls: Option<Result<TlsPeer, String>>,
    pub api: Option<Result<Vec<ApiVersion>, String>>,
}

/// Connects to `address` (resolved to `ips`), through TLS when `tls` is given, and asks for its
/// API versions. Blocking.
pub fn probe_address(
    address: String,
    ips: &[SocketAddr],
    tls: Option<&crate::plan::Tls>,
    timeout: Duration,
) -> AddressProbe {
    let started = std::time::Instant::now();
    let mut outcome = AddressProbe { address, tcp: Err(String::new()), tls: None, api: None };
    let stream = match connect_tcp(ips, timeout) {
        Ok(stream) => stream,
        Err(error) => {
            outcome.tcp = Err(error.to_string());
            return outcome;
        }
    };
    outcome.tcp = Ok(started.elapsed());
    let mut connection = match tls {
        Some(tls) => {
            match tls_handshake(stream, host_of(&outcome.address), tls.ca_file.as_deref(), tls.verify_hostname) {
                Ok((connection, peer)) => {
                    outcome.tls = Some(Ok(peer));
                    connection
                }
                Err(error) => {
                    outcome.tls = Some(Err(error));
                    return outcome;
                }
            }
        }
        None => Connection::Plain(stream),
    };
    outcome.api = Some(api_versions(&mut connection).map_err(|error| error.to_string()));
    outcome
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map(|(host, _)| host).unwrap_or(address);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Whether any of `cluster`'s replicator bootstrap brokers answers ApiVersions (through TLS when
/// the cluster uses it) within `timeout`: KafkaClusterPingSuccessCount's 1 or 0. A fresh
/// connection each time, so no client's metadata cache can make a dead cluster look alive.
pub fn ping(cluster: &crate::plan::Cluster, timeout: Duration) -> bool {
    cluster.replicator_bootstrap_servers.iter().any(|server| {
        let Ok(addresses) = std::net::ToSocketAddrs::to_socket_addrs(server.as_str()) else { return false };
        let addresses: Vec<SocketAddr> = addresses.collect();
        matches!(probe_address(server.clone(), &addresses, cluster.tls.as_ref(), timeout).api, Some(Ok(_)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_api_versions_v0_response() {
        let mut response = Vec::new();
        response.extend_from_slice(&0i16.to_be_bytes());
        response.extend_from_slice(&2i32.to_be_bytes());
        for (key, min, max) in [(0i16, 0i16, 9i16), (18, 0, 3)] {
            response.extend_from_slice(&key.to_be_bytes());
            response.extend_from_slice(&min.to_be_bytes());
            response.extend_from_slice(&max.to_be_bytes());
        }
        let versions = decode_api_versions(&response).unwrap();
        assert_eq!(versions, vec![ApiVersion { key: 0, min: 0, max: 9 }, ApiVersion { key: 18, min: 0, max: 3 }]);
    }

    #[test]
    fn a_truncated_response_is_an_error_not_a_panic() {
        assert!(decode_api_versions(&[0, 0, 0, 0, 0, 5, 0]).is_err());
    }

    #[test]
    fn reports_apis_below_2_8() {
        let offered = vec![ApiVersion { key: 0, min: 0, max: 7 }, ApiVersion { key: 1, min: 0, max: 12 }];
        let missing = missing_for_kafka_2_8(&offered);
        assert!(missing.contains(&"Produce v7 < v8".to_string()), "{missing:?}");
        assert!(missing.iter().any(|m| m.starts_with("Metadata (key 3) not offered")), "{missing:?}");
        assert!(!missing.iter().any(|m| m.starts_with("Fetch")), "{missing:?}");
    }
}
