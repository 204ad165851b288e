//! The SQL specification against a separate `brook server` process reached only over TCP: the
//! same `.slt` files brook-sql's tests run on an embedded broker, each on a fresh server, with
//! the engine on a [`brook_client::KafkaCluster`] as `brook sql --bootstrap-servers` runs it.

#[path = "../../../sql/tests/it/slt.rs"]
mod slt;

#[test]
fn sql_logic_tests_against_a_separate_server() {
    slt::run_suite(|| {
        let dir = tempfile::tempdir()?;
        let server = super::Server::start_with(dir.path(), &["--no-http"]);
        let bootstrap = server.bootstrap.clone();
        slt::BrookDb::on_cluster(&bootstrap, Box::new((server, dir)))
    });
}

/// `brook sql --bootstrap-servers`: the shell's engine runs in its own process with its catalog
/// in the cluster, so a second shell on the same cluster finds the first one's stream and table,
/// restarts its query (from the committed offsets) and answers a pull query from it.
#[test]
fn shells_on_one_cluster_share_the_catalog() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = super::Server::start_with(dirs[0].path(), &["--no-http"]);
    let shell = |dir: &tempfile::TempDir, script: &str| {
        let state = dir.path().to_str().unwrap();
        super::ok(&["sql", "--bootstrap-servers", &server.bootstrap, "--data-dir", state, "-e", script], None)
    };
    let first = shell(
        &dirs[1],
        "CREATE STREAM s (id INT KEY, v STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2);
         INSERT INTO s (id, v) VALUES (1, 'first');
         INSERT INTO s (id, v) VALUES (2, 'second');
         INSERT INTO s (id, v) VALUES (3, 'second');
         SET 'auto.offset.reset'='earliest';
         CREATE TABLE t AS SELECT v, COUNT(*) AS n FROM s GROUP BY v;",
    );
    assert!(first.contains("Created query with ID CTAS_T_1"), "{first}");
    let second = shell(&dirs[2], "SHOW STREAMS; SELECT v, n FROM t WHERE v = 'second';");
    assert!(second.contains("| S "), "{second}");
    let row = second.lines().find(|l| l.contains("| second ")).unwrap_or_else(|| panic!("{second}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells, ["second", "2"], "{second}");
    // The shells' directories hold query state only; the topics are in the server's.
    assert!(!dirs[1].path().join("topics").exists(), "a remote shell opened a broker");
    assert!(dirs[0].path().join("topics").join("s").exists(), "topic s is not in the server's directory");
    assert!(server.stop(), "the server did not stop cleanly");
}
