//! The project's own Apache Kafka scripts (`scripts/kafka/`), where they can go wrong on their own.

mod common;

use std::process::Command;

use common::*;

/// Regression: a random KRaft cluster ID may start with `-` (URL-safe base64), and the storage
/// tool took `--cluster-id -abc…` for a missing value followed by an option, so one broker in 64
/// never formatted.
#[test]
fn a_cluster_id_starting_with_a_dash_formats() {
    kafka_versions();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.password"), "pw").unwrap();
    let ports: [u16; 4] = free_ports();
    std::fs::write(
        dir.path().join("broker.env"),
        format!(
            "KAFKA_VERSION={}\nCLUSTER_ID=-G1pZ3JhdGUtZGFzaC0xIQ\nAPPS_PORT={}\nREPLICATOR_PORT={}\nCONTROLLER_PORT={}\nINTERNAL_PORT={}\nUSERS=\"admin:SCRAM-SHA-512\"\n",
            kafka_versions().target,
            ports[0],
            ports[1],
            ports[2],
            ports[3]
        ),
    )
    .unwrap();
    let output = Command::new(project_root().join("scripts/kafka/broker.sh"))
        .args(["format", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let meta = std::fs::read_to_string(dir.path().join("data/meta.properties")).unwrap();
    assert!(meta.contains("cluster.id=-G1pZ3JhdGUtZGFzaC0xIQ"), "{meta}");
}

/// Regression: `scripts/install.sh` reinstalled parliament on every run (its version check piped
/// `pip show` into `grep -q`, whose early exit broke the pipe under pipefail). Run again after
/// the install this test binary started with, it finds everything present and installs nothing.
#[test]
fn a_second_install_installs_nothing() {
    kafka_versions();
    let output = Command::new(project_root().join("scripts/install.sh")).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    let acted: Vec<&str> =
        said.lines().filter(|line| line.contains("installing") || line.contains("missing")).collect();
    assert!(acted.is_empty(), "a second run installed again:\n{}", acted.join("\n"));
}

/// Regression: four separate `free_port()` calls once gave a test broker's replicator and
/// controller listeners the same port, and `broker.sh format` refused the configuration (the
/// scenarios binary failed in the full suite). A broker's ports are now taken all at once.
#[test]
fn a_brokers_ports_are_never_the_same_port_twice() {
    for _ in 0..2_000 {
        let ports: [u16; 4] = free_ports();
        let distinct: std::collections::BTreeSet<u16> = ports.into_iter().collect();
        assert_eq!(distinct.len(), 4, "{ports:?}");
    }
}
