//! Admin operations rdkafka's safe API lacks, through rdkafka-sys: DescribeAcls, CreateAcls,
//! DeleteAcls, DescribeUserScramCredentials and the cluster ID; and the thread that answers a
//! client's MSK IAM token requests ([`TokenServer`]).
//!
//! This is the project's only `unsafe` code. Each call follows librdkafka's documented ownership
//! rules (see `rdkafka.h`): objects we create with `_new` we `_destroy`; everything borrowed from a
//! result event lives until that event is destroyed, so it is copied into owned Rust values first.
//! The admin functions block and must be called from `spawn_blocking`.

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka_sys as sys;
use rdkafka_sys::types::RDKafkaRespErr;

use crate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the broker has no authorizer (security disabled): {0}")]
    NoAuthorizer(String),
    /// The caller may not Describe the cluster, so DescribeAcls cannot answer (librdkafka hides
    /// that error; DescribeCluster's authorized operations show it): `allowed` lists what it may do.
    #[error(
        "Cluster authorization failed: the principal may not Describe the cluster (its operations there: {allowed})"
    )]
    ClusterDescribeDenied { allowed: String },
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
    let mut errstr = [0 as c_char; 512];
    // SAFETY: the filter is created here and destroyed once the request holds its own copy; its
    // string arguments are NULL, which librdkafka documents as "match any". The event handed to
    // the reader is live until `request` destroys it after the bindings were copied out.
    unsafe {
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
            return Err(AdminError::Failed { operation: OPERATION, message: text(errstr.as_ptr()) });
        }
        let outcome = request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            timeout,
            |rk, options, queue| sys::rd_kafka_DescribeAcls(rk, filter, options, queue),
            |event| read_describe_acls_event(event),
        );
        sys::rd_kafka_AclBinding_destroy(filter);
        outcome
    }
}

/// The operations the caller may perform on the cluster resource, as DescribeCluster reports
/// them (`include_authorized_operations`). A broker without an authorizer reports every one.
///
/// This tells the two cases an empty DescribeAcls answer hides apart: librdkafka drops the
/// top-level error of a DescribeAcls response, so a principal without Describe on the cluster
/// (CLUSTER_AUTHORIZATION_FAILED) and a cluster without an authorizer (SECURITY_DISABLED) both
/// arrive as "no ACLs".
pub fn cluster_authorized_operations<C: ClientContext>(
    client: &Client<C>,
    timeout: Duration,
) -> Result<Vec<AclOperation>, AdminError> {
    const OPERATION: &str = "DescribeCluster";
    // SAFETY: `request` owns the options and queue; the operations array is borrowed from the
    // event and copied out before `request` destroys it.
    unsafe {
        request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            timeout,
            |rk, options, queue| {
                let error = sys::rd_kafka_AdminOptions_set_include_authorized_operations(options, 1);
                if !error.is_null() {
                    sys::rd_kafka_error_destroy(error);
                }
                sys::rd_kafka_DescribeCluster(rk, options, queue)
            },
            |event| {
                let result = sys::rd_kafka_event_DescribeCluster_result(event);
                if result.is_null() {
                    return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
                }
                let mut count = 0usize;
                let operations = sys::rd_kafka_DescribeCluster_result_authorized_operations(result, &mut count);
                Ok((0..count).map(|i| operation(*operations.add(i))).collect())
            },
        )
    }
}

/// A consumer group as DescribeConsumerGroups reports it: librdkafka asks ConsumerGroupDescribe
/// (groups on the consumer protocol, KIP-848) and falls back to the classic DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Kafka's state name (`Stable`, `Empty`, `PreparingRebalance`, …; `Unknown` for a state
    /// librdkafka has no name for, such as the consumer protocol's `Assigning`).
    pub state: String,
    /// `classic`, `consumer` or `unknown`.
    pub protocol: String,
    /// Each member as `client.id@host (member id)`, with its `group.instance.id` when static.
    pub members: Vec<String>,
}

/// Describes `group`; `None` when the cluster has no such group.
///
/// The classic DescribeGroups alone answers a group on the consumer protocol as "Dead" with no
/// members while it consumes (measured on Kafka 4.1.1): a fence reading that would let an app run
/// on both clusters.
pub fn describe_group<C: ClientContext>(
    client: &Client<C>,
    group: &str,
    timeout: Duration,
) -> Result<Option<GroupDescription>, AdminError> {
    const OPERATION: &str = "DescribeConsumerGroups";
    let name = CString::new(group)
        .map_err(|_| AdminError::Failed { operation: OPERATION, message: format!("a NUL in group `{group}`") })?;
    let mut names = [name.as_ptr()];
    // SAFETY: the group name outlives the call, which copies it; everything read from the event is
    // copied into owned values before `request` destroys it.
    unsafe {
        request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            timeout,
            |rk, options, queue| sys::rd_kafka_DescribeConsumerGroups(rk, names.as_mut_ptr(), 1, options, queue),
            |event| {
                let result = sys::rd_kafka_event_DescribeConsumerGroups_result(event);
                if result.is_null() {
                    return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
                }
                let mut count = 0usize;
                let groups = sys::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
                if count == 0 {
                    return Ok(None);
                }
                let description = *groups;
                let error = sys::rd_kafka_ConsumerGroupDescription_error(description);
                if !error.is_null() {
                    if sys::rd_kafka_error_code(error) == RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND {
                        return Ok(None);
                    }
                    return Err(AdminError::Failed {
                        operation: OPERATION,
                        message: format!("group `{group}`: {}", text(sys::rd_kafka_error_string(error))),
                    });
                }
                let state = text(sys::rd_kafka_consumer_group_state_name(
                    sys::rd_kafka_ConsumerGroupDescription_state(description),
                ));
                let protocol = text(sys::rd_kafka_consumer_group_type_name(
                    sys::rd_kafka_ConsumerGroupDescription_type(description),
                ))
                .to_ascii_lowercase();
                let members = (0..sys::rd_kafka_ConsumerGroupDescription_member_count(description))
                    .map(|i| {
                        let member = sys::rd_kafka_ConsumerGroupDescription_member(description, i);
                        let instance = text(sys::rd_kafka_MemberDescription_group_instance_id(member));
                        let instance =
                            if instance.is_empty() { String::new() } else { format!(", instance {instance}") };
                        format!(
                            "{}@{} ({}{instance})",
                            text(sys::rd_kafka_MemberDescription_client_id(member)),
                            text(sys::rd_kafka_MemberDescription_host(member)).trim_start_matches('/'),
                            text(sys::rd_kafka_MemberDescription_consumer_id(member)),
                        )
                    })
                    .collect();
                Ok(Some(GroupDescription { state, protocol, members }))
            },
        )
    }
}

/// One consumer group as ListConsumerGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group: String,
    /// Kafka's state name (`Stable`, `Empty`, …; `Unknown` for one librdkafka has no name for).
    pub state: String,
    /// `classic`, `consumer` or `unknown`.
    pub protocol: String,
}

/// Every consumer group of the cluster, classic and consumer protocol, with its state.
///
/// ListConsumerGroups goes to every broker, not to a group's coordinator: unlike
/// [`describe_group`], librdkafka 2.12 sends it through no coordinator lookup, whose error path
/// aborts the process when the coordinator's connection drops as the request is sent
/// (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0'`, librdkafka issue 4605;
/// seen here with `kill -9` of a broker under the engine). A broker that does not answer makes the
/// listing fail: a partial list could hide a group.
pub fn list_consumer_groups<C: ClientContext>(
    client: &Client<C>,
    timeout: Duration,
) -> Result<Vec<GroupListing>, AdminError> {
    const OPERATION: &str = "ListConsumerGroups";
    // SAFETY: everything read from the event is copied into owned values before `request`
    // destroys it.
    unsafe {
        request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
            timeout,
            |rk, options, queue| sys::rd_kafka_ListConsumerGroups(rk, options, queue),
            |event| {
                let result = sys::rd_kafka_event_ListConsumerGroups_result(event);
                if result.is_null() {
                    return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
                }
                let mut error_count = 0usize;
                let errors = sys::rd_kafka_ListConsumerGroups_result_errors(result, &mut error_count);
                if error_count > 0 {
                    return Err(AdminError::Failed {
                        operation: OPERATION,
                        message: text(sys::rd_kafka_error_string(*errors)),
                    });
                }
                let mut count = 0usize;
                let listings = sys::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
                Ok((0..count)
                    .map(|i| {
                        let listing = *listings.add(i);
                        GroupListing {
                            group: text(sys::rd_kafka_ConsumerGroupListing_group_id(listing)),
                            state: text(sys::rd_kafka_consumer_group_state_name(
                                sys::rd_kafka_ConsumerGroupListing_state(listing),
                            )),
                            protocol: text(sys::rd_kafka_consumer_group_type_name(
                                sys::rd_kafka_ConsumerGroupListing_type(listing),
                            ))
                            .to_ascii_lowercase(),
                        }
                    })
                    .collect())
            },
        )
    }
}

/// Creates `bindings` (LITERAL or PREFIXED patterns, ALLOW or DENY). Kafka applies each binding on
/// its own: on failure the first binding it refused is named, and the others may exist.
pub fn create_acls<C: ClientContext>(
    client: &Client<C>,
    bindings: &[AclBinding],
    timeout: Duration,
) -> Result<(), AdminError> {
    const OPERATION: &str = "CreateAcls";
    if bindings.is_empty() {
        return Ok(());
    }
    let mut native = Vec::with_capacity(bindings.len());
    // SAFETY: every binding created here is destroyed before returning, after the request took
    // its own copies; the C strings outlive the `_new` calls that copy them.
    unsafe {
        let mut outcome = Ok(());
        for binding in bindings {
            match new_binding(binding) {
                Ok(created) => native.push(created),
                Err(message) => {
                    outcome =
                        Err(AdminError::Failed { operation: OPERATION, message: format!("{binding}: {message}") });
                    break;
                }
            }
        }
        if outcome.is_ok() {
            outcome = request(
                client,
                OPERATION,
                sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
                timeout,
                |rk, options, queue| sys::rd_kafka_CreateAcls(rk, native.as_mut_ptr(), native.len(), options, queue),
                |event| read_create_acls_event(event, bindings),
            );
        }
        for created in native {
            sys::rd_kafka_AclBinding_destroy(created);
        }
        outcome
    }
}

/// Deletes the bindings equal to `binding` (same resource, pattern, principal, host, operation and
/// permission); returns how many the cluster deleted.
pub fn delete_acl<C: ClientContext>(
    client: &Client<C>,
    binding: &AclBinding,
    timeout: Duration,
) -> Result<usize, AdminError> {
    const OPERATION: &str = "DeleteAcls";
    // SAFETY: a filter is an AclBinding in librdkafka's API; it is destroyed after the request
    // took its own copy.
    unsafe {
        let mut filter = new_binding(binding)
            .map_err(|message| AdminError::Failed { operation: OPERATION, message: format!("{binding}: {message}") })?;
        let outcome = request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
            timeout,
            |rk, options, queue| sys::rd_kafka_DeleteAcls(rk, &mut filter, 1, options, queue),
            |event| read_delete_acls_event(event),
        );
        sys::rd_kafka_AclBinding_destroy(filter);
        outcome
    }
}

/// The users that hold at least one SCRAM credential on the cluster (DescribeUserScramCredentials
/// for every user; needs Describe on the cluster). Passwords are never returned by Kafka, only
/// the mechanisms, so nothing secret crosses here.
pub fn scram_users<C: ClientContext>(
    client: &Client<C>,
    timeout: Duration,
) -> Result<std::collections::BTreeSet<String>, AdminError> {
    const OPERATION: &str = "DescribeUserScramCredentials";
    // SAFETY: a NULL user list with a count of 0 asks for every user (librdkafka's documented
    // form); the event is read by `read_scram_users_event` before `request` destroys it.
    unsafe {
        request(
            client,
            OPERATION,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS,
            timeout,
            |rk, options, queue| sys::rd_kafka_DescribeUserScramCredentials(rk, ptr::null_mut(), 0, options, queue),
            |event| read_scram_users_event(event),
        )
    }
}

/// Copies the names of the users with credentials out of a DescribeUserScramCredentials event.
///
/// # Safety
/// `event` must be a live event from `rd_kafka_DescribeUserScramCredentials`'s queue.
unsafe fn read_scram_users_event(
    event: *mut sys::rd_kafka_event_t,
) -> Result<std::collections::BTreeSet<String>, AdminError> {
    const OPERATION: &str = "DescribeUserScramCredentials";
    // SAFETY: `event` is live (caller's contract); borrowed strings are copied before return.
    unsafe {
        let result = sys::rd_kafka_event_DescribeUserScramCredentials_result(event);
        if result.is_null() {
            return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
        }
        let mut count = 0usize;
        let descriptions = sys::rd_kafka_DescribeUserScramCredentials_result_descriptions(result, &mut count);
        let mut users = std::collections::BTreeSet::new();
        for i in 0..count {
            let description = *descriptions.add(i);
            let error = sys::rd_kafka_UserScramCredentialsDescription_error(description);
            if !error.is_null() && sys::rd_kafka_error_code(error) != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                // A user without credentials answers RESOURCE_NOT_FOUND: it is simply absent.
                if sys::rd_kafka_error_code(error) == RDKafkaRespErr::RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND {
                    continue;
                }
                return Err(AdminError::Failed {
                    operation: OPERATION,
                    message: text(sys::rd_kafka_error_string(error)),
                });
            }
            if sys::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo_count(description) > 0 {
                users.insert(text(sys::rd_kafka_UserScramCredentialsDescription_user(description)));
            }
        }
        Ok(users)
    }
}

/// Sends one admin request on a queue of its own and hands its result event to `read`.
///
/// # Safety
/// `send` must enqueue exactly one admin request on the queue it is given; `read` must copy what
/// it needs out of the event, which is destroyed when it returns.
unsafe fn request<C: ClientContext, T>(
    client: &Client<C>,
    operation: &'static str,
    kind: sys::rd_kafka_admin_op_t,
    timeout: Duration,
    send: impl FnOnce(*mut sys::rd_kafka_t, *mut sys::rd_kafka_AdminOptions_t, *mut sys::rd_kafka_queue_t),
    read: impl FnOnce(*mut sys::rd_kafka_event_t) -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `native_ptr` is valid while `client` lives; the options and the queue are created
    // here and destroyed before returning (the request holds its own copy of the options); the
    // event is destroyed after `read` copied it out (the caller's contract).
    unsafe {
        let rk = client.native_ptr();
        let options = sys::rd_kafka_AdminOptions_new(rk, kind);
        sys::rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr.as_mut_ptr(), errstr.len());
        let queue = sys::rd_kafka_queue_new(rk);
        send(rk, options, queue);
        sys::rd_kafka_AdminOptions_destroy(options);
        // Allow librdkafka's own request timeout to fire first, so we get its error, not ours.
        let event = sys::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(2_000));
        let result = if event.is_null() {
            Err(AdminError::TimedOut { operation, seconds: timeout.as_secs() })
        } else {
            let code = sys::rd_kafka_event_error(event);
            let outcome = if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                read(event)
            } else {
                let message = text(sys::rd_kafka_event_error_string(event));
                Err(if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_SECURITY_DISABLED {
                    AdminError::NoAuthorizer(message)
                } else {
                    AdminError::Failed { operation, message }
                })
            };
            sys::rd_kafka_event_destroy(event);
            outcome
        };
        sys::rd_kafka_queue_destroy(queue);
        result
    }
}

/// A native binding (or, with the same fields, a filter matching exactly it).
///
/// # Safety
/// The caller destroys the returned binding with `rd_kafka_AclBinding_destroy`.
unsafe fn new_binding(binding: &AclBinding) -> Result<*mut sys::rd_kafka_AclBinding_t, String> {
    let name = CString::new(binding.resource_name.as_str()).map_err(|_| "a NUL in the resource name")?;
    let principal = CString::new(binding.principal.as_str()).map_err(|_| "a NUL in the principal")?;
    let host = CString::new(binding.host.as_str()).map_err(|_| "a NUL in the host")?;
    let (Some(restype), Some(pattern), Some(operation), Some(permission)) = (
        native_resource_type(binding.resource_type),
        native_pattern_type(binding.pattern_type),
        native_operation(binding.operation),
        native_permission(binding.permission),
    ) else {
        return Err("an unknown resource, pattern, operation or permission type".into());
    };
    let mut errstr = [0 as c_char; 512];
    // SAFETY: the strings are valid NUL-terminated C strings for the duration of the call, which
    // copies them.
    unsafe {
        let created = sys::rd_kafka_AclBinding_new(
            restype,
            name.as_ptr(),
            pattern,
            principal.as_ptr(),
            host.as_ptr(),
            operation,
            permission,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if created.is_null() { Err(text(errstr.as_ptr())) } else { Ok(created) }
    }
}

/// The first per-binding error of a CreateAcls result, naming its binding.
///
/// # Safety
/// `event` must be a live event from `rd_kafka_CreateAcls`'s queue.
unsafe fn read_create_acls_event(event: *mut sys::rd_kafka_event_t, bindings: &[AclBinding]) -> Result<(), AdminError> {
    const OPERATION: &str = "CreateAcls";
    // SAFETY: `event` is live (caller's contract); its results are read before it is destroyed.
    unsafe {
        let result = sys::rd_kafka_event_CreateAcls_result(event);
        if result.is_null() {
            return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
        }
        let mut count = 0usize;
        let results = sys::rd_kafka_CreateAcls_result_acls(result, &mut count);
        for i in 0..count {
            let error = sys::rd_kafka_acl_result_error(*results.add(i));
            if !error.is_null() {
                let binding = bindings.get(i).map(|b| b.to_string()).unwrap_or_default();
                return Err(AdminError::Failed {
                    operation: OPERATION,
                    message: format!("{binding}: {}", text(sys::rd_kafka_error_string(error))),
                });
            }
        }
        Ok(())
    }
}

/// How many bindings a DeleteAcls result says were deleted.
///
/// # Safety
/// `event` must be a live event from `rd_kafka_DeleteAcls`'s queue.
unsafe fn read_delete_acls_event(event: *mut sys::rd_kafka_event_t) -> Result<usize, AdminError> {
    const OPERATION: &str = "DeleteAcls";
    // SAFETY: `event` is live (caller's contract); its responses are read before it is destroyed.
    unsafe {
        let result = sys::rd_kafka_event_DeleteAcls_result(event);
        if result.is_null() {
            return Err(AdminError::Failed { operation: OPERATION, message: "unexpected event type".into() });
        }
        let mut count = 0usize;
        let responses = sys::rd_kafka_DeleteAcls_result_responses(result, &mut count);
        let mut deleted = 0;
        for i in 0..count {
            let response = *responses.add(i);
            let error = sys::rd_kafka_DeleteAcls_result_response_error(response);
            if !error.is_null() {
                return Err(AdminError::Failed {
                    operation: OPERATION,
                    message: text(sys::rd_kafka_error_string(error)),
                });
            }
            let mut matching = 0usize;
            sys::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut matching);
            deleted += matching;
        }
        Ok(deleted)
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

fn native_resource_type(value: ResourceType) -> Option<sys::rd_kafka_ResourceType_t> {
    use sys::rd_kafka_ResourceType_t::*;
    Some(match value {
        ResourceType::Topic => RD_KAFKA_RESOURCE_TOPIC,
        ResourceType::Group => RD_KAFKA_RESOURCE_GROUP,
        ResourceType::Cluster => RD_KAFKA_RESOURCE_BROKER,
        ResourceType::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceType::Other => return None,
    })
}

fn native_pattern_type(value: PatternType) -> Option<sys::rd_kafka_ResourcePatternType_t> {
    use sys::rd_kafka_ResourcePatternType_t::*;
    Some(match value {
        PatternType::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        PatternType::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        PatternType::Other => return None,
    })
}

fn native_operation(value: AclOperation) -> Option<sys::rd_kafka_AclOperation_t> {
    use sys::rd_kafka_AclOperation_t::*;
    Some(match value {
        AclOperation::All => RD_KAFKA_ACL_OPERATION_ALL,
        AclOperation::Read => RD_KAFKA_ACL_OPERATION_READ,
        AclOperation::Write => RD_KAFKA_ACL_OPERATION_WRITE,
        AclOperation::Create => RD_KAFKA_ACL_OPERATION_CREATE,
        AclOperation::Delete => RD_KAFKA_ACL_OPERATION_DELETE,
        AclOperation::Alter => RD_KAFKA_ACL_OPERATION_ALTER,
        AclOperation::Describe => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        AclOperation::ClusterAction => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        AclOperation::DescribeConfigs => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        AclOperation::AlterConfigs => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        AclOperation::IdempotentWrite => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        AclOperation::Other => return None,
    })
}

fn native_permission(value: AclPermission) -> Option<sys::rd_kafka_AclPermissionType_t> {
    use sys::rd_kafka_AclPermissionType_t::*;
    Some(match value {
        AclPermission::Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        AclPermission::Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        AclPermission::Other => return None,
    })
}

/// Serves one client's OAUTHBEARER token requests (AWS_MSK_IAM) on a thread of its own, whether
/// or not anything polls the client: librdkafka puts its requests — one when the client starts,
/// then one at 80 % of each token's lifetime — on the client's SASL queue (the client must be
/// created with `enable_sasl_queue=true`), and this thread answers them with a fresh token.
///
/// rust-rdkafka answers them only while the client's main queue is polled, which its admin client
/// never does, and librdkafka's own background thread (`rd_kafka_sasl_background_callbacks_enable`)
/// only calls a refresh callback set on the configuration before the client exists, which
/// rust-rdkafka does not let us set: hence this thread.
///
/// Must be dropped before the client: [`super::Served`] holds both in that order.
pub(super) struct TokenServer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The client and its SASL queue, moved to the token server's thread.
struct SaslQueue {
    client: *mut sys::rd_kafka_t,
    queue: *mut sys::rd_kafka_queue_t,
}

// SAFETY: librdkafka's client handle and queue handles are thread-safe (rdkafka.h: "all APIs are
// thread-safe" unless stated otherwise), and `TokenServer`'s owner keeps the client alive until
// the thread has been joined.
unsafe impl Send for SaslQueue {}

/// How long one wait on the SASL queue lasts: the bound on how long dropping a client waits.
const TOKEN_POLL: Duration = Duration::from_millis(100);

impl TokenServer {
    pub(super) fn start<C: ClientContext>(
        client: &Client<C>,
        tokens: std::sync::Arc<super::iam::IamTokens>,
    ) -> Result<Self, String> {
        // SAFETY: `native_ptr` is valid while `client` lives. rd_kafka_queue_get_sasl returns a
        // new reference (or NULL when no SASL queue was enabled), released by the thread with
        // rd_kafka_queue_destroy before it ends, which is before the client is destroyed.
        let queue = unsafe { sys::rd_kafka_queue_get_sasl(client.native_ptr()) };
        if queue.is_null() {
            return Err("the client has no SASL queue (enable_sasl_queue is not set)".into());
        }
        let sasl = SaslQueue { client: client.native_ptr(), queue };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("msk-iam-tokens".into())
            .spawn(move || serve_tokens(sasl, &tokens, &stopping))
            .map_err(|e| format!("cannot start the IAM token thread: {e}"))?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_tokens(sasl: SaslQueue, tokens: &super::iam::IamTokens, stop: &std::sync::atomic::AtomicBool) {
    let poll_ms = TOKEN_POLL.as_millis() as i32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the queue reference is ours until the rd_kafka_queue_destroy below; an event it
        // returns is ours and destroyed right after reading its type.
        let event = unsafe { sys::rd_kafka_queue_poll(sasl.queue, poll_ms) };
        if event.is_null() {
            continue;
        }
        // SAFETY: `event` is a live event we own (see above).
        let kind = unsafe { sys::rd_kafka_event_type(event) };
        // SAFETY: destroying an event we own; for a token request this does not ask again
        // (librdkafka skips the refresh when the op is destroyed).
        unsafe { sys::rd_kafka_event_destroy(event) };
        if kind == sys::RD_KAFKA_EVENT_OAUTHBEARER_TOKEN_REFRESH {
            answer_token_request(sasl.client, tokens);
        }
    }
    // SAFETY: releases the reference taken in `TokenServer::start`, once, while the client lives.
    unsafe { sys::rd_kafka_queue_destroy(sasl.queue) };
}

fn answer_token_request(client: *mut sys::rd_kafka_t, tokens: &super::iam::IamTokens) {
    let token = tokens.token().and_then(|token| {
        let value = CString::new(token.token).map_err(|_| "the token has a NUL byte".to_string())?;
        let principal = CString::new(token.principal_name).map_err(|_| "the principal has a NUL byte".to_string())?;
        Ok((value, principal, token.lifetime_ms))
    });
    match token {
        Ok((value, principal, lifetime_ms)) => {
            let mut errstr = [0 as c_char; 512];
            // SAFETY: `client` is alive (see `SaslQueue`); the strings outlive the call, which
            // copies them; no extensions (NULL, 0); `errstr` is writable for its whole length.
            let code = unsafe {
                sys::rd_kafka_oauthbearer_set_token(
                    client,
                    value.as_ptr(),
                    lifetime_ms,
                    principal.as_ptr(),
                    ptr::null_mut(),
                    0,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                )
            };
            if code != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                // SAFETY: librdkafka NUL-terminates `errstr`.
                let reason = unsafe { CStr::from_ptr(errstr.as_ptr()) }.to_string_lossy().into_owned();
                tracing::warn!("librdkafka refused the MSK IAM token: {reason}");
                set_token_failure(client, &reason);
            } else {
                tracing::debug!(lifetime_ms, "MSK IAM token set");
            }
        }
        Err(reason) => {
            tracing::warn!("cannot make an MSK IAM token: {reason}");
            set_token_failure(client, &reason);
        }
    }
}

fn set_token_failure(client: *mut sys::rd_kafka_t, reason: &str) {
    let reason = CString::new(reason.replace('\0', " ")).unwrap_or_default();
    // SAFETY: `client` is alive (see `SaslQueue`); librdkafka copies the string. librdkafka then
    // reports the failure as an error event and asks again later.
    unsafe { sys::rd_kafka_oauthbearer_set_token_failure(client, reason.as_ptr()) };
}
