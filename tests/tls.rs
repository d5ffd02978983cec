//! SASL_SSL: a broker with a certificate from a CA the test makes; the right CA passes, a wrong
//! CA fails the TLS check with its cause named.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn plan(dir: &Path, source: &Broker, ca: &Path, topic: &str) -> PathBuf {
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: producer\n    produces: [{topic}]\n");
    let mut plan = PlanYaml::new("tls-test", source, &clusters().target, body);
    plan.source_extra = format!("  tls:\n    ca_file: {}\n", ca.display());
    plan.write_to(dir, &format!("plan-{}.yaml", ca.file_stem().unwrap().to_string_lossy()))
}

#[test]
fn the_right_ca_passes_and_a_wrong_ca_fails_the_tls_check() {
    let dir = tempfile::tempdir().unwrap();
    let right = make_ca(dir.path(), "right");
    let wrong = make_ca(dir.path(), "wrong");
    let (cert, key) = make_server_cert(dir.path(), "right");
    let source = start_broker(BrokerOptions {
        version: None,
        tls: Some((cert, key)),
        ca: Some(right.clone()),
        ..Default::default()
    });
    let topic = unique("tls-topic");
    source.create_topics(&[(&topic, 2, &[])]);
    let secrets: Vec<&str> = source.passwords.iter().map(|(_, p)| p.as_str()).collect();

    let good = migrate(
        &["-p", plan(dir.path(), &source, &right, &topic).to_str().unwrap(), "-o", "json", "plan"],
        &[],
        &secrets,
    );
    let document = good.json();
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    let tls = checks_named(&document, "tls");
    assert_eq!(tls.len(), 1, "{document}");
    assert_eq!(tls[0]["status"], "pass");
    assert!(
        tls[0]["detail"].as_str().unwrap().contains("right-ca.pem")
            && tls[0]["detail"].as_str().unwrap().contains("CN=localhost"),
        "{}",
        tls[0]
    );
    let login = checks_named(&document, "replicator-login");
    assert!(
        login.iter().any(|c| c["cluster"] == "source"
            && c["status"] == "pass"
            && c["detail"].as_str().unwrap().contains("over TLS")),
        "{login:?}"
    );

    let bad = migrate(
        &["-p", plan(dir.path(), &source, &wrong, &topic).to_str().unwrap(), "-o", "json", "plan"],
        &[],
        &secrets,
    );
    assert_eq!(bad.code, 3, "{}\n{}", bad.stdout, bad.stderr);
    let document = bad.json();
    let tls = checks_named(&document, "tls");
    assert_eq!(tls[0]["status"], "fail");
    let detail = tls[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("certificate verify failed") && detail.contains("unable to get local issuer certificate"),
        "{detail}"
    );
    assert!(tls[0]["hint"].as_str().unwrap().contains("wrong-ca.pem"), "{}", tls[0]);
}
