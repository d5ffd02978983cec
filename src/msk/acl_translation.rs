//! `acl-translation.md`: what each source ACL of the plan's principals becomes on an MSK cluster
//! with IAM access control — the `kafka-cluster:*` statement it maps to, or why none fits.
//!
//! `render` is offline, so the source's ACLs come from a file: the text `kafka-acls.sh --list`
//! prints (Kafka's own tool, the listing an operator already has). The mapping follows the MSK
//! Developer Guide's "Semantics of IAM authorization policy actions and resources", where each
//! `kafka-cluster:` action names the Kafka ACL it is equivalent to. A DENY becomes an explicit IAM
//! Deny (an explicit Deny overrides every Allow in IAM, as a Kafka DENY overrides every ALLOW).
//! What has no faithful IAM form is listed as "not translated" with the reason: a rule for every
//! principal (`User:*`), one limited to a client host, a cluster-level ALL or ClusterAction.

use std::fmt::Write as _;

use thiserror::Error;

use crate::aws::arn::MskClusterArn;
use crate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use crate::plan::{Auth, Plan};

#[derive(Debug, Error, PartialEq)]
#[error("{file}: line {line}: {reason}")]
pub struct ListingError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The bindings of a `kafka-acls.sh --list` listing: `Current ACLs for resource
/// \`ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)\`:` followed by one
/// `(principal=User:orders, host=*, operation=WRITE, permissionType=ALLOW)` line per ACL.
/// Other lines (blank, `ACLs for principal …`) are skipped; an entry before any resource, or a
/// resource or entry line that does not parse, is an error naming the line.
pub fn parse_listing(file: &str, text: &str) -> Result<Vec<AclBinding>, ListingError> {
    let error = |line: usize, reason: String| ListingError { file: file.to_string(), line, reason };
    let mut resource: Option<(ResourceType, String, PatternType)> = None;
    let mut bindings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let number = index + 1;
        if let Some(rest) = line.strip_prefix("Current ACLs for resource `") {
            let inner = rest
                .split_once('`')
                .and_then(|(pattern, _)| pattern.strip_prefix("ResourcePattern(")?.strip_suffix(')'))
                .ok_or_else(|| error(number, format!("not a ResourcePattern(…): {line}")))?;
            let fields = fields(inner);
            let (Some(kind), Some(name), Some(pattern)) =
                (field(&fields, "resourceType"), field(&fields, "name"), field(&fields, "patternType"))
            else {
                return Err(error(number, format!("resourceType, name and patternType expected: {line}")));
            };
            resource = Some((resource_type(kind), name.to_string(), pattern_type(pattern)));
        } else if let Some(inner) =
            line.strip_prefix('(').filter(|rest| rest.starts_with("principal=")).and_then(|rest| rest.strip_suffix(')'))
        {
            let Some((kind, name, pattern)) = &resource else {
                return Err(error(number, "an ACL entry before any `Current ACLs for resource` line".into()));
            };
            let fields = fields(inner);
            let (Some(principal), Some(host), Some(operation), Some(permission)) = (
                field(&fields, "principal"),
                field(&fields, "host"),
                field(&fields, "operation"),
                field(&fields, "permissionType"),
            ) else {
                return Err(error(number, format!("principal, host, operation and permissionType expected: {line}")));
            };
            bindings.push(AclBinding {
                resource_type: *kind,
                resource_name: name.clone(),
                pattern_type: *pattern,
                principal: principal.to_string(),
                host: host.to_string(),
                operation: operation_of(operation),
                permission: match permission {
                    "ALLOW" => AclPermission::Allow,
                    "DENY" => AclPermission::Deny,
                    _ => AclPermission::Other,
                },
            });
        }
    }
    Ok(bindings)
}

/// `key=value, key=value` (values in these listings hold no `, `).
fn fields(text: &str) -> Vec<(&str, &str)> {
    text.split(", ").filter_map(|pair| pair.split_once('=')).collect()
}

fn field<'a>(fields: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn resource_type(name: &str) -> ResourceType {
    match name {
        "TOPIC" => ResourceType::Topic,
        "GROUP" => ResourceType::Group,
        "CLUSTER" => ResourceType::Cluster,
        "TRANSACTIONAL_ID" => ResourceType::TransactionalId,
        _ => ResourceType::Other,
    }
}

fn pattern_type(name: &str) -> PatternType {
    match name {
        "LITERAL" => PatternType::Literal,
        "PREFIXED" => PatternType::Prefixed,
        _ => PatternType::Other,
    }
}

fn operation_of(name: &str) -> AclOperation {
    match name {
        "ALL" => AclOperation::All,
        "READ" => AclOperation::Read,
        "WRITE" => AclOperation::Write,
        "CREATE" => AclOperation::Create,
        "DELETE" => AclOperation::Delete,
        "ALTER" => AclOperation::Alter,
        "DESCRIBE" => AclOperation::Describe,
        "CLUSTER_ACTION" => AclOperation::ClusterAction,
        "DESCRIBE_CONFIGS" => AclOperation::DescribeConfigs,
        "ALTER_CONFIGS" => AclOperation::AlterConfigs,
        "IDEMPOTENT_WRITE" => AclOperation::IdempotentWrite,
        _ => AclOperation::Other,
    }
}

/// What one ACL became.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    Statement { effect: &'static str, actions: Vec<&'static str>, resources: Vec<String> },
    NotTranslated(String),
}

/// The IAM statement equivalent to `binding` on `cluster`, or why there is none.
pub fn translate(binding: &AclBinding, cluster: &MskClusterArn, cluster_arn: &str) -> Translation {
    let not = |reason: &str| Translation::NotTranslated(reason.to_string());
    if binding.principal == "User:*" {
        return not(
            "a rule for every principal (`User:*`): an IAM policy belongs to one role or user; attach the statement to each app's role instead",
        );
    }
    if binding.host != "*" {
        return not(&format!(
            "limited to the client host {}: `kafka-cluster` actions carry no client-host restriction migrate can vouch for",
            binding.host
        ));
    }
    let effect = match binding.permission {
        AclPermission::Allow => "Allow",
        AclPermission::Deny => "Deny",
        AclPermission::Other => return not("a permission type neither ALLOW nor DENY"),
    };
    let resource = match (binding.resource_type, binding.pattern_type) {
        (ResourceType::Cluster, _) => cluster_arn.to_string(),
        (_, PatternType::Other) => return not("a pattern type neither LITERAL nor PREFIXED"),
        (kind, pattern) => {
            let name = match pattern {
                PatternType::Prefixed => format!("{}*", binding.resource_name),
                _ => binding.resource_name.clone(),
            };
            match kind {
                ResourceType::Topic => cluster.topic(&name),
                ResourceType::Group => cluster.group(&name),
                ResourceType::TransactionalId => cluster.transactional_id(&name),
                _ => {
                    return not(
                        "a resource type with no IAM resource (neither topic, group, transactional id nor cluster)",
                    );
                }
            }
        }
    };
    use AclOperation as Op;
    use ResourceType as Kind;
    let actions: Vec<&'static str> = match (binding.resource_type, binding.operation) {
        (Kind::Topic, Op::Read) => vec!["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
        (Kind::Topic, Op::Write) => vec!["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
        (Kind::Topic, Op::Describe) => vec!["kafka-cluster:DescribeTopic"],
        (Kind::Topic, Op::Create) => vec!["kafka-cluster:CreateTopic"],
        (Kind::Topic, Op::Delete) => vec!["kafka-cluster:DeleteTopic"],
        (Kind::Topic, Op::Alter) => vec!["kafka-cluster:AlterTopic"],
        (Kind::Topic, Op::DescribeConfigs) => vec!["kafka-cluster:DescribeTopicDynamicConfiguration"],
        (Kind::Topic, Op::AlterConfigs) => vec!["kafka-cluster:AlterTopicDynamicConfiguration"],
        (Kind::Topic, Op::All) => vec![
            "kafka-cluster:DescribeTopic",
            "kafka-cluster:ReadData",
            "kafka-cluster:WriteData",
            "kafka-cluster:CreateTopic",
            "kafka-cluster:DeleteTopic",
            "kafka-cluster:AlterTopic",
            "kafka-cluster:DescribeTopicDynamicConfiguration",
            "kafka-cluster:AlterTopicDynamicConfiguration",
        ],
        (Kind::Group, Op::Read) => vec!["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
        (Kind::Group, Op::Describe) => vec!["kafka-cluster:DescribeGroup"],
        (Kind::Group, Op::Delete) => vec!["kafka-cluster:DeleteGroup"],
        (Kind::Group, Op::All) => {
            vec!["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup", "kafka-cluster:DeleteGroup"]
        }
        (Kind::TransactionalId, Op::Write) => {
            vec!["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"]
        }
        (Kind::TransactionalId, Op::Describe) => vec!["kafka-cluster:DescribeTransactionalId"],
        (Kind::TransactionalId, Op::All) => {
            vec!["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"]
        }
        (Kind::Cluster, Op::IdempotentWrite) => vec!["kafka-cluster:WriteDataIdempotently"],
        (Kind::Cluster, Op::Describe) => vec!["kafka-cluster:DescribeCluster"],
        (Kind::Cluster, Op::Alter) => vec!["kafka-cluster:AlterCluster"],
        (Kind::Cluster, Op::DescribeConfigs) => vec!["kafka-cluster:DescribeClusterDynamicConfiguration"],
        (Kind::Cluster, Op::AlterConfigs) => vec!["kafka-cluster:AlterClusterDynamicConfiguration"],
        (Kind::Cluster, Op::Create) => {
            return Translation::Statement {
                effect,
                actions: vec!["kafka-cluster:CreateTopic"],
                resources: vec![cluster.topic("*")],
            };
        }
        (Kind::Cluster, Op::All) => {
            return not(
                "ALL on the cluster: its IAM equivalent would be every cluster action (kafka-cluster:*); grant what the app does instead (its app-<name>-policy.json)",
            );
        }
        (Kind::Cluster, Op::ClusterAction) => {
            return not("ClusterAction is for brokers' own requests: no IAM action exists for it");
        }
        (kind, operation) => {
            return not(&format!("{operation} on a {kind:?} has no kafka-cluster action"));
        }
    };
    Translation::Statement { effect, actions, resources: vec![resource] }
}

/// The source principal of each app that reaches the target over MSK IAM, with the app's name.
fn app_principals(plan: &Plan) -> Vec<(String, String)> {
    plan.apps
        .iter()
        .filter(|app| *app.auth_on(&plan.target) == Auth::MskIam)
        .filter_map(|app| match app.auth_on(&plan.source) {
            Auth::Scram(scram) => Some((format!("User:{}", scram.username), app.name.clone())),
            _ => None,
        })
        .collect()
}

/// `acl-translation.md`: every binding of the apps' source principals (and `User:*`, which
/// applies to them too), with the apps it concerns and what it became.
pub fn markdown(
    plan: &Plan,
    cluster: &MskClusterArn,
    cluster_arn: &str,
    listing: &str,
    bindings: &[AclBinding],
) -> String {
    let principals = app_principals(plan);
    let mut text = format!(
        "# ACL translation: {}\n\nEach source ACL of the plan's principals (from `{listing}`, the output of \
         `kafka-acls.sh --list`) and the IAM statement it became on `{cluster_arn}`, or why none fits.\n\
         A DENY becomes an explicit IAM Deny, which overrides every Allow as a Kafka DENY does.\n\n",
        plan.name
    );
    let mut translated = 0;
    let mut not_translated = 0;
    let mut rows = String::new();
    for binding in bindings {
        let apps: Vec<&str> = principals
            .iter()
            .filter(|(principal, _)| binding.principal == "User:*" || *principal == binding.principal)
            .map(|(_, app)| app.as_str())
            .collect();
        if apps.is_empty() {
            continue;
        }
        let became = match translate(binding, cluster, cluster_arn) {
            Translation::Statement { effect, actions, resources } => {
                translated += 1;
                let actions: Vec<String> = actions.iter().map(|a| format!("`{a}`")).collect();
                let resources: Vec<String> = resources.iter().map(|r| format!("`{r}`")).collect();
                format!("{effect} {} on {}", actions.join(", "), resources.join(", "))
            }
            Translation::NotTranslated(reason) => {
                not_translated += 1;
                format!("not translated: {reason}")
            }
        };
        let _ = writeln!(
            rows,
            "| {} {} on {:?} `{}` ({:?}) for `{}` from `{}` | {} | {} |",
            format!("{:?}", binding.permission).to_uppercase(),
            binding.operation,
            binding.resource_type,
            binding.resource_name,
            binding.pattern_type,
            binding.principal,
            binding.host,
            apps.join(", "),
            became.replace('|', "\\|")
        );
    }
    let left_out = bindings.len() - translated - not_translated;
    let _ = writeln!(
        text,
        "{translated} translated, {not_translated} not translated; {left_out} ACL(s) of other principals left out.\n"
    );
    text.push_str("| source ACL | apps | IAM statement |\n|---|---|---|\n");
    text.push_str(&rows);
    text
}
