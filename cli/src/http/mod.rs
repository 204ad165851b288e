//! The HTTP API of `brook server`, shaped like ksqlDB's REST API so tools written for ksqlDB
//! can talk to Brook:
//!
//! * `POST /ksql` — `{"ksql": "…;", "streamsProperties": {…}}`: runs statements (not queries)
//!   and answers a JSON array with one entity per statement (`@type` says which); a failing
//!   statement answers 400 with `{"@type": "statement_error", "error_code", "message", …}`.
//! * `POST /query-stream` — `{"sql": "SELECT …;", "properties": {…}}`: runs a push or pull
//!   query (or `PRINT`) and streams newline-delimited JSON: a header
//!   `{"queryId", "columnNames", "columnTypes"}`, then one JSON array per row, as rows come.
//! * `POST /close-query` — `{"queryId": "…"}`: stops a push query.
//! * `GET /info`, `GET /healthcheck`.
//! * `GET /transactions` (optionally `?state=Ongoing`), `GET /transactions/{id}`: the
//!   transaction coordinator's view of transactional producers (as `brook txn` prints it).
//!
//! Statements run on blocking threads (the engine is synchronous); push-query rows are
//! forwarded from the query's bounded buffer to the response body as the client takes them
//! (a client that reads slowly makes the query wait), and a closed connection drops the
//! query, on a blocking thread.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use brook_sql::engine::{CancelHandle, PushEvent, PushQuery};
use brook_sql::parser::Statement;
use brook_sql::{Engine, Session, StatementResult, api};
use bytes::Bytes;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::commands::txn::TxnView;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
struct Api {
    engine: Arc<Engine>,
    running: Arc<Mutex<HashMap<String, CancelHandle>>>,
}

#[derive(Deserialize)]
struct KsqlRequest {
    ksql: String,
    #[serde(default, rename = "streamsProperties")]
    streams_properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct QueryRequest {
    sql: String,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct CloseRequest {
    #[serde(rename = "queryId")]
    query_id: String,
}

/// The content type of `/query-stream` responses.
pub const DELIMITED: &str = "application/vnd.ksqlapi.delimited.v1";

fn session(props: &serde_json::Map<String, Value>) -> Session {
    let properties = props
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    Session { properties }
}

fn error(status: StatusCode, statement: &str, e: &brook_sql::Error, entities: Vec<Value>) -> Response {
    (status, axum::Json(api::error_entity(statement, e, entities))).into_response()
}

/// The API router over an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    let api = Api { engine, running: Arc::new(Mutex::new(HashMap::new())) };
    Router::new()
        .route("/ksql", post(ksql))
        .route("/query-stream", post(query_stream))
        .route("/close-query", post(close_query))
        .route("/info", get(info))
        .route("/healthcheck", get(healthcheck))
        .route("/transactions", get(transactions))
        .route("/transactions/{id}", get(transaction))
        .with_state(api)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).with_graceful_shutdown(shutdown).await
}

#[derive(Deserialize)]
struct TxnFilter {
    state: Option<String>,
}

/// The broker in this process, if the engine runs on one (transactions are the broker's to
/// list); otherwise the response that says where to look instead.
fn embedded_broker(api: &Api) -> Result<brook_broker::Broker, Box<Response>> {
    match api.engine.cluster().connection() {
        brook_client::Connection::Embedded(broker) => Ok(broker),
        brook_client::Connection::Kafka { bootstrap, .. } => {
            let message = format!(
                "this server runs on the cluster at {bootstrap}, not an embedded broker; list its transactions with `brook txn list --bootstrap-servers {bootstrap}`"
            );
            let entity = json!({"@type": "generic_error", "error_code": 40400, "message": message});
            Err(Box::new((StatusCode::NOT_FOUND, axum::Json(entity)).into_response()))
        }
    }
}

async fn transactions(State(api): State<Api>, Query(filter): Query<TxnFilter>) -> Response {
    let broker = match embedded_broker(&api) {
        Ok(b) => b,
        Err(response) => return *response,
    };
    let views: Vec<TxnView> = broker
        .transactions()
        .list()
        .into_iter()
        .filter(|m| filter.state.as_deref().is_none_or(|s| m.state.name().eq_ignore_ascii_case(s)))
        .map(TxnView::from)
        .collect();
    axum::Json(json!({ "transactions": views })).into_response()
}

async fn transaction(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let broker = match embedded_broker(&api) {
        Ok(b) => b,
        Err(response) => return *response,
    };
    match broker.transactions().describe(&id) {
        Ok(meta) => axum::Json(TxnView::from(meta)).into_response(),
        Err(e) => {
            let entity = json!({"@type": "generic_error", "error_code": 40400, "message": e.to_string()});
            (StatusCode::NOT_FOUND, axum::Json(entity)).into_response()
        }
    }
}

/// Whether a statement must go to `/query-stream`.
fn is_query(text: &str) -> bool {
    brook_sql::parser::parse(text)
        .map(|p| p.iter().any(|s| matches!(s.statement, Statement::Select(_) | Statement::Print(_))))
        .unwrap_or(false)
}

/// The request body as JSON, whatever its content type (ksqlDB clients send
/// `application/vnd.ksql.v1+json`, curl sends a form type); a 400 that says what is wrong
/// otherwise.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes, example: &str) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        let message = format!("the request body is not valid: {e}; expected JSON like {example}");
        let entity = json!({"@type": "generic_error", "error_code": 40000, "message": message});
        Box::new((StatusCode::BAD_REQUEST, axum::Json(entity)).into_response())
    })
}

async fn ksql(State(api): State<Api>, body: Bytes) -> Response {
    let req: KsqlRequest = match parse_body(&body, r#"{"ksql": "SHOW STREAMS;", "streamsProperties": {}}"#) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    if is_query(&req.ksql) {
        let e = brook_sql::Error::Plan(
            "SELECT and PRINT stream their results: send them to /query-stream (POST {\"sql\": \"…\"})"
                .into(),
        );
        return error(StatusCode::BAD_REQUEST, req.ksql.trim().trim_end_matches(';'), &e, Vec::new());
    }
    let engine = api.engine.clone();
    let executed = tokio::task::spawn_blocking(move || {
        let mut s = session(&req.streams_properties);
        engine.execute(&req.ksql, &mut s)
    })
    .await;
    let executed = match executed {
        Ok(e) => e,
        Err(e) => {
            let e = brook_sql::Error::Internal(format!("statement execution panicked: {e}"));
            return error(StatusCode::INTERNAL_SERVER_ERROR, "", &e, Vec::new());
        }
    };
    let mut entities = Vec::new();
    for ex in executed {
        match ex.result {
            Ok(result) => {
                if let Some(e) = api::entity(&ex.statement, &result) {
                    entities.push(e);
                }
            }
            Err(e) => {
                let status = if e.is_user_error() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                return error(status, &ex.statement, &e, entities);
            }
        }
    }
    axum::Json(Value::Array(entities)).into_response()
}

/// Removes a push query from the registry when its response ends.
struct Registered {
    id: String,
    running: Arc<Mutex<HashMap<String, CancelHandle>>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.running.lock().remove(&self.id);
    }
}

/// A push query owned by a response body. Dropping a query stops its streams application —
/// joining its threads and deleting its internal topics — so when the client goes away and
/// the body is dropped on an async worker, the query is dropped on a blocking thread instead.
struct BodyQuery(Option<PushQuery>);

impl BodyQuery {
    async fn next(&mut self) -> Option<PushEvent> {
        self.0.as_mut()?.rows.recv().await
    }
}

impl Drop for BodyQuery {
    fn drop(&mut self) {
        let Some(q) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || drop(q))),
            Err(_) => drop(q),
        }
    }
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

async fn query_stream(State(api): State<Api>, body: Bytes) -> Response {
    let req: QueryRequest =
        match parse_body(&body, r#"{"sql": "SELECT * FROM s EMIT CHANGES;", "properties": {}}"#) {
            Ok(r) => r,
            Err(response) => return *response,
        };
    let engine = api.engine.clone();
    let sql = req.sql.clone();
    let executed = tokio::task::spawn_blocking(move || {
        let mut s = session(&req.properties);
        engine.execute(&req.sql, &mut s)
    })
    .await;
    let Ok(mut executed) = executed else {
        let e = brook_sql::Error::Internal("query execution panicked".into());
        return error(StatusCode::INTERNAL_SERVER_ERROR, &sql, &e, Vec::new());
    };
    let Some(last) = executed.pop() else {
        let e = brook_sql::Error::plan("no statement in the request");
        return error(StatusCode::BAD_REQUEST, &sql, &e, Vec::new());
    };
    let statement = last.statement.clone();
    let result = match last.result {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &statement, &e, Vec::new()),
    };
    let respond = |body: Body| {
        Response::builder().header(header::CONTENT_TYPE, DELIMITED).body(body).unwrap_or_else(|_| {
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot build the response").into_response()
        })
    };
    match result {
        StatementResult::Rows(rows) => {
            let mut out = Vec::with_capacity(rows.rows.len() + 1);
            out.extend_from_slice(&line(&api::query_header("", &rows.columns)));
            for r in &rows.rows {
                out.extend_from_slice(&line(r));
            }
            respond(Body::from(out))
        }
        StatementResult::Push(q) => {
            let header_line = line(&api::query_header(&q.id, &q.columns));
            api.running.lock().insert(q.id.clone(), q.cancel_handle());
            let guard = Registered { id: q.id.clone(), running: api.running.clone() };
            let stream = push_stream(q, guard, header_line);
            respond(Body::from_stream(stream))
        }
        _ => {
            let e = brook_sql::Error::plan(format!(
                "/query-stream runs SELECT and PRINT; send `{statement}` to /ksql"
            ));
            error(StatusCode::BAD_REQUEST, &statement, &e, Vec::new())
        }
    }
}

fn push_stream(
    q: PushQuery,
    guard: Registered,
    header_line: Bytes,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let state = (Some(header_line), BodyQuery(Some(q)), guard, false);
    futures::stream::unfold(state, |(header_line, mut q, guard, done)| async move {
        if let Some(h) = header_line {
            return Some((Ok(h), (None, q, guard, false)));
        }
        if done {
            return None;
        }
        match q.next().await {
            Some(PushEvent::Row(r)) => Some((Ok(line(&r)), (None, q, guard, false))),
            Some(PushEvent::End(Some(e))) => {
                let v = json!({"@type": "error", "message": e});
                Some((Ok(line(&v)), (None, q, guard, true)))
            }
            Some(PushEvent::End(None)) | None => None,
        }
    })
}

async fn close_query(State(api): State<Api>, body: Bytes) -> Response {
    let req: CloseRequest = match parse_body(&body, r#"{"queryId": "…"}"#) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let handle = api.running.lock().remove(&req.query_id);
    match handle {
        Some(h) => {
            tokio::task::spawn_blocking(move || h.cancel()).await.ok();
            axum::Json(json!({})).into_response()
        }
        None => {
            let e = brook_sql::Error::Catalog(format!("no running push query with id {}", req.query_id));
            error(StatusCode::BAD_REQUEST, "", &e, Vec::new())
        }
    }
}

async fn info(State(api): State<Api>) -> Response {
    axum::Json(json!({
        "KsqlServerInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "kafkaClusterId": "brook",
            "ksqlServiceId": api.engine.service_id(),
            "serverStatus": "RUNNING",
        }
    }))
    .into_response()
}

async fn healthcheck(State(api): State<Api>) -> Response {
    // An embedded broker is healthy while its data directory is readable; a remote cluster
    // while it answers a metadata request.
    let cluster = api.engine.cluster().clone();
    let kafka = tokio::task::spawn_blocking(move || match cluster.connection() {
        brook_client::Connection::Embedded(b) => std::fs::metadata(b.config().data_dir.as_path()).is_ok(),
        brook_client::Connection::Kafka { .. } => cluster.list_topics().is_ok(),
    })
    .await
    .unwrap_or(false);
    axum::Json(json!({
        "isHealthy": kafka,
        "details": {"metastore": {"isHealthy": true}, "kafka": {"isHealthy": kafka}},
    }))
    .into_response()
}
