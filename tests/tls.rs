//! SASL_SSL: a broker with a certificate from a CA the test makes; the right CA passes, a wrong
//! CA fails the TLS check with its cause named.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn plan(dir: &Path, source: &Broker, ca: &Path, topic: &str) -> PathBuf {
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: producer\n    produces: [{topic}]\n");
    let mut plan = PlanYaml::new("tls-test", source, &clusters().target, body);
    plan.source_extra = format!("  tls:\n    ca_file: {}\n", ca.display());
    // Named after the CA's directory (`right`, `wrong`): each CA is `ca.pem` in a directory of its own.
    plan.write_to(dir, &format!("plan-{}.yaml", ca.parent().unwrap().file_name().unwrap().to_string_lossy()))
}

#[test]
fn the_right_ca_passes_and_a_wrong_ca_fails_the_tls_check() {
    let dir = tempfile::tempdir().unwrap();
    let Certificates { ca: right, cert, key } = certificates(dir.path(), "right");
    // Another CA, whose own certificate no broker uses.
    let wrong = certificates(dir.path(), "wrong").ca;
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
        tls[0]["detail"].as_str().unwrap().contains(&right.display().to_string())
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
    assert!(tls[0]["hint"].as_str().unwrap().contains(&wrong.display().to_string()), "{}", tls[0]);
}

/// Regression: with TLS on the replicator's listener only (`tls.apps: false`, the local clusters'
/// setup: SASL_PLAINTEXT for the apps, SASL_SSL for the replicator), preflight probed the apps'
/// plaintext listener with TLS and failed it ("TLS handshake failed: unexpected EOF").
#[test]
fn tls_on_the_replicators_listener_only_leaves_the_apps_listener_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let Certificates { ca, cert, key } = certificates(dir.path(), "split");
    let source = start_broker(BrokerOptions { tls: Some((cert, key)), ca: Some(ca.clone()), ..Default::default() });
    let topic = unique("split-listeners");
    source.create_topics(&[(&topic, 1, &[])]);
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: producer\n    produces: [{topic}]\n");
    let mut plan = PlanYaml::new("tls-split", &source, &clusters().target, body);
    plan.source_bootstrap = source.apps_bootstrap();
    plan.source_extra = format!(
        "  replicator_bootstrap_servers: {}\n  tls:\n    ca_file: {}\n    apps: false\n",
        source.bootstrap(),
        ca.display()
    );
    let path = plan.write_to(dir.path(), "plan.yaml");
    let secrets: Vec<&str> = source.passwords.iter().map(|(_, p)| p.as_str()).collect();
    let run = migrate(&["-p", path.to_str().unwrap(), "-o", "json", "plan"], &[], &secrets);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let tls = checks_named(&document, "tls");
    assert_eq!(tls.len(), 1, "{document}");
    let detail = tls[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&source.bootstrap()) && !detail.contains(&source.apps_bootstrap()), "{detail}");
    let on_source = |name: &str| {
        checks_named(&document, name).into_iter().find(|c| c["cluster"] == "source").unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(on_source("replicator-login").contains("over TLS"), "{}", on_source("replicator-login"));
    assert!(!on_source("app-login").contains("over TLS"), "{}", on_source("app-login"));
}
