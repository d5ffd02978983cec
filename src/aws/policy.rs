//! IAM policies: what MSK Replicator's service execution role must be granted for a plan (one
//! list, used both to render the least-privilege policy and to check an existing role), and a
//! reading of policy documents good enough to say whether they grant it.
//!
//! The reading covers `Effect`, `Action`/`NotAction`, `Resource`/`NotResource` with IAM's `*` and
//! `?` wildcards, and explicit denies. Conditions are not evaluated: an allow under a condition
//! counts as a grant and is reported as conditional; a deny under a condition is ignored. Where the
//! caller may use IAM's own policy simulator, preflight uses that instead for the caller.

use serde_json::{Value, json};

use crate::aws::arn::{Arn, MskClusterArn};
use crate::plan::{MskSettings, Plan, Selector};

/// The AWS managed policy AWS pairs with the least-privilege policy for MSK Replicator's role.
pub const MANAGED_POLICY_NAME: &str = "AWSMSKReplicatorExecutionRole";
pub const MANAGED_POLICY_ARN: &str = "arn:aws:iam::aws:policy/service-role/AWSMSKReplicatorExecutionRole";
/// The service principal the role must trust.
pub const SERVICE_PRINCIPAL: &str = "kafka.amazonaws.com";

pub const CLUSTER_ACTIONS: &[&str] = &[
    "kafka-cluster:Connect",
    "kafka-cluster:DescribeCluster",
    "kafka-cluster:AlterCluster",
    "kafka-cluster:DescribeClusterDynamicConfiguration",
    "kafka-cluster:AlterClusterDynamicConfiguration",
    "kafka-cluster:WriteDataIdempotently",
];
pub const TOPIC_ACTIONS: &[&str] = &[
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:AlterTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:AlterTopicDynamicConfiguration",
    "kafka-cluster:WriteData",
    "kafka-cluster:ReadData",
];
pub const GROUP_ACTIONS: &[&str] = &["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"];
pub const SECRET_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"];
pub const LOG_ACTIONS: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"];

/// One statement of the role's least-privilege policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub sid: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    /// A condition the statement carries (only `kms:ViaService` when the key is not named).
    pub condition: Option<Value>,
}

/// A topic or group selector as an IAM resource name: exact names as they are, simple regexes
/// (`orders\..*`) as wildcards (`orders.*`), anything else as `*` — broader than the plan, so
/// [`broad_selectors`] reports it.
pub fn selector_resource(selector: &Selector) -> String {
    match selector {
        Selector::Name(name) => name.clone(),
        Selector::Regex(_) => regex_as_wildcard(&selector.to_string()).unwrap_or_else(|| "*".into()),
    }
}

/// The selectors [`selector_resource`] could only render as `*`.
pub fn broad_selectors(plan: &Plan) -> Vec<String> {
    plan.replication
        .topics
        .iter()
        .chain(&plan.replication.groups)
        .filter(|selector| matches!(selector, Selector::Regex(_)) && regex_as_wildcard(&selector.to_string()).is_none())
        .map(|selector| selector.to_string())
        .collect()
}

/// `/orders\..*/` → `orders.*`; `None` when the regex is more than literals, `.` and `.*`.
fn regex_as_wildcard(shown: &str) -> Option<String> {
    let inner = shown.strip_prefix('/')?.strip_suffix('/')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next()?;
                if escaped.is_ascii_alphanumeric() {
                    return None; // \d, \w, …: classes, not literals
                }
                out.push(escaped);
            }
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push('*');
            }
            '.' if chars.peek() == Some(&'+') => {
                chars.next();
                out.push_str("?*");
            }
            '.' => out.push('?'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// What the role needs for `plan`, statement by statement, as the reference lists it.
pub fn role_grants(plan: &Plan, msk: &MskSettings) -> Vec<Grant> {
    let cluster = msk.cluster();
    let mut grants = vec![Grant {
        sid: "ReadReplicatorSecrets",
        actions: SECRET_ACTIONS.to_vec(),
        resources: msk.secret_arns().iter().map(|arn| arn.to_string()).collect(),
        condition: None,
    }];
    grants.push(kms_grant(msk, &cluster));
    grants.push(Grant {
        sid: "MskCluster",
        actions: CLUSTER_ACTIONS.to_vec(),
        resources: vec![msk.cluster_arn.clone()],
        condition: None,
    });
    grants.push(Grant {
        sid: "MskTopics",
        actions: TOPIC_ACTIONS.to_vec(),
        resources: plan.replication.topics.iter().map(|s| cluster.topic(&selector_resource(s))).collect(),
        condition: None,
    });
    if !plan.replication.groups.is_empty() {
        grants.push(Grant {
            sid: "MskConsumerGroups",
            actions: GROUP_ACTIONS.to_vec(),
            resources: plan.replication.groups.iter().map(|s| cluster.group(&selector_resource(s))).collect(),
            condition: None,
        });
    }
    if let Some(group) = &msk.log_delivery.cloudwatch_logs_group {
        let arn = &cluster.arn;
        grants.push(Grant {
            sid: "ReplicatorLogs",
            actions: LOG_ACTIONS.to_vec(),
            resources: vec![format!("arn:{}:logs:{}:{}:log-group:{group}:*", arn.partition, arn.region, arn.account)],
            condition: None,
        });
    }
    grants
}

/// `kms:Decrypt` on the plan's key; without one, on any key of the secret's account but only
/// through Secrets Manager in the plan's region.
fn kms_grant(msk: &MskSettings, cluster: &MskClusterArn) -> Grant {
    if let Some(key) = &msk.secret_kms_key_arn {
        return Grant {
            sid: "DecryptSecrets",
            actions: vec!["kms:Decrypt"],
            resources: vec![key.clone()],
            condition: None,
        };
    }
    let secret = Arn::parse(&msk.scram_secret_arn).unwrap_or_else(|| cluster.arn.clone());
    Grant {
        sid: "DecryptSecrets",
        actions: vec!["kms:Decrypt"],
        resources: vec![format!("arn:{}:kms:{}:{}:key/*", secret.partition, secret.region, secret.account)],
        condition: Some(
            json!({ "StringEquals": { "kms:ViaService": format!("secretsmanager.{}.amazonaws.com", msk.region) } }),
        ),
    }
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
    fn simple_regexes_become_wildcards_and_others_are_reported_broad() {
        assert_eq!(regex_as_wildcard(r"/orders\..*/").as_deref(), Some("orders.*"));
        assert_eq!(regex_as_wildcard("/shop-.+/").as_deref(), Some("shop-?*"));
        assert_eq!(regex_as_wildcard("/a.c/").as_deref(), Some("a?c"));
        assert_eq!(regex_as_wildcard(r"/orders-\d+/"), None);
        assert_eq!(regex_as_wildcard("/(a|b)/"), None);
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
