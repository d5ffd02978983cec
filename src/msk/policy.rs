//! IAM policies: what MSK Replicator's service execution role and the identity running `migrate`
//! (the caller of CreateReplicator) must be granted for a plan — one list each, used both to
//! render the policies and to check the existing identities — and a reading of policy documents
//! good enough to say whether they grant it.
//!
//! Both lists follow AWS's MSK Developer Guide ("Additional SER permissions for SASL/SCRAM and
//! customer managed keys", "IAM permissions required to create an MSK Replicator", "Log delivery
//! permissions"), not the AWS blog post's example policy: the role gets the managed policy
//! `AWSMSKReplicatorExecutionRole` (the clusters, topics and groups, the replicator's own internal
//! ones included) plus the Secrets Manager grant, and `kms:Decrypt` only for a customer managed
//! key; log delivery is the caller's business. The blog's extra role grants (cluster dynamic
//! configuration, CloudWatch Logs) are not asked for.
//!
//! The reading covers `Effect`, `Action`/`NotAction`, `Resource`/`NotResource` with IAM's `*` and
//! `?` wildcards, and explicit denies. Conditions are not evaluated: an allow under a condition
//! counts as a grant and is reported as conditional; a deny under a condition is ignored. Where the
//! caller may use IAM's own policy simulator, preflight uses that instead for the caller.

use serde_json::{Value, json};

use crate::aws::arn::Arn;
use crate::plan::{LogDelivery, MskSettings};

/// The AWS managed policy the role must have: MSK Replicator's cluster, topic and group
/// permissions on MSK, its internal topics and groups included.
pub const MANAGED_POLICY_NAME: &str = "AWSMSKReplicatorExecutionRole";
/// The managed policy's ARN in `partition` (`aws`, `aws-cn`, `aws-us-gov`).
pub fn managed_policy_arn(partition: &str) -> String {
    format!("arn:{partition}:iam::aws:policy/service-role/{MANAGED_POLICY_NAME}")
}
/// The service principal the role must trust.
pub const SERVICE_PRINCIPAL: &str = "kafka.amazonaws.com";

/// The role's Secrets Manager actions, as the SER page lists them, on the SCRAM and CA secrets.
pub const SECRET_ACTIONS: &[&str] = &[
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
];

/// One statement of a policy `migrate` renders and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub sid: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    /// A condition the statement carries (`kms:ViaService`, `iam:PassedToService`).
    pub condition: Option<Value>,
}

/// The DNS suffix of AWS service endpoints in `partition`: China's regions end in
/// `.amazonaws.com.cn`.
pub fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    }
}

/// The `kms:ViaService` value of Secrets Manager in `region` of `partition`.
pub fn secrets_manager_via_service(partition: &str, region: &str) -> String {
    format!("secretsmanager.{region}.{}", dns_suffix(partition))
}

/// What the role needs besides the managed policy, statement by statement. `kms:Decrypt` is
/// granted on the plan's customer managed key when it names one; without one, on the account's
/// keys but only through Secrets Manager in the plan's region (a customer managed key the plan
/// does not name). A secret under the AWS managed key `aws/secretsmanager` needs no KMS grant at
/// all: preflight checks `kms:Decrypt` only on the customer managed keys the secrets use.
pub fn role_grants(msk: &MskSettings) -> Vec<Grant> {
    vec![
        Grant {
            sid: "SecretsManagerPermissions",
            actions: SECRET_ACTIONS.to_vec(),
            resources: msk.secret_arns().iter().map(|arn| arn.to_string()).collect(),
            condition: None,
        },
        kms_grant(msk),
    ]
}

/// The role's `kms:Decrypt` statement's SID (preflight checks it on the keys the secrets use).
pub const DECRYPT_SID: &str = "DecryptSecretsWithCustomerManagedKey";

fn kms_grant(msk: &MskSettings) -> Grant {
    if let Some(key) = &msk.secret_kms_key_arn {
        return Grant { sid: DECRYPT_SID, actions: vec!["kms:Decrypt"], resources: vec![key.clone()], condition: None };
    }
    let cluster = msk.cluster();
    let secret = Arn::parse(&msk.scram_secret_arn).unwrap_or_else(|| cluster.arn.clone());
    Grant {
        sid: DECRYPT_SID,
        actions: vec!["kms:Decrypt"],
        resources: vec![format!("arn:{}:kms:{}:{}:key/*", secret.partition, secret.region, secret.account)],
        condition: Some(json!({ "StringEquals": {
            "kms:ViaService": secrets_manager_via_service(&secret.partition, &msk.region)
        } })),
    }
}

/// Which optional commands the caller will run, for the actions they add.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerUse {
    /// `apply --create-secret`.
    pub create_secret: bool,
    /// `teardown --delete-secrets`.
    pub delete_secrets: bool,
    /// Apps log in to the target with SASL/SCRAM: preflight lists the cluster's SCRAM secrets
    /// (`AmazonMSK_*`) and reads each.
    pub app_scram_secrets: bool,
}

/// What the identity running `apply`, `status` and `teardown` needs: every action AWS lists for
/// the caller of CreateReplicator (the tags `migrate` sends need `kafka:TagResource`), the log
/// delivery actions of the plan's destinations, what `status` reads (CloudWatch), what the
/// ownership check reads (the secrets' tags), and the Secrets Manager actions of the optional
/// flags in `uses`.
pub fn caller_grants(msk: &MskSettings, uses: CallerUse) -> Vec<Grant> {
    let cluster = msk.cluster();
    let arn = &cluster.arn;
    let replicators: Vec<String> =
        [&msk.external_to_msk_name, &msk.msk_to_external_name].iter().map(|name| cluster.replicator(name)).collect();
    let mut grants = vec![
        Grant {
            sid: "MSKReplicatorManagement",
            actions: vec![
                "kafka:CreateReplicator",
                "kafka:DescribeReplicator",
                "kafka:UpdateReplicationInfo",
                "kafka:DeleteReplicator",
                "kafka:TagResource",
            ],
            resources: replicators.clone(),
            condition: None,
        },
        // The Service Authorization Reference's row for ListTagsForResource names one resource
        // type, `cluster*`, where the Developer Guide's example grants it on replicators: the
        // statement names both, so it holds under either reading.
        Grant {
            sid: "MSKListTags",
            actions: vec!["kafka:ListTagsForResource"],
            resources: std::iter::once(msk.cluster_arn.clone()).chain(replicators).collect(),
            condition: None,
        },
        Grant {
            sid: "MSKClusterActions",
            actions: vec!["kafka:DescribeClusterV2"],
            resources: vec![msk.cluster_arn.clone()],
            condition: None,
        },
        // GetBootstrapBrokers supports no resource-level permission (its row in the Service
        // Authorization Reference lists no resource type): only `*` matches it.
        Grant {
            sid: "MSKBootstrapBrokers",
            actions: vec!["kafka:GetBootstrapBrokers"],
            resources: vec!["*".into()],
            condition: None,
        },
        Grant {
            sid: "MSKReplicatorList",
            actions: vec!["kafka:ListReplicators"],
            resources: vec!["*".into()],
            condition: None,
        },
        Grant {
            sid: "MSKReplicatorIAMPassRole",
            actions: vec!["iam:PassRole"],
            resources: vec![msk.service_execution_role_arn.clone()],
            condition: Some(json!({ "StringEquals": { "iam:PassedToService": SERVICE_PRINCIPAL } })),
        },
        Grant {
            sid: "MSKReplicatorServiceLinkedRole",
            actions: vec!["iam:CreateServiceLinkedRole"],
            resources: vec![format!(
                "arn:{}:iam::{}:role/aws-service-role/kafka.amazonaws.com/AWSServiceRoleForKafka*",
                arn.partition, arn.account
            )],
            condition: None,
        },
        Grant {
            sid: "MSKReplicatorEC2Actions",
            actions: vec!["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"],
            resources: vec!["*".into()],
            condition: None,
        },
        Grant {
            sid: "ReadinessGateMetrics",
            actions: vec!["cloudwatch:GetMetricData"],
            resources: vec!["*".into()],
            condition: None,
        },
    ];
    grants.extend(log_delivery_grants(&msk.log_delivery, &arn.partition, &arn.region, &arn.account));
    let secrets: Vec<String> = msk.secret_arns().iter().map(|s| s.to_string()).collect();
    let mut secret_actions = vec!["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"];
    if uses.create_secret {
        secret_actions.push("secretsmanager:CreateSecret");
        secret_actions.push("secretsmanager:TagResource");
    }
    if uses.delete_secrets {
        secret_actions.push("secretsmanager:DeleteSecret");
    }
    grants.push(Grant { sid: "ReplicatorSecrets", actions: secret_actions, resources: secrets, condition: None });
    if uses.app_scram_secrets {
        grants.extend(app_scram_grants(msk));
    }
    grants
}

/// What preflight's `app-scram-secrets` reads: the cluster's SCRAM secrets (MSK requires their
/// names to start with `AmazonMSK_`) and, through Secrets Manager only, their customer managed key.
fn app_scram_grants(msk: &MskSettings) -> Vec<Grant> {
    let cluster = msk.cluster();
    let (partition, region, account) = (&cluster.arn.partition, &cluster.arn.region, &cluster.arn.account);
    vec![
        Grant {
            sid: "AppScramSecretsList",
            actions: vec!["kafka:ListScramSecrets"],
            resources: vec![msk.cluster_arn.clone()],
            condition: None,
        },
        Grant {
            sid: "AppScramSecretsRead",
            actions: vec!["secretsmanager:GetSecretValue"],
            resources: vec![format!("arn:{partition}:secretsmanager:{region}:{account}:secret:AmazonMSK_*")],
            condition: None,
        },
        Grant {
            sid: "AppScramSecretsKey",
            actions: vec!["kms:Decrypt"],
            resources: vec![format!("arn:{partition}:kms:{region}:{account}:key/*")],
            condition: Some(json!({ "StringEquals": {
                "kms:ViaService": secrets_manager_via_service(partition, region)
            } })),
        },
    ]
}

/// What `teardown --delete-secrets` does to the plan's secrets: read their tags (only secrets
/// `apply --create-secret` made are deleted), then delete them.
pub fn delete_secrets_grants(msk: &MskSettings) -> Vec<Grant> {
    vec![Grant {
        sid: "ReplicatorSecrets",
        actions: vec!["secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"],
        resources: msk.secret_arns().iter().map(|s| s.to_string()).collect(),
        condition: None,
    }]
}

/// The caller's log delivery statements for each destination the plan enables, as AWS's "Log
/// delivery permissions" page lists them.
fn log_delivery_grants(delivery: &LogDelivery, partition: &str, region: &str, account: &str) -> Vec<Grant> {
    let mut grants = Vec::new();
    if delivery.cloudwatch_logs_group.is_some() {
        grants.push(Grant {
            sid: "CloudWatchLogsLogDeliveryActions",
            actions: vec![
                "logs:CreateLogDelivery",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
                "logs:ListLogDeliveries",
            ],
            resources: vec!["*".into()],
            condition: None,
        });
    }
    if let Some(bucket) = &delivery.s3_bucket {
        grants.push(Grant {
            sid: "S3LogDeliveryActions",
            actions: vec!["logs:CreateLogDelivery", "logs:ListLogDeliveries"],
            resources: vec!["*".into()],
            condition: None,
        });
        grants.push(Grant {
            sid: "S3BucketLogDeliveryActions",
            actions: vec!["s3:GetBucketPolicy", "s3:PutBucketPolicy"],
            resources: vec![format!("arn:{partition}:s3:::{bucket}")],
            condition: None,
        });
    }
    if delivery.firehose_delivery_stream.is_some() {
        grants.push(Grant {
            sid: "FirehoseLogDeliveryActions",
            actions: vec!["logs:CreateLogDelivery", "logs:ListLogDeliveries"],
            resources: vec!["*".into()],
            condition: None,
        });
        grants.push(Grant {
            sid: "FirehoseTagDeliveryStream",
            actions: vec!["firehose:TagDeliveryStream"],
            resources: vec![format!("arn:{partition}:firehose:{region}:{account}:deliverystream/*")],
            condition: None,
        });
        grants.push(Grant {
            sid: "FirehoseServiceLinkedRole",
            actions: vec!["iam:CreateServiceLinkedRole"],
            resources: vec![format!(
                "arn:{partition}:iam::{account}:role/aws-service-role/delivery.logs.amazonaws.com/AWSServiceRoleForLogDelivery"
            )],
            condition: None,
        });
    }
    grants
}

/// What one app's clients need on an MSK cluster with IAM access control, least privilege: connect;
/// describe and read the topics it consumes, describe and write those it produces (idempotently:
/// librdkafka and the Java client enable idempotence by default); its groups; its transactional
/// ids. Exact ARNs of the plan's names, never `*`.
pub fn app_grants(app: &crate::plan::App, msk: &MskSettings) -> Vec<Grant> {
    let cluster = msk.cluster();
    let sorted = |names: Vec<String>| {
        let mut names = names;
        names.sort();
        names.dedup();
        names
    };
    let consumed = sorted(app.consumes.iter().flat_map(|c| c.topics.iter().map(|t| cluster.topic(t))).collect());
    let produced = sorted(app.produces.iter().map(|t| cluster.topic(t)).collect());
    let groups = sorted(app.consumes.iter().map(|c| cluster.group(&c.group)).collect());
    let transactional = sorted(app.transactional_ids.iter().map(|id| cluster.transactional_id(id)).collect());
    let mut grants = vec![Grant {
        sid: "Connect",
        actions: vec!["kafka-cluster:Connect"],
        resources: vec![msk.cluster_arn.clone()],
        condition: None,
    }];
    if !produced.is_empty() {
        grants.push(Grant {
            sid: "WriteIdempotently",
            actions: vec!["kafka-cluster:WriteDataIdempotently"],
            resources: vec![msk.cluster_arn.clone()],
            condition: None,
        });
        grants.push(Grant {
            sid: "ProducedTopics",
            actions: vec!["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
            resources: produced,
            condition: None,
        });
    }
    if !consumed.is_empty() {
        grants.push(Grant {
            sid: "ConsumedTopics",
            actions: vec!["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
            resources: consumed,
            condition: None,
        });
    }
    if !groups.is_empty() {
        grants.push(Grant {
            sid: "Groups",
            actions: vec!["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
            resources: groups,
            condition: None,
        });
    }
    if !transactional.is_empty() {
        grants.push(Grant {
            sid: "TransactionalIds",
            actions: vec!["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"],
            resources: transactional,
            condition: None,
        });
    }
    grants
}

/// The grants as an IAM policy document.
pub fn document(grants: &[Grant]) -> Value {
    let statements: Vec<Value> = grants
        .iter()
        .map(|grant| {
            let mut statement = json!({
                "Sid": grant.sid,
                "Effect": "Allow",
                "Action": grant.actions,
                "Resource": grant.resources,
            });
            if let Some(condition) = &grant.condition {
                statement["Condition"] = condition.clone();
            }
            statement
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The role's trust policy.
pub fn trust_document() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": SERVICE_PRINCIPAL },
            "Action": "sts:AssumeRole",
        }],
    })
}

/// Whether a set of policy documents grants `action` on `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { conditional: bool },
    ExplicitDeny,
    NotGranted,
}

pub fn decide(documents: &[Value], action: &str, resource: &str) -> Decision {
    let mut allowed: Option<bool> = None;
    for statement in documents.iter().flat_map(statements) {
        let applies = matches_field(statement, "Action", "NotAction", action, false)
            && matches_field(statement, "Resource", "NotResource", resource, true);
        if !applies {
            continue;
        }
        let conditional = statement.get("Condition").is_some_and(|c| c.as_object().is_some_and(|o| !o.is_empty()));
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") if !conditional => return Decision::ExplicitDeny,
            Some("Allow") => allowed = Some(allowed.map_or(conditional, |all| all && conditional)),
            _ => {}
        }
    }
    match allowed {
        Some(conditional) => Decision::Allowed { conditional },
        None => Decision::NotGranted,
    }
}

/// Whether one statement allows `action` (on any resource; conditions not evaluated).
pub fn allows_action(statement: &Value, action: &str) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
        && matches_field(statement, "Action", "NotAction", action, false)
}

/// Whether `documents` trust `service` to assume the role.
pub fn trusts_service(document: &Value, service: &str) -> bool {
    statements(document).any(|statement| {
        statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && matches_field(statement, "Action", "NotAction", "sts:AssumeRole", false)
            && statement
                .get("Principal")
                .and_then(|p| p.get("Service"))
                .is_some_and(|s| strings(s).iter().any(|name| name == service))
    })
}

/// A policy document's statements (`Statement` may be one object or a list).
pub fn statements(document: &Value) -> impl Iterator<Item = &Value> {
    let list: Vec<&Value> = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    list.into_iter()
}

/// A policy field that is a string or a list of strings.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn matches_field(statement: &Value, field: &str, not_field: &str, value: &str, case_sensitive: bool) -> bool {
    if let Some(patterns) = statement.get(field) {
        return strings(patterns).iter().any(|p| wildcard_match(p, value, case_sensitive));
    }
    if let Some(patterns) = statement.get(not_field) {
        return !strings(patterns).iter().any(|p| wildcard_match(p, value, case_sensitive));
    }
    false
}

/// IAM's wildcards: `*` any run of characters, `?` one character.
pub fn wildcard_match(pattern: &str, value: &str, case_sensitive: bool) -> bool {
    let (pattern, value) = if case_sensitive {
        (pattern.to_string(), value.to_string())
    } else {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    };
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Iterative glob match with backtracking to the last `*`.
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("kafka-cluster:*", "kafka-cluster:ReadData", false));
        assert!(wildcard_match("KAFKA-CLUSTER:readdata", "kafka-cluster:ReadData", false));
        assert!(wildcard_match(
            "arn:aws:kafka:*:1:topic/shop/*",
            "arn:aws:kafka:eu-west-1:1:topic/shop/u/orders",
            true
        ));
        assert!(!wildcard_match(
            "arn:aws:kafka:*:1:topic/shop/*",
            "arn:aws:kafka:eu-west-1:2:topic/shop/u/orders",
            true
        ));
        assert!(wildcard_match("a?c", "abc", true));
        assert!(!wildcard_match("a?c", "ac", true));
        assert!(!wildcard_match("Orders", "orders", true));
        assert!(wildcard_match("*", "", true));
    }

    #[test]
    fn decides_allow_deny_and_conditions() {
        let documents = vec![
            json!({"Statement": [
                {"Effect": "Allow", "Action": "kafka-cluster:*", "Resource": "arn:aws:kafka:*:1:topic/shop/u/*"},
                {"Effect": "Deny", "Action": "kafka-cluster:AlterTopic", "Resource": "arn:aws:kafka:*:1:topic/shop/u/secret"},
            ]}),
            json!({"Statement": {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
                                 "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}}}),
        ];
        let topic = |name: &str| format!("arn:aws:kafka:eu-west-1:1:topic/shop/u/{name}");
        assert_eq!(
            decide(&documents, "kafka-cluster:ReadData", &topic("orders")),
            Decision::Allowed { conditional: false }
        );
        assert_eq!(decide(&documents, "kafka-cluster:AlterTopic", &topic("secret")), Decision::ExplicitDeny);
        assert_eq!(
            decide(&documents, "kafka-cluster:ReadData", "arn:aws:kafka:eu-west-1:1:cluster/shop/u"),
            Decision::NotGranted
        );
        assert_eq!(
            decide(&documents, "kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k"),
            Decision::Allowed { conditional: true }
        );
        assert_eq!(
            decide(&documents, "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:x"),
            Decision::NotGranted
        );
    }

    #[test]
    fn not_action_grants_everything_else() {
        let documents = vec![json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})];
        assert_eq!(decide(&documents, "kafka-cluster:Connect", "x"), Decision::Allowed { conditional: false });
        assert_eq!(decide(&documents, "iam:PassRole", "x"), Decision::NotGranted);
    }

    #[test]
    fn reads_the_trust_policy() {
        assert!(trusts_service(&trust_document(), "kafka.amazonaws.com"));
        let ec2 = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": "sts:AssumeRole"}]});
        assert!(!trusts_service(&ec2, "kafka.amazonaws.com"));
    }
}
