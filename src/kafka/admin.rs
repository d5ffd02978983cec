//! Admin operations rdkafka's safe API lacks, through rdkafka-sys: DescribeAcls and the cluster ID.
//!
//! This is the project's only `unsafe` code. Each call follows librdkafka's documented ownership
//! rules (see `rdkafka.h`): objects we create with `_new` we `_destroy`; everything borrowed from a
//! result event lives until that event is destroyed, so it is copied into owned Rust values first.
//! All functions block and must be called from `spawn_blocking`.

use std::ffi::{CStr, c_char};
use std::ptr;
use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka_sys as sys;
use rdkafka_sys::types::RDKafkaRespErr;

use crate::preflight::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the broker has no authorizer (security disabled): {0}")]
    NoAuthorizer(String),
    #[error("{operation} failed: {message}")]
    Failed { operation: &'static str, message: String },
    #[error("{operation} timed out after {seconds} s")]
    TimedOut { operation: &'static str, seconds: u64 },
}

/// Reads the cluster ID the brokers report in their Metadata responses (`None` if they send none).
pub fn cluster_id<C: ClientContext>(client: &Client<C>, timeout: Duration) -> Option<String> {
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `native_ptr` is valid while `client` lives. rd_kafka_clusterid returns NULL or a
    // NUL-terminated string we own and must release with rd_kafka_mem_free, which we do after
    // copying it.
    unsafe {
        let raw = sys::rd_kafka_clusterid(client.native_ptr(), timeout_ms);
        if raw.is_null() {
            return None;
        }
        let id = CStr::from_ptr(raw).to_string_lossy().into_owned();
        sys::rd_kafka_mem_free(client.native_ptr(), raw.cast());
        Some(id)
    }
}

/// Lists every ACL binding the cluster reports (a match-any filter).
pub fn describe_acls<C: ClientContext>(client: &Client<C>, timeout: Duration) -> Result<Vec<AclBinding>, AdminError> {
    const OPERATION: &str = "DescribeAcls";
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: every pointer below is either created here and destroyed before returning, or
    // borrowed from `event`, which is destroyed only after the bindings were copied out. The
    // filter's string arguments are NULL, which librdkafka documents as "match any".
    unsafe {
        let rk = client.native_ptr();
        let filter = sys::rd_kafka_AclBindingFilter_new(
            sys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
            ptr::null(),
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
            ptr::null(),
            ptr::null(),
            sys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
            sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if filter.is_null() {
            return Err(AdminError::Failed {
                operation: OPERATION,
                message: CStr::from_ptr(errstr.as_ptr()).to_string_lossy().into_owned(),
            });
        }
        let options = sys::rd_kafka_AdminOptions_new(rk, sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
        sys::rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr.as_mut_ptr(), errstr.len());
        let queue = sys::rd_kafka_queue_new(rk);
        sys::rd_kafka_DescribeAcls(rk, filter, options, queue);
        // The request holds its own copies of the filter and options.
        sys::rd_kafka_AclBinding_destroy(filter);
        sys::rd_kafka_AdminOptions_destroy(options);

        // Allow librdkafka's own request timeout to fire first, so we get its error, not ours.
        let event = sys::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(2_000));
        let result = if event.is_null() {
            Err(AdminError::TimedOut { operation: OPERATION, seconds: timeout.as_secs() })
        } else {
            let outcome = read_describe_acls_event(event);
            sys::rd_kafka_event_destroy(event);
            outcome
        };
        sys::rd_kafka_queue_destroy(queue);
        result
    }
}

/// Copies the bindings out of a DescribeAcls result event.
///
/// # Safety
/// `event` must be a live event from `rd_kafka_DescribeAcls`'s queue.
unsafe fn read_describe_acls_event(event: *mut sys::rd_kafka_event_t) -> Result<Vec<AclBinding>, AdminError> {
    const OPERATION: &str = "DescribeAcls";
    // SAFETY: `event` is live (caller's contract); borrowed strings are copied before return.
    unsafe {
        let code = sys::rd_kafka_event_error(event);
        if code != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = text(sys::rd_kafka_event_error_string(event));
            return Err(if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_SECURITY_DISABLED {
                AdminError::NoAuthorizer(message)
            } else {
                AdminError::Failed { operation: OPERATION, message }
            });
        }
        let result = sys::rd_kafka_event_DescribeAcls_result(event);
        if result.is_null() {
            return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
        }
        let mut count = 0usize;
        let acls = sys::rd_kafka_DescribeAcls_result_acls(result, &mut count);
        let mut bindings = Vec::with_capacity(count);
        for i in 0..count {
            let acl = *acls.add(i);
            bindings.push(AclBinding {
                resource_type: resource_type(sys::rd_kafka_AclBinding_restype(acl)),
                resource_name: text(sys::rd_kafka_AclBinding_name(acl)),
                pattern_type: pattern_type(sys::rd_kafka_AclBinding_resource_pattern_type(acl)),
                principal: text(sys::rd_kafka_AclBinding_principal(acl)),
                host: text(sys::rd_kafka_AclBinding_host(acl)),
                operation: operation(sys::rd_kafka_AclBinding_operation(acl)),
                permission: permission(sys::rd_kafka_AclBinding_permission_type(acl)),
            });
        }
        Ok(bindings)
    }
}

/// Copies a borrowed C string (NULL → empty).
///
/// # Safety
/// `raw` must be NULL or a valid NUL-terminated string.
unsafe fn text(raw: *const c_char) -> String {
    if raw.is_null() {
        String::new()
    } else {
        // SAFETY: non-null and NUL-terminated per the caller's contract.
        unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned()
    }
}

fn resource_type(value: sys::rd_kafka_ResourceType_t) -> ResourceType {
    use sys::rd_kafka_ResourceType_t::*;
    match value {
        RD_KAFKA_RESOURCE_TOPIC => ResourceType::Topic,
        RD_KAFKA_RESOURCE_GROUP => ResourceType::Group,
        // librdkafka names Kafka's CLUSTER resource (wire value 4) "BROKER".
        RD_KAFKA_RESOURCE_BROKER => ResourceType::Cluster,
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => ResourceType::TransactionalId,
        _ => ResourceType::Other,
    }
}

fn pattern_type(value: sys::rd_kafka_ResourcePatternType_t) -> PatternType {
    use sys::rd_kafka_ResourcePatternType_t::*;
    match value {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => PatternType::Literal,
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => PatternType::Prefixed,
        _ => PatternType::Other,
    }
}

fn operation(value: sys::rd_kafka_AclOperation_t) -> AclOperation {
    use sys::rd_kafka_AclOperation_t::*;
    match value {
        RD_KAFKA_ACL_OPERATION_ALL => AclOperation::All,
        RD_KAFKA_ACL_OPERATION_READ => AclOperation::Read,
        RD_KAFKA_ACL_OPERATION_WRITE => AclOperation::Write,
        RD_KAFKA_ACL_OPERATION_CREATE => AclOperation::Create,
        RD_KAFKA_ACL_OPERATION_DELETE => AclOperation::Delete,
        RD_KAFKA_ACL_OPERATION_ALTER => AclOperation::Alter,
        RD_KAFKA_ACL_OPERATION_DESCRIBE => AclOperation::Describe,
        RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION => AclOperation::ClusterAction,
        RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS => AclOperation::DescribeConfigs,
        RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS => AclOperation::AlterConfigs,
        RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE => AclOperation::IdempotentWrite,
        _ => AclOperation::Other,
    }
}

fn permission(value: sys::rd_kafka_AclPermissionType_t) -> AclPermission {
    use sys::rd_kafka_AclPermissionType_t::*;
    match value {
        RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => AclPermission::Allow,
        RD_KAFKA_ACL_PERMISSION_TYPE_DENY => AclPermission::Deny,
        _ => AclPermission::Other,
    }
}
