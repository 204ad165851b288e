//! The engine on real stream threads over an embedded broker.

use std::time::Duration;

use brook_broker::{Broker, BrokerConfig};
use brook_sql::engine::{PushEvent, StatementResult};
use brook_sql::{Engine, EngineConfig, Session};

fn open(dir: &std::path::Path) -> anyhow::Result<(Broker, std::sync::Arc<Engine>)> {
    let broker = Broker::open(BrokerConfig::new(dir.join("broker")))?;
    let engine = Engine::open(broker.clone(), EngineConfig::runtime(dir))?;
    Ok((broker, engine))
}

fn run(engine: &Engine, session: &mut Session, sql: &str) -> anyhow::Result<Vec<StatementResult>> {
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
    q.cancel();
    engine.shutdown();
    broker.close()?;
    Ok(())
}
