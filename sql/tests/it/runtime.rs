//! The engine on real stream threads over an embedded broker.

use std::time::Duration;

use brook_broker::{Broker, BrokerConfig};
use brook_sql::engine::{PushEvent, StatementResult};
use brook_sql::{Engine, EngineConfig, Session};

/// A broker and a runtime engine (queries on threads) under `dir`.
pub(crate) fn open(dir: &std::path::Path) -> anyhow::Result<(Broker, std::sync::Arc<Engine>)> {
    let broker = Broker::open(BrokerConfig::new(dir.join("broker")))?;
    let engine = Engine::open(
        std::sync::Arc::new(brook_client::EmbeddedCluster::new(broker.clone())),
        EngineConfig::runtime(dir),
    )?;
    Ok((broker, engine))
}

/// Executes `sql`, failing on the first statement that fails.
pub(crate) fn run(engine: &Engine, session: &mut Session, sql: &str) -> anyhow::Result<Vec<StatementResult>> {
    let mut out = Vec::new();
    for e in engine.execute(sql, session) {
        out.push(e.result.map_err(|err| anyhow::anyhow!("{}: {err}", e.statement))?);
    }
    Ok(out)
}

fn pull(engine: &Engine, session: &mut Session, sql: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    match run(engine, session, sql)?.pop() {
        Some(StatementResult::Rows(r)) => Ok(r.rows),
        other => anyhow::bail!("expected rows, got {other:?}"),
    }
}

#[test]
fn persistent_query_survives_restart_and_push_query_streams() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    {
        let (broker, engine) = open(dir.path())?;
        run(
            &engine,
            &mut s,
            "CREATE STREAM clicks (user_id STRING KEY, page STRING) WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=2);
             CREATE TABLE counts AS SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id EMIT CHANGES;
             INSERT INTO clicks (user_id, page) VALUES ('a', 'home');
             INSERT INTO clicks (user_id, page) VALUES ('b', 'home');
             INSERT INTO clicks (user_id, page) VALUES ('a', 'cart');",
        )?;
        assert!(engine.wait_idle(Duration::from_secs(20)), "query did not catch up");
        let rows = pull(&engine, &mut s, "SELECT * FROM counts WHERE user_id = 'a';")?;
        assert_eq!(rows, vec![serde_json::json!(["a", 2])]);
        engine.shutdown();
        broker.close()?;
    }
    // Restart: the catalog and the query come back, and counting continues from the state.
    let (broker, engine) = open(dir.path())?;
    let mut s2 = Session::default();
    run(&engine, &mut s2, "INSERT INTO clicks (user_id, page) VALUES ('a', 'checkout');")?;
    assert!(engine.wait_idle(Duration::from_secs(20)), "query did not catch up after restart");
    let rows = pull(&engine, &mut s2, "SELECT user_id, n FROM counts;")?;
    let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    rows.sort();
    assert_eq!(rows, vec![r#"["a",3]"#.to_string(), r#"["b",1]"#.to_string()]);

    // A push query sees new rows as they arrive, and stops at its LIMIT.
    let res = run(&engine, &mut s2, "SELECT user_id, page FROM clicks EMIT CHANGES LIMIT 2;")?.pop();
    let Some(StatementResult::Push(mut q)) = res else { anyhow::bail!("expected a push query") };
    run(
        &engine,
        &mut s2,
        "INSERT INTO clicks (user_id, page) VALUES ('c', 'p1'); INSERT INTO clicks (user_id, page) VALUES ('d', 'p2');",
    )?;
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match q.rows.try_recv() {
            Ok(PushEvent::Row(r)) => got.push(r.to_string()),
            Ok(PushEvent::End(_)) => break,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    got.sort();
    assert_eq!(got, vec![r#"["c","p1"]"#.to_string(), r#"["d","p2"]"#.to_string()]);
    let transient =
        |b: &Broker| b.group_offsets().groups().into_iter().filter(|g| g.contains("transient")).count();
    assert_eq!(transient(&broker), 1, "the running push query has its consumer group");
    q.cancel();
    assert_eq!(transient(&broker), 0, "a cancelled push query leaves no committed offsets behind");
    engine.shutdown();
    broker.close()?;
    Ok(())
}

/// Aggregating a TABLE on real stream threads with three partitions: updates, moves between
/// groups (which re-key through the repartition topic to another partition) and deletes keep
/// the aggregate equal to the one computed from the table's final state; a group whose rows
/// are all deleted disappears.
#[test]
fn table_aggregate_across_partitions_follows_updates_moves_and_deletes() -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir()?;
    let (broker, engine) = open(dir.path())?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    run(
        &engine,
        &mut s,
        "CREATE TABLE accounts (id INT PRIMARY KEY, region STRING, balance BIGINT)
           WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='JSON', PARTITIONS=3);
         CREATE STREAM accounts_raw (id INT KEY, v STRING) WITH (KAFKA_TOPIC='accounts', VALUE_FORMAT='KAFKA');
         CREATE TABLE by_region AS
           SELECT region, COUNT(*) AS n, SUM(balance) AS total FROM accounts GROUP BY region EMIT CHANGES;",
    )?;
    // A fixed pseudo-random history over 40 rows and 5 regions; `model` is the table it leaves.
    let mut model: BTreeMap<i32, (String, i64)> = BTreeMap::new();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut script = String::new();
    for _ in 0..400 {
        let id = next(40) as i32;
        if next(100) < 15 {
            model.remove(&id);
            script.push_str(&format!("INSERT INTO accounts_raw (id, v) VALUES ({id}, NULL);\n"));
        } else {
            let region = format!("r{}", next(5));
            let balance = next(1000) as i64 - 200;
            script.push_str(&format!(
                "INSERT INTO accounts (id, region, balance) VALUES ({id}, '{region}', {balance});\n"
            ));
            model.insert(id, (region, balance));
        }
    }
    // Empty region r0 entirely: its group must be deleted.
    let r0: Vec<i32> = model.iter().filter(|(_, (r, _))| r == "r0").map(|(id, _)| *id).collect();
    assert!(!r0.is_empty(), "the history should leave rows in r0");
    for id in r0 {
        model.remove(&id);
        script.push_str(&format!("INSERT INTO accounts_raw (id, v) VALUES ({id}, NULL);\n"));
    }
    run(&engine, &mut s, &script)?;
    assert!(engine.wait_idle(Duration::from_secs(30)), "query did not catch up");

    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (region, balance) in model.values() {
        let e = expected.entry(region.clone()).or_default();
        e.0 += 1;
        e.1 += balance;
    }
    let mut got: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in pull(&engine, &mut s, "SELECT region, n, total FROM by_region;")? {
        let region = row[0].as_str().unwrap_or_default().to_string();
        got.insert(region, (row[1].as_i64().unwrap_or(-1), row[2].as_i64().unwrap_or(-1)));
    }
    assert!(!got.contains_key("r0"), "the emptied group r0 is still there: {got:?}");
    assert_eq!(got, expected);
    engine.shutdown();
    broker.close()?;
    Ok(())
}

/// Regression: transient query ids restart at 1 in a new process, and a push query used to
/// resume from the offsets its namesake committed in an earlier process — so after a restart
/// `SELECT … EMIT CHANGES` from `earliest` returned nothing.
#[test]
fn push_query_after_restart_reads_from_auto_offset_reset_not_an_earlier_namesake() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    let first_row = |engine: &Engine, s: &mut Session| -> anyhow::Result<Option<String>> {
        let res = run(engine, s, "SELECT page FROM visits EMIT CHANGES LIMIT 1;")?.pop();
        let Some(StatementResult::Push(mut q)) = res else { anyhow::bail!("expected a push query") };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut got = None;
        while std::time::Instant::now() < deadline && got.is_none() {
            match q.rows.try_recv() {
                Ok(PushEvent::Row(r)) => got = Some(r.to_string()),
                Ok(PushEvent::End(_)) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // Let it commit its position, as a query that ran a while would have.
        std::thread::sleep(Duration::from_millis(400));
        q.cancel();
        Ok(got)
    };
    for round in 0..2 {
        let (broker, engine) = open(dir.path())?;
        if round == 0 {
            run(
                &engine,
                &mut s,
                "CREATE STREAM visits (page STRING) WITH (KAFKA_TOPIC='visits', VALUE_FORMAT='JSON', PARTITIONS=1);
                 INSERT INTO visits (page) VALUES ('home');",
            )?;
        }
        assert_eq!(first_row(&engine, &mut s)?, Some(r#"["home"]"#.to_string()), "round {round}");
        engine.shutdown();
        broker.close()?;
    }
    Ok(())
}

/// A stream `src` and two persistent queries over it: `GROWN` repeats each value four times
/// into the topic `grown`, which takes batches of at most 2000 bytes, and `COPIED` copies it.
/// Three records go in; the second grows past the limit. `fail` is the session's
/// `ksql.fail.on.production.error` (unset: the engine's default).
fn oversized_output(
    dir: &std::path::Path,
    fail: Option<&str>,
) -> anyhow::Result<(Broker, std::sync::Arc<Engine>, Session)> {
    let (broker, engine) = open(dir)?;
    let limited = brook_broker::TopicConfig::from_pairs([("max.message.bytes", "2000")])?;
    broker.create_topic("grown", 1, limited)?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    run(
        &engine,
        &mut s,
        "CREATE STREAM src (id STRING KEY, v STRING) WITH (KAFKA_TOPIC='src', VALUE_FORMAT='JSON', PARTITIONS=1);
         CREATE STREAM copied AS SELECT * FROM src EMIT CHANGES;",
    )?;
    if let Some(fail) = fail {
        run(&engine, &mut s, &format!("SET 'ksql.fail.on.production.error'='{fail}';"))?;
    }
    run(
        &engine,
        &mut s,
        &format!(
            "CREATE STREAM grown WITH (KAFKA_TOPIC='grown') AS SELECT id, v || v || v || v AS v4 FROM src EMIT CHANGES;
             INSERT INTO src (id, v) VALUES ('a', 'small');
             INSERT INTO src (id, v) VALUES ('b', '{}');
             INSERT INTO src (id, v) VALUES ('c', 'after');",
            "x".repeat(800)
        ),
    )?;
    Ok((broker, engine, s))
}

/// The record keys in `topic` (partition 0), waiting up to 20 s for `n` of them.
fn keys_in(broker: &Broker, topic: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let keys: Vec<String> = broker
            .read(topic, 0, 0, 1 << 20)?
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r.key.unwrap_or_default()).to_string())
            .collect();
        if keys.len() >= n || std::time::Instant::now() > deadline {
            return Ok(keys);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn queries(engine: &Engine, s: &mut Session) -> anyhow::Result<Vec<brook_sql::engine::QuerySummary>> {
    match run(engine, s, "SHOW QUERIES;")?.pop() {
        Some(StatementResult::Queries(q)) => Ok(q),
        other => anyhow::bail!("expected queries, got {other:?}"),
    }
}

/// Regression (issue 18): one output record over its topic's `max.message.bytes` killed the
/// query silently. With `ksql.fail.on.production.error` at its default (`true`, as in ksqlDB)
/// the query stops in state ERROR with the broker's refusal in `SHOW QUERIES` and in the HTTP
/// API's `queryErrors`; the other query over the same stream keeps running.
#[test]
fn an_oversized_output_record_fails_its_query_and_the_others_keep_running() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (broker, engine, mut s) = oversized_output(dir.path(), None)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let grown = loop {
        let list = queries(&engine, &mut s)?;
        let grown = list.into_iter().find(|q| q.sink == "GROWN").expect("the GROWN query");
        if grown.state == "ERROR" || std::time::Instant::now() > deadline {
            break grown;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(grown.state, "ERROR");
    let error = grown.error.clone().unwrap_or_default();
    assert!(
        error.contains("cannot write a record to grown") && error.contains("max.message.bytes=2000"),
        "{error}"
    );
    let api =
        brook_sql::api::entity("SHOW QUERIES;", &StatementResult::Queries(vec![grown])).expect("an entity");
    assert_eq!(api["queries"][0]["state"], "ERROR");
    assert_eq!(api["queries"][0]["queryErrors"][0]["errorMessage"], serde_json::json!(error));

    // The other query goes on: it copied all three, and copies what comes next.
    run(&engine, &mut s, "INSERT INTO src (id, v) VALUES ('d', 'later');")?;
    assert_eq!(keys_in(&broker, "COPIED", 4)?, vec!["a", "b", "c", "d"]);
    let copied = queries(&engine, &mut s)?.into_iter().find(|q| q.sink == "COPIED").expect("COPIED");
    assert_eq!((copied.state.as_str(), copied.error), ("RUNNING", None));
    assert!(!keys_in(&broker, "grown", 0)?.contains(&"b".to_string()));
    engine.shutdown();
    broker.close()?;
    Ok(())
}

/// With `SET 'ksql.fail.on.production.error'='false'` before the CSAS, the oversized record is
/// skipped, the records after it arrive, the query stays RUNNING, and the processing log has
/// one production error (ksqlDB's `MESSAGE->TYPE` 2) naming the record.
#[test]
fn an_oversized_output_record_is_skipped_to_the_processing_log_when_asked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (broker, engine, mut s) = oversized_output(dir.path(), Some("false"))?;
    assert_eq!(keys_in(&broker, "grown", 2)?, vec!["a", "c"]);
    let res = run(
        &engine,
        &mut s,
        "SELECT QUERY_ID, LEVEL, MESSAGE->TYPE, MESSAGE->PRODUCTIONERROR->ERRORMESSAGE, TOPIC
           FROM brook_processing_log EMIT CHANGES LIMIT 1;",
    )?
    .pop();
    let Some(StatementResult::Push(mut q)) = res else { anyhow::bail!("expected a push query") };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut entries = Vec::new();
    while std::time::Instant::now() < deadline {
        match q.rows.try_recv() {
            Ok(PushEvent::Row(r)) => entries.push(r),
            Ok(PushEvent::End(_)) => break,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    q.cancel();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert!(e[0].as_str().is_some_and(|id| id.starts_with("CSAS_GROWN_")), "{e}");
    assert_eq!(
        (&e[1], &e[2], &e[4]),
        (&serde_json::json!("ERROR"), &serde_json::json!(2), &serde_json::json!("grown"))
    );
    let message = e[3].as_str().unwrap_or_default();
    assert!(message.contains("key 'b'") && message.contains("max.message.bytes=2000"), "{message}");
    assert_eq!(broker.read(brook_sql::compile::PROCESSING_LOG_TOPIC, 0, 0, 1 << 20)?.len(), 1);
    let grown = queries(&engine, &mut s)?.into_iter().find(|q| q.sink == "GROWN").expect("GROWN");
    assert_eq!((grown.state.as_str(), grown.error), ("RUNNING", None));
    engine.shutdown();
    broker.close()?;
    Ok(())
}

/// Back-pressure (issue 18): a push query's rows used to go into an unbounded channel, so a
/// reader that stopped reading (a slow HTTP client) made the server buffer the whole stream.
/// Now the query puts at most `push_query_buffer_rows` rows in its buffer and waits: with
/// 3,000 records waiting and nobody reading, it has offered exactly the bound (the old code
/// offered all 3,000), and once the reader reads, every row arrives, in order.
#[test]
fn a_push_query_whose_reader_stalls_buffers_only_its_bound_and_loses_nothing() -> anyhow::Result<()> {
    const BOUND: usize = 50;
    const RECORDS: usize = 3000;
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker")))?;
    let mut config = EngineConfig::runtime(dir.path());
    config.push_query_buffer_rows = BOUND;
    let engine =
        Engine::open(std::sync::Arc::new(brook_client::EmbeddedCluster::new(broker.clone())), config)?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    run(
        &engine,
        &mut s,
        "CREATE STREAM fast (id INT KEY, n INT) WITH (KAFKA_TOPIC='fast', VALUE_FORMAT='JSON', PARTITIONS=1);",
    )?;
    let records = (0..RECORDS)
        .map(|i| {
            brook_broker::NewRecord::new(
                Some((i as i32).to_be_bytes().to_vec()),
                Some(format!("{{\"N\":{i}}}")),
            )
        })
        .collect();
    broker.produce("fast", None, records)?;

    let res = run(&engine, &mut s, "SELECT n FROM fast EMIT CHANGES;")?.pop();
    let Some(StatementResult::Push(mut q)) = res else { anyhow::bail!("expected a push query") };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while q.rows_offered() < BOUND as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The query had time to run ahead (it takes well under a second for 3,000 rows); it did not.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(q.rows_offered(), BOUND as u64, "rows offered while nobody read");
    assert_eq!(q.rows.len(), BOUND);

    let mut got = Vec::with_capacity(RECORDS);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < RECORDS && std::time::Instant::now() < deadline {
        match q.rows.try_recv() {
            Ok(PushEvent::Row(r)) => got.push(r[0].as_i64().unwrap_or(-1)),
            Ok(PushEvent::End(e)) => anyhow::bail!("the push query ended: {e:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(got, (0..RECORDS as i64).collect::<Vec<_>>());
    q.cancel();
    engine.shutdown();
    broker.close()?;
    Ok(())
}

/// The processing log's topic follows ksqlDB's naming: `<service id>processing_log`
/// (`brook_processing_log` for the default service, `team_processing_log` for service `team`),
/// or `ksql.logging.processing.topic.name`; the `BROOK_PROCESSING_LOG` stream reads it.
#[test]
fn the_processing_log_topic_is_the_services_or_the_one_configured() -> anyhow::Result<()> {
    for (service, configured, topic) in [
        (None, None, "brook_processing_log"),
        (Some("team"), None, "team_processing_log"),
        (Some("team"), Some("plog"), "plog"),
    ] {
        let dir = tempfile::tempdir()?;
        let broker = Broker::open(BrokerConfig::new(dir.path().join("broker")))?;
        let mut config = EngineConfig::deterministic();
        config.service_id = service.map(str::to_string);
        config.processing_log_topic = configured.map(str::to_string);
        let engine =
            Engine::open(std::sync::Arc::new(brook_client::EmbeddedCluster::new(broker.clone())), config)?;
        let mut s = Session::default();
        let res = run(
            &engine,
            &mut s,
            "SET 'auto.offset.reset'='earliest';
             CREATE STREAM nums (n INT) WITH (KAFKA_TOPIC='nums', VALUE_FORMAT='JSON', PARTITIONS=1);
             CREATE STREAM nums_raw (v STRING) WITH (KAFKA_TOPIC='nums', VALUE_FORMAT='KAFKA');
             CREATE STREAM doubled AS SELECT n * 2 AS d FROM nums;
             INSERT INTO nums_raw (v) VALUES ('not json');
             SELECT MESSAGE->TYPE FROM brook_processing_log EMIT CHANGES;",
        )?
        .pop();
        let Some(StatementResult::Push(mut q)) = res else { anyhow::bail!("expected a push query") };
        let mut rows = Vec::new();
        while let Ok(PushEvent::Row(r)) = q.rows.try_recv() {
            rows.push(r);
        }
        assert_eq!(rows, vec![serde_json::json!([0])], "{topic}");
        assert_eq!(broker.read(topic, 0, 0, 1 << 20)?.len(), 1, "{topic}");
        engine.shutdown();
        broker.close()?;
    }
    Ok(())
}
