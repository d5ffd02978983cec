//! The provenance header every copy carries, and the reading of it (a leaf: the engine writes it,
//! the offset inspection and `verify` read it).
//!
//! `migrate.origin: <origin cluster ID>:<origin offset>` maps every copy to its original, in both
//! directions: it keeps replication loop-free (a record that came from a cluster is never copied
//! back to it) and lets a flow resume exactly where it stopped. The earlier format (ID in
//! `migrate.origin`, the offset in `migrate.offset`) is still read, never written.

/// The header a copy carries: `<origin cluster ID>:<offset on the origin>`.
pub const HEADER_ORIGIN: &str = "migrate.origin";
/// The earlier format's second header (the offset), with `migrate.origin` holding the cluster ID
/// alone: still read, never written.
pub const HEADER_OFFSET: &str = "migrate.offset";

/// The `migrate.origin` value for the record at `offset` of cluster `origin_id`, written into
/// `buffer` (reused across records).
pub fn provenance_value<'b>(buffer: &'b mut Vec<u8>, origin_id: &str, offset: i64) -> &'b [u8] {
    use std::io::Write;
    buffer.clear();
    buffer.extend_from_slice(origin_id.as_bytes());
    buffer.push(b':');
    // Writing to a Vec cannot fail.
    let _ = write!(buffer, "{offset}");
    buffer
}

/// Whether a `migrate.origin` value names `cluster_id` (in either format).
pub fn names_cluster(value: &[u8], cluster_id: &str) -> bool {
    let id = cluster_id.as_bytes();
    value == id
        || (value.len() > id.len() + 1
            && value.starts_with(id)
            && value[id.len()] == b':'
            && value[id.len() + 1..].iter().all(u8::is_ascii_digit))
}

/// The (origin cluster ID, origin offset) a copy carries, in either format; `None` for a record
/// that is not a copy (or whose provenance does not parse).
pub fn provenance<M: rdkafka::message::Message>(message: &M) -> Option<(String, i64)> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    let mut origin = None;
    let mut legacy_offset = None;
    for header in headers.iter() {
        match header.key {
            HEADER_ORIGIN => origin = header.value.and_then(|v| std::str::from_utf8(v).ok()),
            HEADER_OFFSET => legacy_offset = header.value.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()),
            _ => {}
        }
    }
    let origin = origin?;
    if let Some(offset) = legacy_offset {
        return Some((origin.to_string(), offset));
    }
    let (id, offset) = origin.rsplit_once(':')?;
    Some((id.to_string(), offset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    use super::*;

    fn message(headers: &[(&str, &str)]) -> OwnedMessage {
        let headers = headers
            .iter()
            .fold(OwnedHeaders::new(), |all, (key, value)| all.insert(Header { key, value: Some(*value) }));
        OwnedMessage::new(Some(b"v".to_vec()), None, "t".into(), Timestamp::NotAvailable, 0, 7, Some(headers))
    }

    #[test]
    fn one_header_carries_the_origin_cluster_and_offset() {
        let mut buffer = Vec::new();
        assert_eq!(provenance_value(&mut buffer, "lkc-1:x", 1_234_567_890_123), b"lkc-1:x:1234567890123");
        // The buffer is rewritten, not appended to.
        assert_eq!(provenance_value(&mut buffer, "abc", 0), b"abc:0");
        let copy = message(&[("trace", "1"), (HEADER_ORIGIN, "lkc-1:x:42")]);
        assert_eq!(provenance(&copy), Some(("lkc-1:x".to_string(), 42)));
    }

    #[test]
    fn copies_in_the_earlier_two_header_format_are_still_read() {
        let copy = message(&[(HEADER_ORIGIN, "src-cluster"), (HEADER_OFFSET, "9")]);
        assert_eq!(provenance(&copy), Some(("src-cluster".to_string(), 9)));
        // An ID that itself ends in `:<digits>` is taken whole when the offset header is there.
        let copy = message(&[(HEADER_ORIGIN, "id:5"), (HEADER_OFFSET, "9")]);
        assert_eq!(provenance(&copy), Some(("id:5".to_string(), 9)));
    }

    #[test]
    fn a_native_record_or_a_malformed_header_has_no_provenance() {
        assert_eq!(provenance(&message(&[("trace", "1")])), None);
        assert_eq!(provenance(&message(&[(HEADER_ORIGIN, "no-offset")])), None);
        assert_eq!(provenance(&message(&[(HEADER_ORIGIN, "id:-x")])), None);
    }

    #[test]
    fn loop_prevention_recognises_the_destination_in_either_format() {
        assert!(names_cluster(b"dest:17", "dest"));
        assert!(names_cluster(b"dest", "dest"));
        assert!(!names_cluster(b"dest2:17", "dest"));
        assert!(!names_cluster(b"dest:", "dest"));
        assert!(!names_cluster(b"dest:1x", "dest"));
        assert!(!names_cluster(b"other:17", "dest"));
        assert!(!names_cluster(b"des", "dest"));
    }
}
