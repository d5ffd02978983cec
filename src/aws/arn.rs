//! Amazon Resource Names: parsing them, and building the MSK topic and group ARNs that IAM
//! policies for `kafka-cluster:*` actions name.

use std::fmt;

/// `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn parse(text: &str) -> Option<Arn> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?.to_string();
        let service = parts.next()?.to_string();
        let region = parts.next()?.to_string();
        let account = parts.next()?.to_string();
        let resource = parts.next()?.to_string();
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Arn { partition, service, region, account, resource })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account, self.resource)
    }
}

/// An MSK cluster's ARN, `arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskClusterArn {
    pub arn: Arn,
    pub name: String,
    pub uuid: String,
}

impl MskClusterArn {
    pub fn parse(text: &str) -> Option<MskClusterArn> {
        let arn = Arn::parse(text)?;
        if arn.service != "kafka" || arn.region.is_empty() || arn.account.is_empty() {
            return None;
        }
        let mut path = arn.resource.strip_prefix("cluster/")?.split('/');
        let name = path.next().filter(|n| !n.is_empty())?.to_string();
        let uuid = path.next().filter(|u| !u.is_empty())?.to_string();
        if path.next().is_some() {
            return None;
        }
        Some(MskClusterArn { arn, name, uuid })
    }

    /// The ARN of a topic (or, with `*`/`?`, topics) on this cluster, for `kafka-cluster:*` actions.
    pub fn topic(&self, topic: &str) -> String {
        self.child("topic", topic)
    }

    /// The ARN of a consumer group on this cluster.
    pub fn group(&self, group: &str) -> String {
        self.child("group", group)
    }

    /// The ARN of a transactional id on this cluster.
    pub fn transactional_id(&self, id: &str) -> String {
        self.child("transactional-id", id)
    }

    /// The ARN pattern of a replicator named `name` in this cluster's account and region.
    pub fn replicator(&self, name: &str) -> String {
        let arn = &self.arn;
        format!("arn:{}:kafka:{}:{}:replicator/{name}/*", arn.partition, arn.region, arn.account)
    }

    fn child(&self, kind: &str, name: &str) -> String {
        let arn = &self.arn;
        format!("arn:{}:kafka:{}:{}:{kind}/{}/{}/{name}", arn.partition, arn.region, arn.account, self.name, self.uuid)
    }
}

/// The name of an IAM role from its ARN (`arn:aws:iam::1:role/path/Name` → `Name`), as IAM's
/// role APIs and the CLI's `--role-name` take it.
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Whether `text` is the ARN of an IAM role or user (`arn:aws:iam::1:role/Name`), as an app's
/// `role_arn` names the identity its clients run as.
pub fn is_iam_principal_arn(text: &str) -> bool {
    Arn::parse(text).is_some_and(|arn| {
        arn.service == "iam"
            && !arn.account.is_empty()
            && (arn.resource.starts_with("role/") || arn.resource.starts_with("user/"))
            && arn.resource.len() > 5
    })
}

/// The IAM role ARN behind an STS identity: `arn:aws:sts::1:assumed-role/Name/session` →
/// `arn:aws:iam::1:role/Name`. IAM's policy simulator takes the role, not the session. A role
/// with a path loses it here (STS does not report it), so simulation may then not find the role.
pub fn principal_for_simulation(caller: &str) -> Option<String> {
    let arn = Arn::parse(caller)?;
    if arn.service == "iam" && (arn.resource.starts_with("user/") || arn.resource.starts_with("role/")) {
        return Some(caller.to_string());
    }
    if arn.service == "sts"
        && let Some(rest) = arn.resource.strip_prefix("assumed-role/")
    {
        let role = rest.split('/').next().filter(|r| !r.is_empty())?;
        return Some(format!("arn:{}:iam::{}:role/{role}", arn.partition, arn.account));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b2c3d4e-1111-2222-3333-444455556666-2";

    #[test]
    fn takes_an_msk_cluster_arn_apart() {
        let cluster = MskClusterArn::parse(CLUSTER).unwrap();
        assert_eq!(cluster.name, "shop");
        assert_eq!(cluster.uuid, "0b2c3d4e-1111-2222-3333-444455556666-2");
        assert_eq!(cluster.arn.account, "123456789012");
        assert_eq!(cluster.arn.to_string(), CLUSTER);
        assert_eq!(
            cluster.topic("orders"),
            "arn:aws:kafka:eu-west-1:123456789012:topic/shop/0b2c3d4e-1111-2222-3333-444455556666-2/orders"
        );
        assert_eq!(
            cluster.group("order-status"),
            "arn:aws:kafka:eu-west-1:123456789012:group/shop/0b2c3d4e-1111-2222-3333-444455556666-2/order-status"
        );
        assert_eq!(
            cluster.replicator("shop-external-to-msk"),
            "arn:aws:kafka:eu-west-1:123456789012:replicator/shop-external-to-msk/*"
        );
    }

    #[test]
    fn refuses_arns_that_are_not_msk_clusters() {
        assert!(MskClusterArn::parse("arn:aws:kafka:eu-west-1:1:cluster/shop").is_none());
        assert!(MskClusterArn::parse("arn:aws:iam::1:role/x").is_none());
        assert!(MskClusterArn::parse("arn:aws:kafka:eu-west-1:1:replicator/a/b").is_none());
        assert!(MskClusterArn::parse("not an arn").is_none());
    }

    #[test]
    fn finds_the_role_behind_an_assumed_role_session() {
        assert_eq!(
            principal_for_simulation("arn:aws:sts::123456789012:assumed-role/Deployer/alice@example.com").as_deref(),
            Some("arn:aws:iam::123456789012:role/Deployer")
        );
        assert_eq!(
            principal_for_simulation("arn:aws:iam::123456789012:user/alice").as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
        assert_eq!(principal_for_simulation("arn:aws:iam::123456789012:root"), None);
        assert_eq!(principal_for_simulation("arn:aws:sts::123456789012:federated-user/bob"), None);
    }
}
