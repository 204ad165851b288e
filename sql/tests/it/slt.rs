//! Runs the `.slt` files: each file gets a fresh deterministic engine, on a temporary embedded
//! broker ([`BrookDb::new`], run by brook-sql's tests) or on a cluster reached over TCP
//! ([`BrookDb::on_cluster`]: brook-cli's tests run the suite again against a separate `brook
//! server` process, and include this file for it).
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
use brook_client::{Cluster, EmbeddedCluster, KafkaCluster};
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

/// A deterministic engine on a temporary broker, or on a cluster.
pub struct BrookDb {
    engine: Arc<Engine>,
    /// The embedded broker, closed at drop.
    broker: Option<Broker>,
    session: Session,
    /// What must live as long as the engine: a temporary directory, a server process.
    _keep: Box<dyn std::any::Any + Send>,
}

impl BrookDb {
    /// On a fresh embedded broker in a temporary directory.
    #[allow(dead_code)] // brook-cli's tests include this file and use only `on_cluster`
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        let broker = Broker::open(config)?;
        let engine =
            Engine::open(Arc::new(EmbeddedCluster::new(broker.clone())), EngineConfig::deterministic())?;
        Ok(BrookDb { engine, broker: Some(broker), session: Session::default(), _keep: Box::new(dir) })
    }

    /// On the (empty) cluster at `bootstrap`, as a SQL engine of `brook sql
    /// --bootstrap-servers` does; `keep` (the server process) lives as long as the engine.
    #[allow(dead_code)] // brook-sql's tests include this file and use only `new`
    pub fn on_cluster(bootstrap: &str, keep: Box<dyn std::any::Any + Send>) -> anyhow::Result<Self> {
        let cluster: Arc<dyn Cluster> = Arc::new(KafkaCluster::connect_with(bootstrap, "brook-sql", &[])?);
        let engine = Engine::open(cluster, EngineConfig::deterministic())?;
        Ok(BrookDb { engine, broker: None, session: Session::default(), _keep: keep })
    }
}

impl Drop for BrookDb {
    fn drop(&mut self) {
        self.engine.shutdown();
        if let Some(b) = &self.broker {
            let _ = b.close();
        }
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
    // Both brook-sql's and brook-cli's tests run this: the crates are siblings.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/tests/slt");
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

/// Runs every `.slt` file (those whose name contains `$SLT`, if set), each on a fresh
/// database from `open`, and fails listing every file that failed.
pub fn run_suite(open: impl Fn() -> anyhow::Result<BrookDb> + Clone + Send + 'static) {
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
        let open = open.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let db = open().map_err(|e| SltError(format!("{e:#}")));
            async move { db }
        });
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
