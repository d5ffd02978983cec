# The Apache Kafka versions the local clusters, the tests and the benchmark run (sourced by the
# scripts beside it and by scripts/install.sh). Why these three: README, "Apache Kafka versions".
KAFKA_SOURCE_VERSION=3.6.2   # the "external" source: an older 3.x line (KRaft SCRAM needs >= 3.5)
KAFKA_TARGET_VERSION=3.9.1   # the target, standing in for MSK Express: the newest 3.x line
KAFKA_4_VERSION=4.1.1        # the 4.x pair: the consumer group protocol, configs removed in 4.0
KAFKA_2_VERSION=2.8.2        # the oldest source AWS's guide allows, on ZooKeeper (one compatibility test)
KAFKA_VERSIONS=("$KAFKA_SOURCE_VERSION" "$KAFKA_TARGET_VERSION" "$KAFKA_4_VERSION" "$KAFKA_2_VERSION")
