//! Rendering results: ksqlDB-style boxed tables, or JSON (`--output json` / `OUTPUT JSON`).

use std::io::Write;

use serde_json::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Boxed tables.
    Table,
    /// JSON, one entity (or row) per line.
    Json,
}

/// A cell as text.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => one_line(s),
        other => other.to_string(),
    }
}

/// A multi-line text (a statement) on one line, so it stays inside its table cell.
fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) { s.split_whitespace().collect::<Vec<_>>().join(" ") } else { s.to_string() }
}

fn border(widths: &[usize]) -> String {
    let mut s = String::from("+");
    for w in widths {
        s.push_str(&"-".repeat(w + 2));
        s.push('+');
    }
    s
}

fn row_line(cells: &[String], widths: &[usize]) -> String {
    let mut s = String::from("|");
    for (c, w) in cells.iter().zip(widths) {
        let c = one_line(c);
        let pad = w.saturating_sub(c.chars().count());
        s.push(' ');
        s.push_str(&c);
        s.push_str(&" ".repeat(pad + 1));
        s.push('|');
    }
    s
}

/// A complete boxed table.
pub fn table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| one_line(c)).collect()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", border(&widths))?;
    writeln!(out, "{}", row_line(&head, &widths))?;
    writeln!(out, "{}", border(&widths))?;
    for r in &rows {
        writeln!(out, "{}", row_line(r, &widths))?;
    }
    writeln!(out, "{}", border(&widths))
}

fn strs(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn field(v: &Value, key: &str) -> String {
    v.get(key).map(cell).unwrap_or_default()
}

/// Prints one API entity.
pub fn entity(out: &mut dyn Write, e: &Value, format: Format) -> std::io::Result<()> {
    if format == Format::Json {
        return writeln!(out, "{}", serde_json::to_string_pretty(e).unwrap_or_default());
    }
    let list = |out: &mut dyn Write, key: &str, headers: &[&str], fields: &[&str]| {
        let rows: Vec<Vec<String>> =
            strs(e, key).iter().map(|item| fields.iter().map(|f| field(item, f)).collect()).collect();
        table(out, headers, &rows)
    };
    match e.get("@type").and_then(Value::as_str).unwrap_or_default() {
        "currentStatus" => {
            let msg = e.pointer("/commandStatus/message").map(cell).unwrap_or_default();
            table(out, &["Message"], &[vec![msg]])
        }
        "streams" => list(
            out,
            "streams",
            &["Stream Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"],
            &["name", "topic", "keyFormat", "valueFormat", "isWindowed"],
        ),
        "tables" => list(
            out,
            "tables",
            &["Table Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"],
            &["name", "topic", "keyFormat", "valueFormat", "isWindowed"],
        ),
        "kafka_topics" => {
            let rows: Vec<Vec<String>> = strs(e, "topics")
                .iter()
                .map(|t| {
                    let parts = t.get("replicaInfo").and_then(Value::as_array).map_or(0, Vec::len);
                    vec![field(t, "name"), parts.to_string(), field(t, "records")]
                })
                .collect();
            table(out, &["Kafka Topic", "Partitions", "Records"], &rows)
        }
        "queries" => {
            let rows: Vec<Vec<String>> = strs(e, "queries")
                .iter()
                .map(|q| {
                    let errors: Vec<String> =
                        strs(q, "queryErrors").iter().map(|e| field(e, "errorMessage")).collect();
                    let state = match errors.is_empty() {
                        true => field(q, "state"),
                        false => format!("{}: {}", field(q, "state"), errors.join("; ")),
                    };
                    vec![
                        field(q, "id"),
                        state,
                        q.get("sinks")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().map(cell).collect::<Vec<_>>().join(","))
                            .unwrap_or_default(),
                        field(q, "queryString"),
                    ]
                })
                .collect();
            table(out, &["Query ID", "Status", "Sink Name", "Query String"], &rows)
        }
        "properties" => list(out, "properties", &["Property", "Value"], &["name", "value"]),
        "variables" => list(out, "variables", &["Variable Name", "Value"], &["name", "value"]),
        "function_names" => list(out, "functions", &["Function Name", "Category"], &["name", "type"]),
        "type_list" => {
            let rows: Vec<Vec<String>> = e
                .get("types")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect())
                .unwrap_or_default();
            table(out, &["Type Name", "Schema"], &rows)
        }
        "sourceDescription" => description(out, e.get("sourceDescription").unwrap_or(&Value::Null)),
        "source_descriptions" => {
            for d in strs(e, "sourceDescriptions") {
                description(out, &d)?;
            }
            Ok(())
        }
        "queryDescription" => {
            let d = e.get("queryDescription").unwrap_or(&Value::Null);
            if let Some(id) = d.get("id").and_then(Value::as_str) {
                writeln!(out, "ID           : {id}")?;
            }
            writeln!(out, "SQL          : {}", field(d, "statementText"))?;
            writeln!(out, "\nExecution plan\n--------------\n{}", field(d, "executionPlan"))?;
            writeln!(out, "\nProcessing topology\n-------------------\n{}", field(d, "topology"))
        }
        "rows" => {
            let header = e.get("header").cloned().unwrap_or(Value::Null);
            let names: Vec<String> = strs(&header, "columnNames").iter().map(cell).collect();
            let rows: Vec<Vec<String>> = strs(e, "rows")
                .iter()
                .map(|r| r.as_array().map(|c| c.iter().map(cell).collect()).unwrap_or_default())
                .collect();
            let heads: Vec<&str> = names.iter().map(String::as_str).collect();
            table(out, &heads, &rows)
        }
        "connector_list" => list(
            out,
            "connectors",
            &["Connector Name", "Type", "Class", "Topic", "Status"],
            &["name", "type", "className", "topic", "state"],
        ),
        "connector_description" => connector(out, e),
        "entities" => {
            for x in strs(e, "entities") {
                entity(out, &x, format)?;
            }
            Ok(())
        }
        _ => writeln!(out, "{}", serde_json::to_string_pretty(e).unwrap_or_default()),
    }
}

/// `DESCRIBE CONNECTOR`: what it is, its state, and its counters.
fn connector(out: &mut dyn Write, e: &Value) -> std::io::Result<()> {
    let text = |p: &str| e.pointer(p).filter(|v| !v.is_null()).map(cell).unwrap_or_default();
    writeln!(out, "\nName                 : {}", text("/status/name"))?;
    writeln!(out, "Class                : {}", text("/connectorClass"))?;
    writeln!(out, "Type                 : {}", text("/status/type"))?;
    writeln!(out, "State                : {}", text("/status/connector/state"))?;
    let topics = strs(e, "topics").iter().map(cell).collect::<Vec<_>>().join(", ");
    writeln!(out, "Topic                : {topics}")?;
    writeln!(out, "Path                 : {}", text("/path"))?;
    for (label, p) in [("Format", "/format"), ("Dead-letter topic", "/dlqTopic")] {
        let v = text(p);
        if !v.is_empty() {
            writeln!(out, "{label:<21}: {v}")?;
        }
    }
    let trace = text("/status/connector/trace");
    if !trace.is_empty() {
        writeln!(out, "Last error           : {trace}")?;
    }
    let sources = strs(e, "sources").iter().map(|s| field(s, "name")).collect::<Vec<_>>().join(", ");
    if !sources.is_empty() {
        writeln!(out, "Streams and tables   : {sources}")?;
    }
    let m = |k: &str| e.pointer(&format!("/metrics/{k}")).map(cell).unwrap_or_default();
    table(
        out,
        &["Records in", "Records out", "Dead-lettered", "Skipped", "Duplicates", "Files done/seen"],
        &[vec![
            m("recordsIn"),
            m("recordsOut"),
            m("deadLettered"),
            m("skipped"),
            m("duplicates"),
            format!("{}/{}", m("filesDone"), m("filesSeen")),
        ]],
    )
}

fn description(out: &mut dyn Write, d: &Value) -> std::io::Result<()> {
    writeln!(out, "\nName                 : {}", field(d, "name"))?;
    writeln!(out, "Type                 : {}", field(d, "type"))?;
    let ts = field(d, "timestamp");
    writeln!(
        out,
        "Timestamp field      : {}",
        if ts.is_empty() { "Not set - using <ROWTIME>".to_string() } else { ts }
    )?;
    writeln!(out, "Key format           : {}", field(d, "keyFormat"))?;
    writeln!(out, "Value format         : {}", field(d, "valueFormat"))?;
    writeln!(out, "Kafka topic          : {}", field(d, "topic"))?;
    if let Some(w) = d.get("windowType").and_then(Value::as_str) {
        writeln!(out, "Window type          : {w}")?;
    }
    writeln!(out, "Statement            : {}", field(d, "statement"))?;
    let rows: Vec<Vec<String>> = strs(d, "fields")
        .iter()
        .map(|f| {
            let role = f.get("type").and_then(Value::as_str).map(|r| format!(" ({r})")).unwrap_or_default();
            vec![
                field(f, "name"),
                format!("{}{role}", f.pointer("/schema/type").map(cell).unwrap_or_default()),
            ]
        })
        .collect();
    table(out, &["Field", "Type"], &rows)?;
    if d.get("extended").and_then(Value::as_bool).unwrap_or(false) {
        let ids = |k: &str| strs(d, k).iter().map(|q| field(q, "id")).collect::<Vec<_>>().join(", ");
        writeln!(out, "Queries that read from this source : {}", ids("readQueries"))?;
        writeln!(out, "Queries that write into this source: {}", ids("writeQueries"))?;
        writeln!(out, "Partitions: {}, {}", field(d, "partitions"), field(d, "statistics"))?;
        let errors = field(d, "errorStats");
        if !errors.is_empty() {
            writeln!(out, "Errors: {errors}")?;
        }
    }
    Ok(())
}

/// Prints rows of a query as they arrive: a header first, then one line per row.
pub struct LiveTable {
    widths: Vec<usize>,
    format: Format,
    rows: usize,
}

impl LiveTable {
    /// Prints the header of a query.
    pub fn start(out: &mut dyn Write, header: &Value, format: Format) -> std::io::Result<LiveTable> {
        let names: Vec<String> = strs(header, "columnNames").iter().map(cell).collect();
        // Rows stream in, so widths are fixed up front: wide enough for an epoch-millisecond
        // timestamp; longer values widen their own row.
        let widths: Vec<usize> = names.iter().map(|n| n.chars().count().max(14)).collect();
        if format == Format::Json {
            writeln!(out, "{header}")?;
        } else {
            writeln!(out, "{}", border(&widths))?;
            writeln!(out, "{}", row_line(&names, &widths))?;
            writeln!(out, "{}", border(&widths))?;
        }
        out.flush()?;
        Ok(LiveTable { widths, format, rows: 0 })
    }

    /// Prints one row.
    pub fn row(&mut self, out: &mut dyn Write, row: &Value) -> std::io::Result<()> {
        self.rows += 1;
        if self.format == Format::Json {
            writeln!(out, "{row}")?;
        } else {
            let cells: Vec<String> =
                row.as_array().map(|c| c.iter().map(cell).collect()).unwrap_or_else(|| vec![cell(row)]);
            writeln!(out, "{}", row_line(&cells, &self.widths))?;
        }
        out.flush()
    }

    /// Closes the table.
    pub fn finish(&self, out: &mut dyn Write, note: &str) -> std::io::Result<()> {
        if self.format == Format::Table {
            writeln!(out, "{}", border(&self.widths))?;
        }
        writeln!(out, "{note}{} row(s)", self.rows)?;
        out.flush()
    }
}
