//! Runs the `.slt` files: each file gets a fresh deterministic engine on a temporary broker.
//!
//! Statements go to `Engine::execute`. In the deterministic engine producing a record runs
//! every query it reaches before the statement returns, and time moves only with record
//! timestamps (`INSERT INTO s (ROWTIME, …) VALUES (…)`), so continuous results come out in a
//! fixed order. A push query (`SELECT … EMIT CHANGES`) returns what its topology emits when
//! it reads its sources from where `auto.offset.reset` says, then ends — so a `query` record
//! asserts the full change stream of a result. `PRINT 'topic' FROM BEGINNING` shows raw
//! records (rowtime, partition, offset, key, value) to assert output encodings.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brook_broker::{Broker, BrokerConfig};
use brook_sql::engine::{PushEvent, StatementResult};
use brook_sql::{Engine, EngineConfig, Session};
use sqllogictest::{DBOutput, DefaultColumnType};

/// An error as the slt file sees it: the engine's message.
#[derive(Debug)]
pub struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// A deterministic engine on a temporary broker.
pub struct BrookDb {
    engine: Arc<Engine>,
    broker: Broker,
    session: Session,
    _dir: tempfile::TempDir,
}

impl BrookDb {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        let broker = Broker::open(config)?;
        let engine = Engine::open(broker.clone(), EngineConfig::deterministic())?;
        Ok(BrookDb { engine, broker, session: Session::default(), _dir: dir })
    }
}

impl Drop for BrookDb {
    fn drop(&mut self) {
        self.engine.shutdown();
        let _ = self.broker.close();
    }
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "NULL".to_string(),
        serde_json::Value::String(s) if s.is_empty() => "(empty)".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rows(rows: Vec<Vec<String>>) -> DBOutput<DefaultColumnType> {
    let width = rows.first().map_or(1, Vec::len);
    DBOutput::Rows { types: vec![DefaultColumnType::Any; width], rows }
}

fn json_rows(values: &[serde_json::Value]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|r| match r {
            serde_json::Value::Array(cells) => cells.iter().map(cell).collect(),
            other => vec![cell(other)],
        })
        .collect()
}

impl sqllogictest::DB for BrookDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let executed = self.engine.execute(sql, &mut self.session);
        let Some(last) = executed.into_iter().last() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let result = last.result.map_err(|e| SltError(e.to_string()))?;
        Ok(match result {
            StatementResult::Message { .. } => DBOutput::StatementComplete(0),
            StatementResult::Rows(r) => rows(json_rows(&r.rows)),
            StatementResult::Push(mut q) => {
                let mut out = Vec::new();
                while let Ok(ev) = q.rows.try_recv() {
                    match ev {
                        PushEvent::Row(r) => out.push(r),
                        PushEvent::End(Some(e)) => return Err(SltError(e)),
                        PushEvent::End(None) => break,
                    }
                }
                rows(json_rows(&out))
            }
            StatementResult::Streams(list) | StatementResult::Tables(list) => rows(
                list.into_iter()
                    .map(|s| vec![s.name, s.topic, s.key_format, s.value_format, s.windowed.to_string()])
                    .collect(),
            ),
            StatementResult::Topics(list) => {
                rows(list.into_iter().map(|t| vec![t.name, t.partitions.to_string()]).collect())
            }
            StatementResult::Queries(list) => {
                rows(list.into_iter().map(|q| vec![q.id, q.sink, q.state]).collect())
            }
            StatementResult::Properties(p) | StatementResult::Variables(p) | StatementResult::Types(p) => {
                rows(
                    p.into_iter()
                        .map(|(n, v)| vec![n, if v.is_empty() { "(empty)".into() } else { v }])
                        .collect(),
                )
            }
            StatementResult::Functions(list) => {
                rows(list.into_iter().map(|f| vec![f.name, f.kind]).collect())
            }
            StatementResult::Description(d) => rows(
                d.columns
                    .iter()
                    .map(|(n, t, r)| {
                        vec![n.clone(), t.to_string(), if r.is_empty() { "VALUE".into() } else { r.clone() }]
                    })
                    .collect(),
            ),
            StatementResult::Descriptions(list) => {
                rows(list.into_iter().map(|d| vec![d.name, d.kind, d.topic]).collect())
            }
            StatementResult::Connectors(list) => {
                rows(list.into_iter().map(|c| vec![c.name, c.kind.to_string(), c.state]).collect())
            }
            StatementResult::ConnectorDescription { info, .. } => rows(vec![vec![info.name, info.state]]),
            StatementResult::Explain { plan, .. } => {
                rows(plan.into_iter().map(|l| vec![l.trim().to_string()]).collect())
            }
        })
    }

    fn engine_name(&self) -> &str {
        "brook"
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "slt"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn sql_logic_tests() {
    let files = slt_files();
    assert!(files.len() >= 15, "expected the .slt suite under sql/tests/slt, found {} files", files.len());
    let filter = std::env::var("SLT").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let mut runner =
            sqllogictest::Runner::new(|| async { BrookDb::new().map_err(|e| SltError(e.to_string())) });
        runner.with_column_validator(sqllogictest::default_column_validator);
        if let Err(e) = runner.run_file(file) {
            failures.push(format!("{name}:\n{}", e.display(true)));
        }
    }
    assert!(ran > 0, "no .slt file matched SLT={filter:?}");
    assert!(
        failures.is_empty(),
        "{} of {ran} slt files failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
