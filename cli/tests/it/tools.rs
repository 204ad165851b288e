//! Topic tools, produce and consume: directly on a data directory and through a server.

use crate::{Server, brook, ok};

#[test]
fn topic_tools_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
            "--data-dir",
            d,
        ],
        None,
    );
    let list = ok(&["topic", "list", "--data-dir", d], None);
    assert!(list.lines().any(|l| l == "orders"), "{list}");
    ok(&["topic", "alter", "orders", "--config", "cleanup.policy=compact", "--data-dir", d], None);
    let desc = ok(&["topic", "describe", "orders", "--data-dir", d], None);
    assert!(desc.contains("Partitions: 3"), "{desc}");
    assert!(desc.contains("retention.ms=3600000  (set)"), "{desc}");
    assert!(desc.contains("cleanup.policy=compact  (set)"), "{desc}");
    assert!(desc.contains("segment.bytes=1073741824"), "defaults are listed: {desc}");

    let input = "k1:hello\nk2:world\nk1:again\nno-key-line\n";
    ok(&["produce", "orders", "--key-separator", ":", "--data-dir", d], Some(input));
    let out = ok(&["consume", "orders", "--from-beginning", "--group", "g1", "--data-dir", d], None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    // Keyed records are on Kafka's partition for their key, in order within it.
    let p1 = brook_broker::partitioner::partition_for_key(b"k1", 3);
    let k1: Vec<&str> = lines.iter().copied().filter(|l| l.contains("key:k1 ")).collect();
    assert_eq!(k1.len(), 2);
    assert!(
        k1[0].starts_with(&format!("partition:{p1} offset:0 ")) && k1[0].ends_with("value:hello"),
        "{k1:?}"
    );
    assert!(k1[1].ends_with("value:again"));
    assert!(lines.iter().any(|l| l.contains("key:null value:no-key-line")));
    // The group committed its position: nothing new for it.
    let again = ok(&["consume", "orders", "--from-beginning", "--group", "g1", "--data-dir", d], None);
    assert!(again.is_empty(), "{again}");
    let two = ok(
        &[
            "consume",
            "orders",
            "--from-beginning",
            "--max-messages",
            "2",
            "--format",
            "json",
            "--data-dir",
            d,
        ],
        None,
    );
    assert_eq!(two.lines().count(), 2);
    let v: serde_json::Value = serde_json::from_str(two.lines().next().unwrap()).unwrap();
    assert!(v.get("offset").is_some() && v.get("timestamp").is_some());

    ok(&["topic", "delete", "orders", "--data-dir", d], None);
    let list = ok(&["topic", "list", "--data-dir", d], None);
    assert!(!list.lines().any(|l| l == "orders"));
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = brook(&["topic", "create", "bad/name", "--data-dir", d], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid topic name 'bad/name'") && err.contains("[a-zA-Z0-9._-]"), "{err}");
    let out = brook(&["topic", "describe", "nope", "--data-dir", d], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("create it first"));
    let out = brook(&["topic", "create", "t", "--config", "retention.ms=soon", "--data-dir", d], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention.ms=soon is not an integer"));
    // A running server owns its data directory.
    let server = Server::start(dir.path());
    let out = brook(&["topic", "list", "--data-dir", d], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--bootstrap"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.stop());
    let help = ok(&["--help"], None);
    for cmd in ["server", "topic", "produce", "consume"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn tools_through_a_server_and_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let b = server.bootstrap.clone();
    ok(&["topic", "create", "events", "--partitions", "2", "--bootstrap", &b], None);
    let input: String = (0..50).map(|i| format!("key{i}:value{i}\n")).collect();
    // Kafka's spelling works too.
    ok(&["produce", "events", "--key-separator", ":", "--bootstrap-servers", &b], Some(&input));
    let out = ok(
        &[
            "consume",
            "events",
            "--from-beginning",
            "--group",
            "cli",
            "--max-messages",
            "50",
            "--timeout-ms",
            "20000",
            "--bootstrap",
            &b,
        ],
        None,
    );
    assert_eq!(out.lines().count(), 50, "{out}");
    for line in out.lines() {
        let key = line.split("key:").nth(1).unwrap().split(' ').next().unwrap();
        let p = brook_broker::partitioner::partition_for_key(key.as_bytes(), 2);
        assert!(line.starts_with(&format!("partition:{p} ")), "{line}");
    }
    let desc = ok(&["topic", "describe", "events", "--bootstrap", &b], None);
    assert!(desc.contains("Partitions: 2"), "{desc}");
    // The group's positions were committed: it has nothing new to read.
    let resumed = &["consume", "events", "--group", "cli", "--timeout-ms", "500", "--bootstrap", &b];
    let out = brook(resumed, None);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Consumed 0 record(s)."), "{out:?}");
    // A reader waits for records produced after it started.
    let follower = std::process::Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["consume", "events", "--group", "cli", "--max-messages", "2", "--timeout-ms", "30000"])
        .args(["--format", "json", "--bootstrap", &b])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ok(&["produce", "events", "--key-separator", ":", "--bootstrap", &b], Some("late1:x\nlate2:y\n"));
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["late1", "late2"]);

    // Configs change through the server: set two, then reset one; the other stays set.
    let alter = &["topic", "alter", "events", "--config", "cleanup.policy=compact"];
    ok(&[&alter[..], &["--config", "retention.ms=3600000", "--bootstrap", &b]].concat(), None);
    let desc = ok(&["topic", "describe", "events", "--bootstrap", &b], None);
    assert!(
        desc.contains("retention.ms=3600000  (set)") && desc.contains("cleanup.policy=compact  (set)"),
        "{desc}"
    );
    ok(&["topic", "alter", "events", "--delete-config", "retention.ms", "--bootstrap", &b], None);
    let desc = ok(&["topic", "describe", "events", "--bootstrap", &b], None);
    assert!(desc.contains("cleanup.policy=compact  (set)"), "{desc}");
    assert!(desc.contains("retention.ms=604800000\n"), "back to the default: {desc}");
    let out = brook(&["topic", "alter", "events", "--config", "retention.ms=soon", "--bootstrap", &b], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused retention.ms=soon"), "{out:?}");
    let desc = ok(&["topic", "describe", "events", "--bootstrap", &b], None);
    assert!(desc.contains("cleanup.policy=compact  (set)"), "a refused change changes nothing: {desc}");
    let out = brook(&["topic", "alter", "nope", "--config", "retention.ms=1", "--bootstrap", &b], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("topic 'nope' does not exist"), "{out:?}");
    assert!(server.stop(), "SIGTERM shuts the server down cleanly");
    // After the restart the data is there (read directly from the data directory).
    let d = dir.path().to_str().unwrap();
    let all = ok(&["consume", "events", "--from-beginning", "--data-dir", d], None);
    assert_eq!(all.lines().count(), 52);
}

/// DeleteGroups answers only once the deletion is durable: a `brook server` killed with SIGKILL
/// at a random moment while groups are being deleted comes back without any group whose
/// deletion it acknowledged, and with every group it was never asked to delete.
#[test]
fn deleted_groups_stay_deleted_after_kill_9() {
    use brook_client::{Cluster, Committed, KafkaCluster};
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let groups: Vec<String> = (0..40).map(|i| format!("group-{i}")).collect();
    {
        let cluster = KafkaCluster::connect(&server.bootstrap).unwrap();
        cluster.create_topic("t", 2, &[]).unwrap();
        for (i, g) in groups.iter().enumerate() {
            let positions = [("t", 0, Committed::new(i as i64)), ("t", 1, Committed::new(1))];
            cluster.commit(g, &positions).unwrap();
        }
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let kill_after = 1 + nanos as usize % 30;
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let bootstrap = server.bootstrap.clone();
    let deleter = std::thread::spawn(move || {
        let admin: AdminClient<DefaultClientContext> =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
        let timeout = Some(std::time::Duration::from_secs(3));
        let opts = AdminOptions::new().request_timeout(timeout).operation_timeout(timeout);
        for i in 0..40 {
            let group = format!("group-{i}");
            match futures::executor::block_on(admin.delete_groups(&[&group], &opts)) {
                Ok(results) if results.iter().all(|r| r.is_ok()) => {
                    if tx.send(i).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        acked.push(rx.recv_timeout(std::time::Duration::from_secs(30)).expect("a deletion is acknowledged"));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(rx);
    deleter.join().unwrap();

    let broker = brook_broker::Broker::open(brook_broker::BrokerConfig::new(dir.path())).unwrap();
    let last = *acked.last().unwrap();
    for (i, g) in groups.iter().enumerate() {
        let offsets = (broker.committed_offset(g, "t", 0), broker.committed_offset(g, "t", 1));
        if i <= last {
            assert_eq!(offsets, (None, None), "{g}: deletion acknowledged (killed after {kill_after})");
        } else if i > last + 1 {
            // Never asked: both offsets as committed. (The one in flight may be either way.)
            assert_eq!(offsets.0.map(|o| o.offset), Some(i as i64), "{g}");
            assert_eq!(offsets.1.map(|o| o.offset), Some(1), "{g}");
        }
    }
    broker.close().unwrap();
}
