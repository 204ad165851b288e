//! [`KafkaCluster`] through librdkafka against a Brook Kafka-protocol server on 127.0.0.1; what
//! it writes is checked again through the embedded broker behind that server.

use brook_broker::Broker;
use brook_broker::server::LoopbackServer;
use brook_client::{Cluster, Committed, EmbeddedCluster, Error, KafkaCluster};

use crate::open_broker;

/// A broker with its Kafka server on 127.0.0.1:0, and a client connected to it.
struct Remote {
    broker: Broker,
    cluster: KafkaCluster,
    _server: LoopbackServer,
    _dir: tempfile::TempDir,
}

fn remote() -> Remote {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let server = LoopbackServer::start(broker.clone()).unwrap();
    let cluster = KafkaCluster::connect(&server.bootstrap()).expect("connect");
    Remote { broker, cluster, _server: server, _dir: dir }
}

#[test]
fn kafka_topic_admin() {
    let r = remote();
    crate::topic_admin(&r.cluster, "admin");
    // The topic exists in the broker behind the server, as it was described.
    let embedded = EmbeddedCluster::new(r.broker.clone());
    assert_eq!(embedded.partitions("admin").unwrap(), Some(3));
    let policy =
        embedded.describe_topic("admin").unwrap().configs.into_iter().find(|c| c.name == "cleanup.policy");
    assert_eq!(policy.map(|c| c.value), Some("compact".to_string()));
}

#[test]
fn kafka_produce_and_read() {
    let r = remote();
    crate::produce_and_read(&r.cluster, "records");
    // Both implementations read the same log the same way.
    let embedded = EmbeddedCluster::new(r.broker.clone());
    for p in 0..2 {
        let mut over_tcp = Vec::new();
        r.cluster.scan("records", p, 0, &mut |rec| over_tcp.push(rec.clone())).unwrap();
        let mut in_process = Vec::new();
        embedded.scan("records", p, 0, &mut |rec| in_process.push(rec.clone())).unwrap();
        assert_eq!(over_tcp, in_process, "partition {p}");
    }
}

#[test]
fn kafka_group_offsets() {
    let r = remote();
    crate::group_offsets(&r.cluster, "grouped", "g1");
    // The commit reached the broker's group store, metadata included.
    let embedded = EmbeddedCluster::new(r.broker.clone());
    assert_eq!(embedded.committed("g1", "grouped", 0).unwrap(), Some(Committed::with_metadata(10, "done")));
}

#[test]
fn kafka_delete_topic() {
    let r = remote();
    crate::delete_topic(&r.cluster, "doomed");
    assert!(r.broker.topic("doomed").is_err());
}

#[test]
fn kafka_unreachable_cluster_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let e = KafkaCluster::connect(&addr).unwrap_err();
    assert!(matches!(e, Error::Remote { ref bootstrap, .. } if *bootstrap == addr), "{e:?}");
    assert!(e.to_string().contains("cannot reach the cluster"), "{e}");
}

/// DeleteGroups through librdkafka's admin client: refused while a consumer is a member,
/// then the group's commits are gone from the broker behind the server.
#[test]
fn kafka_delete_group() {
    let r = remote();
    crate::delete_group(&r.cluster, r.cluster.bootstrap(), "t", "g");
    assert_eq!(r.broker.committed_offset("g", "t", 0), None);
    assert!(!r.broker.group_offsets().groups().contains(&"g".to_string()));
    // The client stays usable, and closing it is clean (librdkafka issue #3663 aborted here).
    r.cluster.append("t", 0, vec![brook_client::NewRecord::new(Some("k"), Some("v"))]).unwrap();
    drop(r);
}

#[test]
fn kafka_alter_topic_config() {
    let r = remote();
    crate::alter_topic_config(&r.cluster, "altered");
}
