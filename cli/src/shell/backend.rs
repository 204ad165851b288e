//! Where the shell's statements run: an embedded engine, or a `brook server` over HTTP.
//! Both answer with the HTTP API's JSON entities, so the shell renders one kind of result.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_sql::engine::{PushEvent, StatementResult};
use brook_sql::parser::{self, Statement};
use brook_sql::{Engine, Session, api};
use serde_json::{Value, json};

use super::client;

/// Stops a running query.
pub type Cancel = Arc<dyn Fn() + Send + Sync>;

/// Rows of a query as they come.
pub struct RowStream {
    /// `{"queryId", "columnNames", "columnTypes"}`.
    pub header: Value,
    /// The next row, `None` at the end, `Err` if the query failed.
    pub next: Box<dyn FnMut() -> Option<Result<Value, String>> + Send>,
    /// Cancels the query.
    pub cancel: Cancel,
}

/// The outcome of one statement.
pub enum Outcome {
    /// An API entity (`@type` …).
    Entity(Value),
    /// The statement failed.
    Error(String),
    /// A query whose rows stream.
    Query(RowStream),
}

/// Runs statements.
pub trait Backend: Send {
    /// Runs a script, statement by statement, stopping after the first error.
    fn execute(&mut self, sql: &str) -> Vec<Outcome>;
    /// Names of streams and tables, for completion.
    fn names(&mut self) -> Vec<String>;
}

/// Waits until what was produced so far has been processed (see [`Embedded::settle_before_pulls`]).
pub type Settle = Arc<dyn Fn() + Send + Sync>;

/// An engine in this process.
pub struct Embedded {
    engine: Arc<Engine>,
    session: Session,
    settle: Option<Settle>,
}

impl Embedded {
    /// A backend over an open engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Embedded { engine, session: Session::default(), settle: None }
    }

    /// Calls `settle` before every pull query (`SELECT` without `EMIT`). Scripts use it so
    /// that a pull query sees what connectors and queries started by the statements before
    /// it have produced, rather than whatever they reached in the microseconds in between.
    pub fn settle_before_pulls(mut self, settle: Settle) -> Self {
        self.settle = Some(settle);
        self
    }
}

impl Backend for Embedded {
    fn execute(&mut self, sql: &str) -> Vec<Outcome> {
        let mut out = Vec::new();
        let settle = self.settle.clone();
        let mut before = |st: &Statement| {
            if let (Some(settle), Statement::Select(q)) = (&settle, st)
                && q.emit.is_none()
            {
                settle();
            }
        };
        for ex in self.engine.execute_with(sql, &mut self.session, &mut before) {
            out.push(match ex.result {
                Ok(StatementResult::Push(mut q)) => {
                    let header = api::query_header(&q.id, &q.columns);
                    let handle = q.cancel_handle();
                    let next = Box::new(move || match q.rows.blocking_recv() {
                        Some(PushEvent::Row(r)) => Some(Ok(r)),
                        Some(PushEvent::End(Some(e))) => Some(Err(e)),
                        Some(PushEvent::End(None)) | None => None,
                    });
                    Outcome::Query(RowStream { header, next, cancel: Arc::new(move || handle.cancel()) })
                }
                Ok(StatementResult::Rows(rows)) => {
                    let header = api::query_header("", &rows.columns);
                    let mut it = rows.rows.into_iter();
                    Outcome::Query(RowStream {
                        header,
                        next: Box::new(move || it.next().map(Ok)),
                        cancel: Arc::new(|| {}),
                    })
                }
                Ok(other) => match api::entity(&ex.statement, &other) {
                    Some(e) => Outcome::Entity(e),
                    None => continue,
                },
                Err(e) => Outcome::Error(e.to_string()),
            });
        }
        out
    }

    fn names(&mut self) -> Vec<String> {
        self.engine.source_names()
    }
}

/// A `brook server` (or ksqlDB-compatible server) over HTTP.
pub struct Remote {
    addr: String,
    properties: BTreeMap<String, String>,
}

impl Remote {
    /// A backend for `http://HOST:PORT`.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        if url.starts_with("https://") {
            anyhow::bail!("https is not supported; use http://HOST:PORT");
        }
        if !addr.contains(':') {
            anyhow::bail!("--server needs http://HOST:PORT, got '{url}'");
        }
        Ok(Remote { addr, properties: BTreeMap::new() })
    }

    /// Checks the server answers.
    pub fn check(&self) -> anyhow::Result<Value> {
        let r = client::get(&self.addr, "/info")
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", self.addr))?;
        Ok(serde_json::from_str(&r.text()?)?)
    }

    fn error_message(text: &str) -> String {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string())
    }

    fn statement(&mut self, text: &str) -> Outcome {
        let parsed = parser::parse_statement(text).ok().map(|p| p.statement);
        match &parsed {
            Some(Statement::Set { name, value }) => {
                self.properties.insert(name.clone(), value.clone());
                return Outcome::Entity(json!({"@type": "currentStatus", "commandStatus": {
                    "status": "SUCCESS", "message": format!("Successfully changed local property '{name}' to '{value}'.")}}));
            }
            Some(Statement::Unset(name)) => {
                if self.properties.remove(name).is_none() {
                    return Outcome::Error(format!("property '{name}' is not set"));
                }
                return Outcome::Entity(json!({"@type": "currentStatus", "commandStatus": {
                    "status": "SUCCESS", "message": format!("Successfully unset local property '{name}'.")}}));
            }
            _ => {}
        }
        let is_query = matches!(parsed, Some(Statement::Select(_) | Statement::Print(_)));
        let sql = format!("{text};");
        if is_query {
            let body = json!({"sql": sql, "properties": self.properties});
            let resp = match client::post(&self.addr, "/query-stream", &body) {
                Ok(r) => r,
                Err(e) => return Outcome::Error(format!("cannot reach {}: {e}", self.addr)),
            };
            if resp.status != 200 {
                return Outcome::Error(
                    resp.text().map(|t| Self::error_message(&t)).unwrap_or_else(|e| e.to_string()),
                );
            }
            let conn = match resp.stream.try_clone() {
                Ok(c) => c,
                Err(e) => return Outcome::Error(e.to_string()),
            };
            let mut lines = resp.lines();
            let header = match lines.next() {
                Some(Ok(h)) => serde_json::from_str(&h).unwrap_or(Value::Null),
                _ => return Outcome::Error("the server closed the query".into()),
            };
            let next = Box::new(move || {
                loop {
                    match lines.next()? {
                        Ok(l) if l.trim().is_empty() => continue,
                        Ok(l) => {
                            let v: Value = serde_json::from_str(&l).unwrap_or(Value::String(l));
                            if v.get("@type").and_then(Value::as_str) == Some("error") {
                                return Some(Err(v
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string()));
                            }
                            return Some(Ok(v));
                        }
                        Err(_) => return None,
                    }
                }
            });
            let cancel: Cancel = Arc::new(move || {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            });
            return Outcome::Query(RowStream { header, next, cancel });
        }
        let body = json!({"ksql": sql, "streamsProperties": self.properties});
        let resp = match client::post(&self.addr, "/ksql", &body) {
            Ok(r) => r,
            Err(e) => return Outcome::Error(format!("cannot reach {}: {e}", self.addr)),
        };
        let status = resp.status;
        let text = match resp.text() {
            Ok(t) => t,
            Err(e) => return Outcome::Error(e.to_string()),
        };
        if status != 200 {
            return Outcome::Error(Self::error_message(&text));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(mut entities)) if entities.len() == 1 => Outcome::Entity(entities.remove(0)),
            Ok(Value::Array(entities)) => Outcome::Entity(json!({"@type": "entities", "entities": entities})),
            Ok(other) => Outcome::Entity(other),
            Err(e) => Outcome::Error(format!("unexpected response: {e}")),
        }
    }
}

impl Backend for Remote {
    fn execute(&mut self, sql: &str) -> Vec<Outcome> {
        let mut out = Vec::new();
        for st in parser::split_statements(sql) {
            let o = self.statement(&st.text);
            let failed = matches!(o, Outcome::Error(_));
            out.push(o);
            if failed {
                break;
            }
        }
        out
    }

    fn names(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        for what in ["SHOW STREAMS;", "SHOW TABLES;"] {
            let body = json!({"ksql": what});
            let Ok(r) = client::post(&self.addr, "/ksql", &body) else { continue };
            let Ok(v) = r.text().map(|t| serde_json::from_str::<Value>(&t).unwrap_or(Value::Null)) else {
                continue;
            };
            for e in v.as_array().into_iter().flatten() {
                for key in ["streams", "tables"] {
                    for s in e.get(key).and_then(Value::as_array).into_iter().flatten() {
                        if let Some(n) = s.get("name").and_then(Value::as_str) {
                            names.push(n.to_string());
                        }
                    }
                }
            }
        }
        names
    }
}
