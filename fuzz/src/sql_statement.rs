//! The SQL parser and planner: arbitrary text split into statements and parsed; each
//! statement that parses is then planned against a small catalog (a stream of nested types,
//! a table, a Debezium change table, a windowed table, a custom type) without changing it:
//! queries through `EXPLAIN` (planned and compiled into a topology, nothing started), pull
//! queries run on the empty state, `CREATE STREAM/TABLE` and `CREATE TYPE` resolved as the
//! catalog would. Every statement must end in `Ok` or `Err`; panics, stack overflows and
//! hangs are findings.

use std::sync::{Arc, Mutex, OnceLock};

use brook_broker::{Broker, BrokerConfig};
use brook_sql::catalog::{Catalog, ddl};
use brook_sql::parser::{Parsed, Statement, parse_statement_text, split_statements};
use brook_sql::{Engine, EngineConfig, Session};

/// The catalog every input is planned against.
pub const CATALOG: &str = "
CREATE TYPE ADDRESS_T AS STRUCT<city STRING, zip INT, geo STRUCT<lat DOUBLE, lon DOUBLE>>;
CREATE STREAM orders (id BIGINT KEY, customer STRING, amount DOUBLE, price DECIMAL(10, 2),
  tags ARRAY<STRING>, address ADDRESS_T, attrs MAP<STRING, INT>, lines ARRAY<STRUCT<sku STRING, qty INT>>,
  raw BYTES, at TIMESTAMP, day DATE, ts BIGINT)
  WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON', PARTITIONS=2, TIMESTAMP='ts');
CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, country STRING, score INT)
  WITH (KAFKA_TOPIC='customers', VALUE_FORMAT='JSON', PARTITIONS=2);
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING, balance DOUBLE)
  WITH (KAFKA_TOPIC='db.accounts', VALUE_FORMAT='DEBEZIUM_JSON', PARTITIONS=1);
CREATE STREAM clicks (user STRING KEY, page STRING, ms INT)
  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='DELIMITED', KEY_FORMAT='KAFKA', PARTITIONS=1);
CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n, SUM(amount) AS total
  FROM orders WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY customer EMIT CHANGES;
CREATE TABLE totals AS SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer;
";

struct Target {
    engine: Arc<Engine>,
    session: Mutex<Session>,
    _broker: Broker,
    _dir: tempfile::TempDir,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        let broker = Broker::open(config).unwrap();
        let engine = Engine::open(
            Arc::new(brook_client::EmbeddedCluster::new(broker.clone())),
            EngineConfig::deterministic(),
        )
        .unwrap();
        let mut session = Session::default();
        for executed in engine.execute(CATALOG, &mut session) {
            if let Err(e) = executed.result {
                panic!("the fuzz catalog: {}: {e}", executed.statement);
            }
        }
        Target { engine, session: Mutex::new(session), _broker: broker, _dir: dir }
    })
}

/// The catalog's custom types, for resolving `CREATE STREAM/TABLE` and `CREATE TYPE`.
fn type_catalog() -> Catalog {
    let mut catalog = Catalog::new();
    let address = brook_sql::parser::parse_statement(
        "CREATE TYPE ADDRESS_T AS STRUCT<city STRING, zip INT, geo STRUCT<lat DOUBLE, lon DOUBLE>>",
    )
    .unwrap();
    if let Statement::CreateType { name, ty, .. } = address.statement {
        let ty = catalog.resolve_type(&ty).unwrap();
        catalog.add_type(&name, ty, false).unwrap();
    }
    catalog
}

/// Plans one parsed statement without changing the catalog.
fn plan(parsed: Parsed) {
    let t = target();
    let mut session = t.session.lock().unwrap_or_else(|e| e.into_inner());
    match &parsed.statement {
        Statement::CreateAsSelect(_) | Statement::InsertSelect { .. } | Statement::Select(_) => {
            let pull = matches!(&parsed.statement, Statement::Select(q) if q.emit.is_none());
            let statement = if pull {
                parsed
            } else {
                Parsed {
                    text: format!("EXPLAIN {}", parsed.text),
                    statement: Statement::Explain(Box::new(parsed)),
                }
            };
            let _ = t.engine.execute_parsed(&statement, &mut session);
        }
        Statement::Explain(_) => {
            let _ = t.engine.execute_parsed(&parsed, &mut session);
        }
        Statement::CreateSource(c) => {
            if let Ok((def, _)) = ddl::source_from_create(&type_catalog(), c, &parsed.text) {
                let _ = ddl::validate(&def);
            }
        }
        Statement::CreateType { ty, .. } => {
            let _ = type_catalog().resolve_type(ty);
        }
        _ => {}
    }
}

/// One input: SQL text (not UTF-8: nothing to do).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for statement in split_statements(text) {
        if let Ok(parsed) = parse_statement_text(&statement) {
            plan(parsed);
        }
    }
}
