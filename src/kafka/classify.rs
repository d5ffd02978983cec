//! One answer to "is it worth trying again?" for a Kafka error, so every retry loop of the project
//! (the engine's sessions, the cutover's waits, preflight's login probe) draws the line in the same
//! place instead of matching messages of its own.
//!
//! *Retriable*: the same request, from the same client, may succeed later without anyone doing
//! anything (a leader moving, a broker restarting, a timeout, a full queue). *Fatal*: it will not
//! until something changes outside the request: a credential, an ACL, a broker version or
//! setting, the plan — or the client itself is unusable (fenced, librdkafka's fatal error) and
//! only a new one can go on.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Whether trying a failed Kafka request again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Retriable,
    Fatal,
}

/// The class of `error`: by its error code, or by what failed when it carries none (a client
/// that could not be configured or created is fatal; anything else is retriable).
pub fn classify(error: &KafkaError) -> ErrorClass {
    match error {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) | KafkaError::Nul(_) => ErrorClass::Fatal,
        KafkaError::MessageConsumptionFatal(_) => ErrorClass::Fatal,
        KafkaError::AdminOp(code) => classify_code(*code),
        other => other.rdkafka_error_code().map_or(ErrorClass::Retriable, classify_code),
    }
}

/// The class of a broker's or librdkafka's error code.
pub fn classify_code(code: RDKafkaErrorCode) -> ErrorClass {
    use RDKafkaErrorCode as Code;
    match code {
        // Who the client is: a wrong credential or mechanism, or TLS the broker refuses.
        Code::Authentication
        | Code::SaslAuthenticationFailed
        | Code::UnsupportedSASLMechanism
        | Code::IllegalSASLState
        | Code::SecurityDisabled
        // What it may do: a missing ACL.
        | Code::TopicAuthorizationFailed
        | Code::GroupAuthorizationFailed
        | Code::ClusterAuthorizationFailed
        | Code::TransactionalIdAuthorizationFailed
        | Code::DelegationTokenAuthorizationFailed
        // What the broker can do, or accepts.
        | Code::UnsupportedVersion
        | Code::UnsupportedFeature
        | Code::UnsupportedCompressionType
        | Code::InvalidConfig
        | Code::PolicyViolation
        | Code::InvalidRequest
        | Code::InvalidTopic
        | Code::InvalidPartitions
        | Code::InvalidReplicationFactor
        | Code::InvalidRecord
        | Code::MessageSizeTooLarge
        | Code::InvalidGroupId
        | Code::InconsistentGroupProtocol
        // A client that cannot go on: only a new one can.
        | Code::Fatal
        | Code::Fenced
        | Code::ProducerFenced
        | Code::InvalidProducerEpoch
        | Code::TransactionCoordinatorFenced
        | Code::FencedInstanceId
        | Code::OutOfOrderSequenceNumber => ErrorClass::Fatal,
        _ => ErrorClass::Retriable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_time_heals_is_retriable() {
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::NotCoordinator,
            RDKafkaErrorCode::CoordinatorLoadInProgress,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::OperationTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert_eq!(classify_code(code), ErrorClass::Retriable, "{code:?}");
        }
        assert_eq!(classify(&KafkaError::NoMessageReceived), ErrorClass::Retriable);
        assert_eq!(classify(&KafkaError::Canceled), ErrorClass::Retriable);
    }

    #[test]
    fn what_needs_someone_to_change_something_is_fatal() {
        for code in [
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::Authentication,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::GroupAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
            RDKafkaErrorCode::UnsupportedVersion,
            RDKafkaErrorCode::InvalidConfig,
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::Fatal,
        ] {
            assert_eq!(classify_code(code), ErrorClass::Fatal, "{code:?}");
        }
        // Wrapped the ways the clients report them.
        assert_eq!(classify(&KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed)), ErrorClass::Fatal);
        assert_eq!(classify(&KafkaError::AdminOp(RDKafkaErrorCode::ClusterAuthorizationFailed)), ErrorClass::Fatal);
        assert_eq!(classify(&KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)), ErrorClass::Retriable);
        assert_eq!(classify(&KafkaError::ClientCreation("no bootstrap".into())), ErrorClass::Fatal);
    }
}
