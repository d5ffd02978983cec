//! The AWS region of an MSK cluster, read from its brokers' names (plan validation and the MSK IAM
//! signer use it when the plan names no region).

/// The region in MSK broker names (`b-1.name.abc123.c2.kafka.eu-west-1.amazonaws.com:9098`,
/// `….kafka-serverless.eu-west-1.amazonaws.com`), when every name agrees on one.
pub fn region_in_broker_names(servers: &[String]) -> Option<String> {
    let mut found: Option<String> = None;
    for server in servers {
        let host = server.rsplit_once(':').map_or(server.as_str(), |(host, _)| host);
        let labels: Vec<&str> = host.split('.').collect();
        let n = labels.len();
        if n < 4 || labels[n - 2] != "amazonaws" || !labels[n - 4].starts_with("kafka") {
            return None;
        }
        let region = labels[n - 3].to_string();
        match &found {
            Some(known) if *known != region => return None,
            _ => found = Some(region),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_region_in_msk_broker_names() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            region_in_broker_names(&names(&[
                "b-1.orders.abc123.c2.kafka.eu-west-1.amazonaws.com:9098",
                "b-2.orders.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"
            ])),
            Some("eu-west-1".into())
        );
        assert_eq!(
            region_in_broker_names(&names(&["boot-x.c1.kafka-serverless.us-east-2.amazonaws.com:9098"])),
            Some("us-east-2".into())
        );
        assert_eq!(region_in_broker_names(&names(&["127.0.0.1:9092"])), None);
        assert_eq!(
            region_in_broker_names(&names(&[
                "b-1.x.c2.kafka.eu-west-1.amazonaws.com:9098",
                "b-1.x.c2.kafka.us-east-1.amazonaws.com:9098"
            ])),
            None
        );
    }
}
