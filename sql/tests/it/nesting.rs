//! Deeply nested input never overflows the stack: JSON and Debezium record values nested far
//! beyond the JSON depth limit are skipped as deserialization errors (processing log), types
//! and expressions nested beyond their limits are statement errors that name the limit.

use std::sync::Arc;

use brook_broker::{Broker, BrokerConfig};
use brook_sql::engine::{PushEvent, StatementResult};
use brook_sql::{Engine, EngineConfig, Session};

struct Db {
    engine: Arc<Engine>,
    broker: Broker,
    session: Session,
    _dir: tempfile::TempDir,
}

impl Db {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        let broker = Broker::open(config)?;
        let engine = Engine::open(
            Arc::new(brook_client::EmbeddedCluster::new(broker.clone())),
            EngineConfig::deterministic(),
        )?;
        Ok(Db { engine, broker, session: Session::default(), _dir: dir })
    }

    /// Runs one statement; its error message, or the rows of a push query / row set.
    fn run(&mut self, sql: &str) -> Result<Vec<serde_json::Value>, String> {
        let executed = self.engine.execute(sql, &mut self.session);
        let last = executed.into_iter().last().ok_or("no statement")?;
        match last.result.map_err(|e| e.to_string())? {
            StatementResult::Push(mut q) => {
                let mut out = Vec::new();
                while let Ok(ev) = q.rows.try_recv() {
                    match ev {
                        PushEvent::Row(r) => out.push(r),
                        PushEvent::End(Some(e)) => return Err(e),
                        PushEvent::End(None) => break,
                    }
                }
                Ok(out)
            }
            StatementResult::Rows(r) => Ok(r.rows),
            _ => Ok(Vec::new()),
        }
    }

    fn ok(&mut self, sql: &str) {
        if let Err(e) = self.run(sql) {
            panic!("{}: {e}", &sql[..sql.len().min(200)]);
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.engine.shutdown();
        let _ = self.broker.close();
    }
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

/// The processing log's deserialization error messages, in order.
fn processing_log(db: &mut Db) -> Vec<String> {
    db.run("SELECT MESSAGE->DESERIALIZATIONERROR->ERRORMESSAGE FROM brook_processing_log EMIT CHANGES")
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap_or_default().to_string())
        .collect()
}

/// 100,000 nested `[` in a JSON value (in a column of a nested type, in a column of another
/// type, in a field no column reads): each record is skipped and logged as a record that
/// does not deserialize, the query goes on. Before the limit, arrow-json's reader overflowed
/// the stack explaining the type mismatch (`Tape::serialize` recursing once per level).
#[test]
fn json_values_nested_too_deep_are_skipped_and_logged() {
    let mut db = Db::new().unwrap();
    db.ok("SET 'auto.offset.reset'='earliest'");
    db.ok("CREATE STREAM s (id INT, tags ARRAY<ARRAY<INT>>, name STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1)");
    db.ok("CREATE STREAM raw (v STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='KAFKA')");
    db.ok("CREATE STREAM out AS SELECT id, tags, name FROM s");
    let deep = nested("[", "1", "]", 100_000);
    db.ok(&format!("INSERT INTO raw (v) VALUES ('{{\"id\":1,\"tags\":{deep}}}')"));
    db.ok(&format!("INSERT INTO raw (v) VALUES ('{{\"id\":2,\"name\":{deep}}}')"));
    db.ok(&format!("INSERT INTO raw (v) VALUES ('{{\"id\":3,\"x\":{deep}}}')"));
    // At the limit (128 levels: the object and 127 arrays) a value is read as usual.
    let at_limit = nested("[", "", "]", 127);
    db.ok(&format!("INSERT INTO raw (v) VALUES ('{{\"id\":4,\"x\":{at_limit}}}')"));
    db.ok("INSERT INTO raw (v) VALUES ('{\"id\":5,\"tags\":[[1,2]]}')");
    let rows = db.run("SELECT id, tags FROM out EMIT CHANGES").unwrap();
    assert_eq!(rows, vec![serde_json::json!([4, null]), serde_json::json!([5, [[1, 2]]])]);
    let log = processing_log(&mut db);
    assert_eq!(log.len(), 3, "{log:?}");
    for m in &log {
        assert!(
            m.contains("cannot deserialize JSON: nested more than 128 levels deep (json.max.nesting.depth)"),
            "{m}"
        );
    }
}

/// The same for Debezium change events: nesting in `after`, in `source`, and in a
/// `{"schema","payload"}` wrapper's schema.
#[test]
fn debezium_events_nested_too_deep_are_skipped_and_logged() {
    let mut db = Db::new().unwrap();
    db.ok("SET 'auto.offset.reset'='earliest'");
    db.ok("CREATE TABLE customers (id INT PRIMARY KEY, name STRING, tags ARRAY<STRING>) WITH (KAFKA_TOPIC='c', VALUE_FORMAT='DEBEZIUM_JSON', PARTITIONS=1)");
    db.ok("CREATE STREAM raw (k STRING KEY, v STRING) WITH (KAFKA_TOPIC='c', FORMAT='KAFKA')");
    db.ok("CREATE TABLE copy AS SELECT id, name FROM customers");
    let deep = nested("{\"a\":", "1", "}", 100_000);
    for (id, event) in [
        (1, format!(r#"{{"op":"c","after":{{"id":1,"name":{deep}}}}}"#)),
        (2, format!(r#"{{"op":"c","after":{{"id":2,"tags":{deep}}}}}"#)),
        (3, format!(r#"{{"op":"c","source":{deep},"after":{{"id":3,"name":"c"}}}}"#)),
        (4, format!(r#"{{"schema":{deep},"payload":{{"op":"c","after":{{"id":4,"name":"d"}}}}}}"#)),
        (5, r#"{"op":"c","after":{"id":5,"name":"e"}}"#.to_string()),
    ] {
        db.ok(&format!("INSERT INTO raw (k, v) VALUES ('{{\"id\":{id}}}', '{event}')"));
    }
    // Events 3 and 4 nest deep only outside the row; the row is read, the event is skipped
    // as a whole (as any event that does not deserialize).
    let rows = db.run("SELECT id, name FROM copy").unwrap();
    assert_eq!(rows, vec![serde_json::json!([5, "e"])]);
    let log = processing_log(&mut db);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log.iter().all(|m| m.contains("json.max.nesting.depth")), "{log:?}");
}

/// Types nested deeper than 64 levels, written out (CREATE STREAM, CAST) or built up through
/// CREATE TYPE, are statement errors naming the limit. Before, the parsers (Brook's and
/// sqlparser's for CAST) recursed once per level and overflowed the stack.
#[test]
fn types_nested_too_deep_are_statement_errors() {
    let mut db = Db::new().unwrap();
    let create = |t: &str| {
        format!(
            "CREATE STREAM s{} (a {t}) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1)",
            t.len()
        )
    };
    for deep in [
        nested("ARRAY<", "INT", ">", 10_000),
        nested("MAP<STRING, ", "INT", ">", 10_000),
        nested("STRUCT<f ", "INT", ">", 10_000),
    ] {
        let err = db.run(&create(&deep)).unwrap_err();
        assert!(
            err.contains("the type is nested more than 64 levels deep (type.max.nesting.depth)"),
            "{err}"
        );
    }
    db.ok(&create(&nested("ARRAY<", "INT", ">", 64)));
    assert!(db.run(&create(&nested("ARRAY<", "INT", ">", 65))).is_err());
    db.ok("CREATE STREAM n (a INT) WITH (KAFKA_TOPIC='n', VALUE_FORMAT='JSON', PARTITIONS=1)");
    let err = db
        .run(&format!("SELECT CAST(a AS {}) FROM n EMIT CHANGES", nested("ARRAY<", "INT", ">", 10_000)))
        .unwrap_err();
    assert!(err.contains("type.max.nesting.depth"), "{err}");
    // Custom types add up: 40 + 40 levels.
    db.ok(&format!("CREATE TYPE t40 AS {}", nested("ARRAY<", "INT", ">", 40)));
    let err = db.run(&format!("CREATE TYPE t80 AS {}", nested("ARRAY<", "t40", ">", 40))).unwrap_err();
    assert!(err.contains("nested more than 64 levels deep"), "{err}");
    let err = db.run(&create(&nested("ARRAY<", "t40", ">", 40))).unwrap_err();
    assert!(err.contains("nested more than 64 levels deep"), "{err}");
}

/// A chain of 100,000 `a + …` parses in a loop into a tree 100,000 levels deep, which the
/// planner (and `Drop`) then recursed over. Deeper than 256 levels is a statement error; 256
/// levels plan and run on the 2 MiB stack of a stream thread.
#[test]
fn expressions_nested_too_deep_are_statement_errors() {
    let mut db = Db::new().unwrap();
    db.ok("SET 'auto.offset.reset'='earliest'");
    db.ok("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1)");
    for deep in [
        format!("{} 1", "a + ".repeat(100_000)),
        format!("a {}", "IS NULL ".repeat(100_000)),
        format!("a{}", "::INT".repeat(100_000)),
        format!("1 {}", "OR a = 1 ".repeat(100_000)),
    ] {
        let err = db.run(&format!("SELECT {deep} FROM s EMIT CHANGES")).unwrap_err();
        assert!(
            err.contains("the expression is nested more than 256 levels deep (expression.max.nesting.depth)"),
            "{err}"
        );
        let err = db.run(&format!("SELECT a FROM s WHERE {deep} EMIT CHANGES")).unwrap_err();
        assert!(err.contains("expression.max.nesting.depth"), "{err}");
    }
    // Parentheses recurse in sqlparser, which stops at its own limit.
    let err = db.run(&format!("SELECT {} FROM s EMIT CHANGES", nested("(", "a", ")", 100_000))).unwrap_err();
    assert!(err.contains("nested too deeply"), "{err}");
    // 255 additions (256 levels) are fine, in a persistent query too.
    let chain = format!("{} 0", "a + ".repeat(255));
    db.ok(&format!("CREATE STREAM t AS SELECT {chain} AS x FROM s"));
    db.ok("INSERT INTO s (a) VALUES (2)");
    assert_eq!(db.run("SELECT x FROM t EMIT CHANGES").unwrap(), vec![serde_json::json!([510])]);
    assert!(db.run(&format!("SELECT a + {chain} FROM s EMIT CHANGES")).is_err());
}
