//! Brook SQL through the real server process: statements over `POST /ksql`, a push query over
//! `/query-stream`, CTAS output read back with a Kafka client over the protocol, errors in
//! ksqlDB's shape, and a persistent query that survives a server restart without losing or
//! double-counting input; two servers on one cluster (`--bootstrap-servers`) sharing one
//! catalog and one query.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{Value, json};

#[path = "../../src/shell/client.rs"]
#[allow(dead_code)]
pub mod client;

/// A `brook server` with its Kafka and HTTP addresses.
pub struct SqlServer {
    child: Child,
    /// Kafka listener HOST:PORT.
    pub bootstrap: String,
    /// HTTP API HOST:PORT.
    pub http: String,
}

impl SqlServer {
    /// Starts `brook server` on `dir` with both listeners on free ports.
    pub fn start(dir: &std::path::Path) -> SqlServer {
        let dir = dir.to_str().unwrap();
        SqlServer::spawn(&["--data-dir", dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"], None)
    }

    /// Starts `brook server --bootstrap-servers bootstrap` (no broker of its own) with its
    /// local state under `dir` and the HTTP API on a free port.
    pub fn on_cluster(bootstrap: &str, dir: &std::path::Path) -> SqlServer {
        let dir = dir.to_str().unwrap();
        SqlServer::spawn(
            &["--bootstrap-servers", bootstrap, "--data-dir", dir, "--http", "127.0.0.1:0"],
            Some(bootstrap),
        )
    }

    /// Runs `brook server ARGS` and waits for its listeners; `cluster` is where its topics live
    /// if it has no Kafka listener of its own.
    pub fn spawn(args: &[&str], cluster: Option<&str>) -> SqlServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
            .arg("server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brook server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for prefix in ["kafka listener on ", "http listener on "] {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let _ = tx.send((prefix, addr.trim().to_string()));
                    }
                }
            }
        });
        let mut bootstrap = cluster.unwrap_or_default().to_string();
        let mut http = String::new();
        while bootstrap.is_empty() || http.is_empty() {
            let (k, v) = rx.recv_timeout(Duration::from_secs(60)).expect("server printed its addresses");
            if k.starts_with("kafka") { bootstrap = v } else { http = v }
        }
        SqlServer { child, bootstrap, http }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> bool {
        super::terminate(&mut self.child)
    }

    /// SIGKILL (`kill -9`): the process gets no chance to flush or commit anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `POST /ksql`: status and parsed body.
    pub fn ksql(&self, sql: &str, props: Value) -> (u16, Value) {
        let r = client::post(&self.http, "/ksql", &json!({"ksql": sql, "streamsProperties": props}))
            .expect("POST /ksql");
        let status = r.status;
        let text = r.text().expect("read /ksql response");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

impl Drop for SqlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

fn produce(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, key: &str, value: &str) {
    p.send(BaseRecord::to(topic).key(key).payload(value)).expect("send");
    p.flush(Duration::from_secs(10)).expect("flush");
}

/// Reads `topic` from the beginning until `done` says the latest value per key is complete.
fn read_latest(
    bootstrap: &str,
    topic: &str,
    done: impl Fn(&std::collections::BTreeMap<String, Value>) -> bool,
) -> std::collections::BTreeMap<String, Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("check-{topic}-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut latest = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !done(&latest) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            let value: Value =
                m.payload().and_then(|p| serde_json::from_slice(p).ok()).unwrap_or(Value::Null);
            latest.insert(key, value);
        }
    }
    latest
}

fn counts(latest: &std::collections::BTreeMap<String, Value>) -> Vec<(String, i64)> {
    latest.iter().map(|(k, v)| (k.clone(), v.get("N").and_then(Value::as_i64).unwrap_or(-1))).collect()
}

#[test]
fn sql_over_http_and_kafka_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqlServer::start(dir.path());
    let earliest = json!({"auto.offset.reset": "earliest"});

    // Statements over POST /ksql, one entity per statement.
    let (status, body) = server.ksql(
        "CREATE STREAM pageviews (user_id STRING KEY, page STRING) WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=2);
         CREATE TABLE counts AS SELECT user_id, COUNT(*) AS n FROM pageviews GROUP BY user_id EMIT CHANGES;",
        earliest.clone(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["commandStatus"]["message"], "Stream created");
    assert_eq!(body[1]["commandStatus"]["queryId"], "CTAS_COUNTS_1");

    // Errors have ksqlDB's shape and say where the statement went wrong.
    let (status, err) = server.ksql("CREATE STREAM x (a INT) WITH (KAFKA_TOPIC=);", json!({}));
    assert_eq!(status, 400);
    assert_eq!(err["@type"], "statement_error");
    assert_eq!(err["error_code"], 40001);
    assert!(err["message"].as_str().unwrap().starts_with("line 1:43: expected a literal"), "{err}");

    // A body that is not the expected JSON gets a 400 that says what was expected.
    for bad in [json!("garbage"), json!({}), json!({"ksql": 5})] {
        let r = client::post(&server.http, "/ksql", &bad).expect("POST /ksql");
        assert_eq!(r.status, 400, "{bad}");
        let err: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        assert_eq!(err["@type"], "generic_error", "{err}");
        assert!(err["message"].as_str().unwrap().contains("expected JSON like"), "{err}");
    }
    let health: Value =
        serde_json::from_str(&client::get(&server.http, "/healthcheck").unwrap().text().unwrap()).unwrap();
    assert_eq!(health["isHealthy"], true, "{health}");

    // Input through the Kafka protocol; the CTAS output read back through it too.
    let p = producer(&server.bootstrap);
    for (k, page) in [("u1", "home"), ("u2", "home"), ("u1", "cart"), ("u1", "checkout")] {
        produce(&p, "pageviews", k, &json!({"page": page}).to_string());
    }
    let latest =
        read_latest(&server.bootstrap, "COUNTS", |m| counts(m) == [("u1".into(), 3), ("u2".into(), 1)]);
    assert_eq!(counts(&latest), vec![("u1".to_string(), 3), ("u2".to_string(), 1)]);

    // A push query streams rows as they arrive.
    let resp = client::post(
        &server.http,
        "/query-stream",
        &json!({"sql": "SELECT user_id, page FROM pageviews WHERE page = 'pay' EMIT CHANGES LIMIT 1;", "properties": {}}),
    )
    .expect("POST /query-stream");
    assert_eq!(resp.status, 200);
    let mut lines = resp.lines();
    let header: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(header["columnNames"], json!(["USER_ID", "PAGE"]));
    produce(&p, "pageviews", "u2", &json!({"page": "pay"}).to_string());
    let row: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(row, json!(["u2", "pay"]));

    // Restart: the query comes back (from the command topic) and continues where it was.
    drop(p);
    assert!(server.stop(), "server did not stop cleanly");
    let server = SqlServer::start(dir.path());
    let (_, queries) = server.ksql("SHOW QUERIES;", json!({}));
    assert_eq!(queries[0]["queries"][0]["id"], "CTAS_COUNTS_1", "{queries}");
    assert_eq!(queries[0]["queries"][0]["state"], "RUNNING");
    let p = producer(&server.bootstrap);
    produce(&p, "pageviews", "u1", &json!({"page": "home"}).to_string());
    let latest =
        read_latest(&server.bootstrap, "COUNTS", |m| counts(m) == [("u1".into(), 4), ("u2".into(), 2)]);
    assert_eq!(counts(&latest), vec![("u1".to_string(), 4), ("u2".to_string(), 2)]);

    // Pull query over /query-stream sees the same state.
    let resp = client::post(
        &server.http,
        "/query-stream",
        &json!({"sql": "SELECT * FROM counts WHERE user_id = 'u1';"}),
    )
    .unwrap();
    let body: Vec<String> = resp.lines().map_while(Result::ok).collect();
    assert_eq!(body[1], r#"["u1",4]"#, "{body:?}");
    drop(p);
    assert!(server.stop());
}

/// Two `brook server --bootstrap-servers` processes on one broker: what is created through one
/// is listed, described and queryable (push and pull) through the other, and a persistent
/// query created through one runs on both, sharing its partitions through its consumer group.
#[test]
fn two_servers_on_one_cluster_share_catalog_and_queries() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let broker = super::Server::start_with(dirs[0].path(), &["--no-http"]);
    let a = SqlServer::on_cluster(&broker.bootstrap, dirs[1].path());
    let b = SqlServer::on_cluster(&broker.bootstrap, dirs[2].path());
    let earliest = json!({"auto.offset.reset": "earliest"});

    let (status, body) = a.ksql(
        "CREATE STREAM pageviews (user_id STRING KEY, page STRING) WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=4);
         CREATE TABLE counts AS SELECT user_id, COUNT(*) AS n FROM pageviews GROUP BY user_id EMIT CHANGES;",
        earliest.clone(),
    );
    assert_eq!(status, 200, "{body}");

    // Listed and described through the other server.
    let (status, streams) = b.ksql("SHOW STREAMS;", json!({}));
    assert_eq!(status, 200, "{streams}");
    let names: Vec<&str> =
        streams[0]["streams"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains(&"PAGEVIEWS"), "{streams}");
    let (status, described) = b.ksql("DESCRIBE pageviews;", json!({}));
    assert_eq!(status, 200, "{described}");
    assert_eq!(described[0]["sourceDescription"]["topic"], "pageviews", "{described}");
    // A server of another service on the same cluster keeps a catalog of its own.
    let other = SqlServer::spawn(
        &[
            "--bootstrap-servers",
            &broker.bootstrap,
            "--data-dir",
            dirs[3].path().to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--service-id",
            "other",
            "--no-connectors",
        ],
        Some(&broker.bootstrap),
    );
    let (_, streams) = other.ksql("SHOW STREAMS;", json!({}));
    assert!(!streams.to_string().contains("PAGEVIEWS"), "{streams}");
    let info: Value =
        serde_json::from_str(&client::get(&other.http, "/info").unwrap().text().unwrap()).unwrap();
    assert_eq!(info["KsqlServerInfo"]["ksqlServiceId"], "other", "{info}");
    assert!(other.stop(), "the other service's server did not stop cleanly");

    // The query appears there as well, and runs there (its follower starts it within a moment).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, queries) = b.ksql("SHOW QUERIES;", json!({}));
        if queries[0]["queries"][0]["id"] == "CTAS_COUNTS_1" {
            assert_eq!(queries[0]["queries"][0]["state"], "RUNNING", "{queries}");
            break;
        }
        assert!(Instant::now() < deadline, "the query never appeared on the second server: {queries}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Input over the Kafka protocol; the table's counts read back through the other server.
    let p = producer(&broker.bootstrap);
    let users = ["u1", "u2", "u3", "u4", "u5", "u6"];
    for round in 0..3 {
        for (i, u) in users.iter().enumerate() {
            if i <= round * 2 + 1 {
                produce(&p, "pageviews", u, &json!({"page": format!("p{round}")}).to_string());
            }
        }
    }
    // u1, u2: 3 views; u3, u4: 2; u5, u6: 1.
    let want = |u: &str| match u {
        "u1" | "u2" => 3,
        "u3" | "u4" => 2,
        _ => 1,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for server in [&b, &a] {
        for u in users {
            loop {
                let resp = client::post(
                    &server.http,
                    "/query-stream",
                    &json!({"sql": format!("SELECT n FROM counts WHERE user_id = '{u}';")}),
                )
                .unwrap();
                let body: Vec<String> = resp.lines().map_while(Result::ok).collect();
                if body.get(1).map(String::as_str) == Some(format!("[{}]", want(u)).as_str()) {
                    break;
                }
                assert!(Instant::now() < deadline, "pull query for {u} through {}: {body:?}", server.http);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    // A push query through the second server over what the first one created.
    let resp = client::post(
        &b.http,
        "/query-stream",
        &json!({"sql": "SELECT user_id, page FROM pageviews WHERE user_id = 'u6' EMIT CHANGES LIMIT 2;",
                "properties": {"auto.offset.reset": "earliest"}}),
    )
    .expect("POST /query-stream");
    assert_eq!(resp.status, 200);
    let mut lines = resp.lines();
    let header: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(header["columnNames"], json!(["USER_ID", "PAGE"]));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first, json!(["u6", "p2"]));
    produce(&p, "pageviews", "u6", &json!({"page": "late"}).to_string());
    let second: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second, json!(["u6", "late"]));

    // TERMINATE through one stops the query on both.
    let (status, body) = b.ksql("DROP TABLE counts DELETE TOPIC;", json!({}));
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, tables) = a.ksql("SHOW TABLES;", json!({}));
        if tables[0]["tables"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "the first server still lists the table: {tables}");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(p);
    assert!(a.stop(), "first SQL server did not stop cleanly");
    assert!(b.stop(), "second SQL server did not stop cleanly");
    assert!(broker.stop(), "broker did not stop cleanly");
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Back-pressure over HTTP (issue 18): a push query's rows went into an unbounded channel,
/// so a client that stopped reading made the server buffer the whole stream in memory. Now
/// the query waits for the client: with 60,000 rows of 1 KiB waiting (60 MiB; an unbounded
/// buffer grew the server by more than that) and a client that reads the first row and stops, the server's memory
/// comes to rest less than 24 MiB above where it was (the bounded row buffer, one fetch, the
/// sockets' buffers); once the client reads again, every row arrives, in order.
#[test]
fn a_push_query_over_http_waits_for_a_client_that_stops_reading() {
    const ROWS: usize = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let server = SqlServer::start(dir.path());
    let (status, body) = server.ksql(
        "CREATE STREAM fast (id STRING KEY, n INT, pad STRING) WITH (KAFKA_TOPIC='fast', VALUE_FORMAT='JSON', PARTITIONS=1);",
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    let p = producer(&server.bootstrap);
    let pad = "p".repeat(1024);
    for i in 0..ROWS {
        let value = json!({"n": i, "pad": pad}).to_string();
        let key = format!("k{i}");
        let mut record = BaseRecord::to("fast").key(&key).payload(&value);
        while let Err((_, back)) = p.send(record) {
            record = back;
            p.poll(Duration::from_millis(10));
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush");

    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(server.child.id());
    let resp = client::post(
        &server.http,
        "/query-stream",
        &json!({"sql": "SELECT n, pad FROM fast EMIT CHANGES;", "properties": {"auto.offset.reset": "earliest"}}),
    )
    .expect("POST /query-stream");
    assert_eq!(resp.status, 200);
    let mut lines = resp.lines();
    let header: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(header["queryId"].as_str().is_some(), "{header}");
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first[0], 0);

    // Not reading: the server's memory must come to rest well below what the rows take.
    let pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    let rested = loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = rss_kib(pid);
        if now.abs_diff(last) < 1024 || Instant::now() > deadline {
            break now;
        }
        last = now;
    };
    eprintln!("server memory: {before} KiB before the push query, {rested} KiB with its client not reading");
    assert!(
        rested < before + 24 * 1024,
        "with the client not reading, the server grew from {before} KiB to {rested} KiB"
    );

    // Reading again: everything arrives, in order.
    let mut expected = 1;
    for line in lines {
        let row: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(row[0], expected, "rows out of order or lost");
        expected += 1;
        if expected == ROWS {
            break;
        }
    }
    assert_eq!(expected, ROWS);
    assert!(server.stop(), "the server stops cleanly with the push query open");
}
