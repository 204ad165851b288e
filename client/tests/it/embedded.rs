//! [`EmbeddedCluster`] on an in-process broker.

use brook_client::{Cluster, Committed, EmbeddedCluster, Error, NewRecord};

use crate::open_broker;

fn cluster() -> (tempfile::TempDir, EmbeddedCluster) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = EmbeddedCluster::new(open_broker(&dir.path().join("data")));
    (dir, cluster)
}

#[test]
fn embedded_topic_admin() {
    let (_dir, c) = cluster();
    crate::topic_admin(&c, "admin");
    let info = c.describe_topic("admin").unwrap();
    assert!(info.partitions.iter().all(|p| p.segments.is_some() && p.size_bytes.is_some()));
}

#[test]
fn embedded_produce_and_read() {
    let (_dir, c) = cluster();
    crate::produce_and_read(&c, "records");
}

#[test]
fn embedded_group_offsets() {
    let (_dir, c) = cluster();
    crate::group_offsets(&c, "grouped", "g1");
}

#[test]
fn embedded_delete_topic() {
    let (_dir, c) = cluster();
    crate::delete_topic(&c, "doomed");
}

#[test]
fn embedded_delete_group_forgets_its_offsets() {
    let (_dir, c) = cluster();
    c.create_topic("t", 1, &[]).unwrap();
    c.commit("g", &[("t", 0, Committed::with_metadata(3, "m"))]).unwrap();
    c.commit("keep", &[("t", 0, Committed::new(1))]).unwrap();
    c.delete_group("g").unwrap();
    assert_eq!(c.committed("g", "t", 0).unwrap(), None);
    assert_eq!(c.committed("keep", "t", 0).unwrap(), Some(Committed::new(1)));
    c.delete_group("never-existed").unwrap();
}

/// Deleting a group through the embedded broker takes the members of the broker's own Kafka
/// server into account, as DeleteGroups over the wire does.
#[test]
fn embedded_delete_group_refuses_a_group_with_members() {
    let (_dir, c) = cluster();
    let server = brook_broker::server::LoopbackServer::start(c.broker().clone()).unwrap();
    crate::delete_group(&c, &server.bootstrap(), "t", "g");
}

#[test]
fn embedded_commits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = EmbeddedCluster::new(open_broker(&dir.path().join("data")));
    c.create_topic("t", 1, &[]).unwrap();
    let end = c.append("t", 0, vec![NewRecord::new(Some("k"), Some("v"))]).unwrap();
    c.sync("t", 0, end).unwrap();
    c.commit("g", &[("t", 0, Committed::with_metadata(1, "meta"))]).unwrap();
    c.broker().close().unwrap();
    drop(c);
    let c = EmbeddedCluster::new(open_broker(&dir.path().join("data")));
    assert_eq!(c.committed("g", "t", 0).unwrap(), Some(Committed::with_metadata(1, "meta")));
    assert_eq!(c.read("t", 0, 0, 1 << 20).unwrap().len(), 1);
}

#[test]
fn embedded_missing_topic_is_named() {
    let (_dir, c) = cluster();
    let e = c.produce("missing", None, vec![NewRecord::new(Some("k"), Some("v"))]).unwrap_err();
    assert!(matches!(e, Error::UnknownTopic { ref topic, .. } if topic == "missing"), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(matches!(c.offsets("missing", 0), Err(Error::UnknownTopic { .. })));
    assert!(matches!(c.delete_topic("missing"), Err(Error::UnknownTopic { .. })));
}

#[test]
fn embedded_alter_topic_config() {
    let (_dir, c) = cluster();
    crate::alter_topic_config(&c, "altered");
}
