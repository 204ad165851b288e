//! The SQL shell behind `brook sql`: a rustyline REPL with history, multi-line statements
//! (a statement ends at `;`), tab completion of keywords and stream/table names, boxed tables
//! or JSON output, and push-query rows printed as they arrive. Ctrl-C while a query runs
//! cancels the query and returns to the prompt; at the prompt it clears the line; Ctrl-D
//! exits.
//!
//! The shell talks to a [`backend::Backend`]: an engine in this process, or a `brook server`
//! over its HTTP API.

pub mod backend;
pub mod client;
pub mod render;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use backend::{Backend, Cancel, Outcome};
use render::{Format, LiveTable};

/// Words offered by tab completion (besides stream and table names).
const KEYWORDS: &[&str] = &[
    "ADVANCE",
    "AND",
    "ARRAY",
    "AS",
    "AVG",
    "BEGINNING",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "BYTES",
    "CASE",
    "CAST",
    "CHANGES",
    "COLLECT_LIST",
    "COUNT",
    "COUNT_DISTINCT",
    "CREATE",
    "DECIMAL",
    "DEFINE",
    "DELETE",
    "DELIMITED",
    "DESCRIBE",
    "DOUBLE",
    "DROP",
    "EARLIEST_BY_OFFSET",
    "ELSE",
    "EMIT",
    "END",
    "EXIT",
    "EXPLAIN",
    "EXTENDED",
    "FINAL",
    "FORMAT",
    "FROM",
    "FULL",
    "FUNCTIONS",
    "GRACE",
    "GROUP",
    "HAVING",
    "HEADER",
    "HEADERS",
    "HOPPING",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTO",
    "IS",
    "JOIN",
    "JSON",
    "KAFKA",
    "KAFKA_TOPIC",
    "KEY",
    "KEY_FORMAT",
    "LATEST_BY_OFFSET",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LIST",
    "MAP",
    "MAX",
    "MIN",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OUTER",
    "PARTITION",
    "PARTITIONS",
    "PERIOD",
    "PRIMARY",
    "PRINT",
    "PROPERTIES",
    "QUERIES",
    "RETENTION",
    "RIGHT",
    "ROWTIME",
    "RUN",
    "SCRIPT",
    "SELECT",
    "SESSION",
    "SET",
    "SHOW",
    "SIZE",
    "SOURCE",
    "STREAM",
    "STREAMS",
    "STRING",
    "STRUCT",
    "SUM",
    "TABLE",
    "TABLES",
    "TERMINATE",
    "THEN",
    "TIMESTAMP",
    "TOPICS",
    "TOPK",
    "TUMBLING",
    "TYPES",
    "UNDEFINE",
    "UNSET",
    "VALUES",
    "VALUE_FORMAT",
    "VARIABLES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WINDOWEND",
    "WINDOWSTART",
    "WITH",
    "WITHIN",
];

const HELP: &str = "\
Statements end with ';' and may span several lines. Examples:
  CREATE STREAM s (id INT KEY, v STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);
  INSERT INTO s (id, v) VALUES (1, 'a');
  SELECT * FROM s EMIT CHANGES;      -- rows appear as they arrive; Ctrl-C stops the query
  SHOW STREAMS;  SHOW TABLES;  SHOW QUERIES;  DESCRIBE s;
Shell commands: help, output json|table, exit (or Ctrl-D).";

/// Tab completion of keywords and source names, keeping the case the user typed.
struct Completion {
    names: Arc<Mutex<Vec<String>>>,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = &line[..pos];
        let start = head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        let word = &head[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let upper = word.to_uppercase();
        let lower = word.chars().all(|c| !c.is_uppercase());
        let mut out: Vec<String> = KEYWORDS
            .iter()
            .filter(|k| k.starts_with(&upper))
            .map(|k| if lower { k.to_lowercase() } else { k.to_string() })
            .collect();
        for n in self.names.lock().iter() {
            if n.to_uppercase().starts_with(&upper) {
                out.push(if lower && n.chars().all(|c| !c.is_lowercase()) {
                    n.to_lowercase()
                } else {
                    n.clone()
                });
            }
        }
        out.sort();
        out.dedup();
        Ok((start, out))
    }
}

impl Hinter for Completion {
    type Hint = String;
}

impl Highlighter for Completion {}

impl Validator for Completion {}

impl Helper for Completion {}

/// The shell.
pub struct Shell {
    backend: Box<dyn Backend>,
    format: Format,
    active: Arc<Mutex<Option<Cancel>>>,
    names: Arc<Mutex<Vec<String>>>,
}

impl Shell {
    /// A shell over a backend.
    pub fn new(backend: Box<dyn Backend>, format: Format) -> Self {
        Shell { backend, format, active: Arc::new(Mutex::new(None)), names: Arc::new(Mutex::new(Vec::new())) }
    }

    /// The cancel function of the query running now, for a Ctrl-C handler.
    pub fn active_query(&self) -> Arc<Mutex<Option<Cancel>>> {
        self.active.clone()
    }

    /// Runs statements, printing results; returns whether all succeeded.
    pub fn run_sql(&mut self, sql: &str, out: &mut dyn Write) -> bool {
        let mut ok = true;
        for outcome in self.backend.execute(sql) {
            let written = match outcome {
                Outcome::Entity(e) => render::entity(out, &e, self.format),
                Outcome::Error(m) => {
                    ok = false;
                    writeln!(out, "Error: {m}")
                }
                Outcome::Query(mut q) => {
                    *self.active.lock() = Some(q.cancel.clone());
                    let r = (|| -> std::io::Result<()> {
                        let mut live = LiveTable::start(out, &q.header, self.format)?;
                        let mut note = String::new();
                        while let Some(next) = (q.next)() {
                            match next {
                                Ok(row) => live.row(out, &row)?,
                                Err(e) => {
                                    note = format!("Query failed: {e}\n");
                                    break;
                                }
                            }
                        }
                        live.finish(out, &note)
                    })();
                    *self.active.lock() = None;
                    (q.cancel)();
                    r
                }
            };
            if written.is_err() {
                return false;
            }
        }
        *self.names.lock() = self.backend.names();
        ok
    }

    /// Handles shell commands (`exit`, `help`, `output …`). Returns `None` if `line` is SQL,
    /// `Some(false)` to exit.
    fn command(&mut self, line: &str, out: &mut dyn Write) -> Option<bool> {
        let words: Vec<String> =
            line.trim().trim_end_matches(';').split_whitespace().map(|w| w.to_lowercase()).collect();
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["exit"] | ["quit"] => Some(false),
            ["help"] => {
                let _ = writeln!(out, "{HELP}");
                Some(true)
            }
            ["output", "json"] => {
                self.format = Format::Json;
                Some(true)
            }
            ["output", "table" | "tabular"] => {
                self.format = Format::Table;
                Some(true)
            }
            ["output"] => {
                let _ = writeln!(
                    out,
                    "Output format is {}",
                    if self.format == Format::Json { "JSON" } else { "TABULAR" }
                );
                Some(true)
            }
            _ => None,
        }
    }

    /// Runs a script non-interactively; returns whether every statement succeeded.
    pub fn run_script(&mut self, script: &str) -> bool {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        self.run_sql(script, &mut out)
    }

    /// The interactive loop.
    pub fn run_interactive(&mut self, banner: &str) -> anyhow::Result<()> {
        let mut editor: Editor<Completion, DefaultHistory> = Editor::new()?;
        *self.names.lock() = self.backend.names();
        editor.set_helper(Some(Completion { names: self.names.clone() }));
        let history: Option<PathBuf> =
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".brook_history"));
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        println!("{banner}");
        println!("Type 'help' for help, 'exit' or Ctrl-D to leave.\n");
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { "brook> " } else { "  ...> " };
            match editor.readline(prompt) {
                Ok(line) => {
                    if buffer.is_empty() {
                        let stdout = std::io::stdout();
                        let mut out = stdout.lock();
                        match self.command(&line, &mut out) {
                            Some(false) => break,
                            Some(true) => {
                                let _ = editor.add_history_entry(line.trim());
                                continue;
                            }
                            None => {}
                        }
                    }
                    if line.trim().is_empty() && buffer.is_empty() {
                        continue;
                    }
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if brook_sql::parser::is_complete(&buffer) {
                        let sql = std::mem::take(&mut buffer);
                        let _ = editor.add_history_entry(sql.trim());
                        let stdout = std::io::stdout();
                        let mut out = stdout.lock();
                        self.run_sql(&sql, &mut out);
                        let _ = writeln!(out);
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(h) = &history {
            let _ = editor.save_history(h);
        }
        Ok(())
    }
}
