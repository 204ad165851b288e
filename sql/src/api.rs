//! The JSON entities of the HTTP API, shaped like ksqlDB's REST API (`/ksql` answers one
//! entity per statement, `@type` says which), so tools written for ksqlDB can read them.
//! The shell renders these entities in both of its modes.

use serde_json::{Value, json};

use crate::connector::ConnectorInfo;
use crate::engine::{ColumnInfo, StatementResult};
use crate::error::Error;
use crate::types::SqlType;

/// The schema object ksqlDB uses for a column type.
pub fn schema_json(t: &SqlType) -> Value {
    match t {
        SqlType::Array(e) => json!({"type": "ARRAY", "fields": null, "memberSchema": schema_json(e)}),
        SqlType::Map(_, v) => json!({"type": "MAP", "fields": null, "memberSchema": schema_json(v)}),
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields.iter().map(|(n, t)| json!({"name": n, "schema": schema_json(t)})).collect::<Vec<_>>(),
            "memberSchema": null,
        }),
        SqlType::Decimal { precision, scale } => json!({
            "type": "DECIMAL", "fields": null, "memberSchema": null,
            "parameters": {"precision": precision, "scale": scale},
        }),
        SqlType::String => json!({"type": "STRING", "fields": null, "memberSchema": null}),
        other => json!({"type": other.to_string(), "fields": null, "memberSchema": null}),
    }
}

/// The header line of a `/query-stream` response.
pub fn query_header(query_id: &str, columns: &[ColumnInfo]) -> Value {
    json!({
        "queryId": query_id,
        "columnNames": columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "columnTypes": columns.iter().map(|c| c.ty.to_string()).collect::<Vec<_>>(),
    })
}

/// The entity describing one statement's result (`None` for push queries, which `/ksql`
/// does not run).
pub fn entity(statement: &str, result: &StatementResult) -> Option<Value> {
    let text = format!("{statement};");
    Some(match result {
        StatementResult::Message { message, query_id } => json!({
            "@type": "currentStatus",
            "statementText": text,
            "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
            "warnings": [],
        }),
        StatementResult::Streams(list) | StatementResult::Tables(list) => {
            let (ty, key, kind) = match result {
                StatementResult::Streams(_) => ("streams", "streams", "STREAM"),
                _ => ("tables", "tables", "TABLE"),
            };
            json!({
                "@type": ty,
                "statementText": text,
                key: list.iter().map(|s| json!({
                    "type": kind, "name": s.name, "topic": s.topic, "keyFormat": s.key_format,
                    "valueFormat": s.value_format, "isWindowed": s.windowed,
                })).collect::<Vec<_>>(),
                "warnings": [],
            })
        }
        StatementResult::Topics(list) => json!({
            "@type": "kafka_topics",
            "statementText": text,
            "topics": list.iter().map(|t| json!({
                "name": t.name, "replicaInfo": vec![1; t.partitions.max(0) as usize], "records": t.records,
            })).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Queries(list) => json!({
            "@type": "queries",
            "statementText": text,
            "queries": list.iter().map(|q| json!({
                "queryString": q.sql, "sinks": [q.sink], "sinkKafkaTopics": [q.sink_topic], "id": q.id,
                "state": q.state, "queryType": "PERSISTENT",
                "queryErrors": q.error.iter().map(|e| json!({"errorMessage": e, "type": "USER"})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Properties(props) => json!({
            "@type": "properties",
            "statementText": text,
            "properties": props.iter().map(|(n, v)| json!({"name": n, "scope": "KSQL", "value": v})).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Variables(vars) => json!({
            "@type": "variables",
            "statementText": text,
            "variables": vars.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Types(types) => json!({
            "@type": "type_list",
            "statementText": text,
            "types": types.iter().map(|(n, t)| (n.clone(), json!(t))).collect::<serde_json::Map<_, _>>(),
            "warnings": [],
        }),
        StatementResult::Functions(list) => json!({
            "@type": "function_names",
            "statementText": text,
            "functions": list.iter().map(|f| json!({"name": f.name, "type": f.kind})).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Description(d) => json!({
            "@type": "sourceDescription",
            "statementText": text,
            "sourceDescription": description(d),
            "warnings": [],
        }),
        StatementResult::Descriptions(list) => json!({
            "@type": "source_descriptions",
            "statementText": text,
            "sourceDescriptions": list.iter().map(description).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::Explain { query_id, sql, plan, topology } => json!({
            "@type": "queryDescription",
            "statementText": text,
            "queryDescription": {
                "id": query_id, "statementText": sql, "executionPlan": plan.join("\n"), "topology": topology,
            },
            "warnings": [],
        }),
        StatementResult::Rows(rows) => json!({
            "@type": "rows",
            "statementText": text,
            "header": query_header("", &rows.columns),
            "rows": rows.rows,
            "warnings": [],
        }),
        StatementResult::Connectors(list) => json!({
            "@type": "connector_list",
            "statementText": text,
            "connectors": list.iter().map(|c| json!({
                "name": c.name, "type": c.kind.as_str(), "className": c.class, "state": c.state,
                "topic": c.topic,
            })).collect::<Vec<_>>(),
            "warnings": [],
        }),
        StatementResult::ConnectorDescription { info, sources } => {
            connector_description(&text, info, sources)
        }
        StatementResult::Push(_) => return None,
    })
}

/// ksqlDB's `connector_description`, with Brook's counters and properties added.
fn connector_description(text: &str, c: &ConnectorInfo, sources: &[String]) -> Value {
    let n = &c.counters;
    json!({
        "@type": "connector_description",
        "statementText": text,
        "connectorClass": c.class,
        "status": {
            "name": c.name,
            "connector": {"state": c.state, "worker_id": "brook", "trace": c.last_error},
            "tasks": [],
            "type": c.kind.as_str().to_lowercase(),
        },
        "sources": sources.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
        "topics": [c.topic],
        "path": c.path,
        "format": c.format,
        "dlqTopic": c.dlq_topic,
        "metrics": {
            "recordsIn": n.records_in,
            "recordsOut": n.records_out,
            "deadLettered": n.dead_lettered,
            "skipped": n.skipped,
            "duplicates": n.duplicates,
            "bytesIn": n.bytes_in,
            "filesSeen": n.files_seen,
            "filesDone": n.files_done,
        },
        "properties": c.properties,
        "warnings": [],
    })
}

fn description(d: &crate::engine::SourceDescription) -> Value {
    json!({
        "name": d.name,
        "type": d.kind,
        "fields": d.columns.iter().map(|(n, t, role)| {
            let mut f = json!({"name": n, "schema": schema_json(t)});
            if !role.is_empty() {
                f["type"] = json!(role);
            }
            f
        }).collect::<Vec<_>>(),
        "topic": d.topic,
        "keyFormat": d.key_format,
        "valueFormat": d.value_format,
        "timestamp": d.timestamp.clone().unwrap_or_default(),
        "windowType": d.window,
        "statement": d.statement,
        "readQueries": d.read_queries.iter().map(|q| json!({"id": q})).collect::<Vec<_>>(),
        "writeQueries": d.write_queries.iter().map(|q| json!({"id": q})).collect::<Vec<_>>(),
        "partitions": d.partitions,
        "replication": 1,
        "extended": d.extended,
        "statistics": match &d.runtime {
            Some(m) if d.extended => format!(
                "total-messages: {} records-processed: {} records-written: {}",
                d.records, m.records_in, m.records_out
            ),
            _ if d.extended => format!("total-messages: {}", d.records),
            _ => String::new(),
        },
        "errorStats": match &d.runtime {
            Some(m) if d.extended => format!(
                "records-skipped: {} late-records-dropped: {}",
                m.records_skipped, m.late_records_dropped
            ),
            _ => String::new(),
        },
        "lateRecordsDropped": d.runtime.map(|m| m.late_records_dropped),
    })
}

/// ksqlDB's error entity for a failed statement.
pub fn error_entity(statement: &str, e: &Error, before: Vec<Value>) -> Value {
    json!({
        "@type": "statement_error",
        "error_code": e.code(),
        "message": e.to_string(),
        "statementText": if statement.is_empty() { String::new() } else { format!("{statement};") },
        "entities": before,
    })
}
