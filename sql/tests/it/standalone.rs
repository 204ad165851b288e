//! `Engine::query_topology`: a registered query compiled for an executor the caller runs,
//! with its own sink topic or a discarding sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use brook_broker::{Broker, BrokerConfig};
use brook_sql::compile::Sink;
use brook_sql::engine::StatementResult;
use brook_sql::{Engine, EngineConfig, Session};
use brook_streams::test_driver::TopologyTestDriver;

/// Runs `sql` and returns the id of the last query it created.
fn create(engine: &Engine, sql: &str) -> anyhow::Result<String> {
    let mut id = None;
    for e in engine.execute(sql, &mut Session::default()) {
        if let StatementResult::Message { query_id: Some(q), .. } =
            e.result.map_err(|err| anyhow::anyhow!("{}: {err}", e.statement))?
        {
            id = Some(q);
        }
    }
    id.ok_or_else(|| anyhow::anyhow!("no query was created"))
}

fn pipe(driver: &mut TopologyTestDriver, values: &[&str]) -> anyhow::Result<()> {
    for (i, v) in values.iter().enumerate() {
        driver.pipe_raw("orders", None, Some(v.as_bytes()), i as i64, Vec::new())?;
    }
    Ok(())
}

#[test]
fn query_topology_runs_outside_the_engine_with_its_sink_or_a_discarding_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(BrokerConfig::new(dir.path()))?;
    let engine = Engine::open(
        std::sync::Arc::new(brook_client::EmbeddedCluster::new(broker.clone())),
        EngineConfig::deterministic(),
    )?;
    let id = create(
        &engine,
        "CREATE STREAM orders (id BIGINT, amount INT) WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON', PARTITIONS=1);
         CREATE STREAM big AS SELECT id, amount * 2 AS doubled FROM orders WHERE amount > 10;",
    )?;
    let input = [r#"{"id":1,"amount":5}"#, r#"{"id":2,"amount":50}"#, r#"{"id":3,"amount":70}"#];

    // As the engine runs it: rows go to the sink topic, encoded.
    let mut driver = TopologyTestDriver::new(engine.query_topology(&id, None)?)?;
    pipe(&mut driver, &input)?;
    let out: Vec<String> = driver
        .read_output("BIG")
        .iter()
        .filter_map(|r| r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_eq!(out, vec![r#"{"ID":2,"DOUBLED":100}"#, r#"{"ID":3,"DOUBLED":140}"#]);

    // With a discarding sink: the same rows are counted, nothing is written.
    let rows = Arc::new(AtomicU64::new(0));
    let topology = engine.query_topology(&id, Some(Sink::Discard { rows: rows.clone() }))?;
    assert!(topology.describe().contains("Sink: discard"), "{}", topology.describe());
    let mut driver = TopologyTestDriver::new(topology)?;
    pipe(&mut driver, &input)?;
    assert_eq!(rows.load(Ordering::Relaxed), 2);
    assert!(driver.read_output("BIG").is_empty());

    let missing = engine.query_topology("CSAS_NOPE_9", None);
    assert!(missing.is_err(), "an unknown query id must fail");
    broker.close()?;
    Ok(())
}
