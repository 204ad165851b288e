//! `brook connect run FILE.toml` and `brook connect status`.
//!
//! `run` starts the connectors of a TOML file (`[[source]]` and `[[sink]]` tables, see
//! `brook_connect::definitions_from_toml`) against a data directory (embedded broker) or a
//! running server (`--bootstrap`), prints their counters every few seconds, and stops them
//! cleanly on Ctrl-C — or, with `--once`, when every source has read its input and every sink
//! has written its topic out. While it runs on a data directory it keeps
//! `<data-dir>/connect-status.json` up to date, which `status` shows.
//!
//! `status` shows each connector's state and counters: live ones from a running
//! `connect run`'s status file, otherwise as of their last commit (stored in
//! `_brook_connect_offsets`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_client::{Cluster, KafkaCluster};
use brook_connect::manager::stored_status;
use brook_connect::{ConnectorManager, ConnectorState, ConnectorStatus, MetricsSnapshot};
use clap::Subcommand;

use crate::target::{Target, TargetArgs};

/// Connector commands.
#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Run the connectors described in a TOML file until Ctrl-C.
    Run {
        /// TOML file with `[[source]]` and `[[sink]]` tables.
        file: PathBuf,
        /// Stop once every source has read its input and every sink has caught up.
        #[arg(long)]
        once: bool,
        /// Print counters this often (seconds; 0: only at the end).
        #[arg(long, default_value_t = 10)]
        status_interval: u64,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show connectors' state and counters (records in/out, dead-lettered, files).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

const STATUS_FILE: &str = "connect-status.json";

/// Runs a connect command.
pub async fn run(cmd: ConnectCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectCommand::Run { file, once, status_interval, target } => {
            run_connectors(&file, once, status_interval, &target).await
        }
        ConnectCommand::Status { json, target } => status(json, &target),
    }
}

async fn run_connectors(file: &Path, once: bool, interval: u64, target: &TargetArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut defs =
        brook_connect::definitions_from_toml(&text).with_context(|| format!("in {}", file.display()))?;
    if defs.is_empty() {
        bail!("{} defines no connector: add [[source]] or [[sink]] tables", file.display());
    }
    if once {
        for d in &mut defs {
            d.properties.insert("mode".into(), "once".into());
        }
    }
    let args = target.clone();
    let (cluster, broker, status_path): (Arc<dyn Cluster>, _, _) =
        match tokio::task::spawn_blocking(move || args.open_as("brook-connect", &[])).await?? {
            Target::Local(c) => {
                let broker = c.broker().clone();
                (Arc::new(c), Some(broker), Some(target.data_dir.join(STATUS_FILE)))
            }
            Target::Remote(c) => (Arc::new(*c), None, None),
        };
    let manager = Arc::new(ConnectorManager::standalone(cluster));
    for d in defs {
        manager.create(d)?;
    }
    eprintln!("running {} connector(s); Ctrl-C stops them", manager.list().len());
    let started = Instant::now();
    let mut last_print = Instant::now();
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { interrupted = true; }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Some(path) = &status_path {
            write_status(path, &manager.list());
        }
        // Every connector's thread has ended: all were `once` connectors and are done.
        if interrupted || manager.wait_until_finished(Duration::ZERO) {
            break;
        }
        if interval > 0 && last_print.elapsed() >= Duration::from_secs(interval) {
            print_table(&manager.list());
            last_print = Instant::now();
        }
    }
    let m = manager.clone();
    tokio::task::spawn_blocking(move || m.shutdown()).await?;
    let statuses = manager.list();
    if let Some(path) = &status_path {
        write_status(path, &statuses);
    }
    print_table(&statuses);
    eprintln!("stopped after {:.1}s", started.elapsed().as_secs_f64());
    drop(manager);
    if let Some(b) = broker {
        b.close().context("closing the data directory")?;
    }
    let failed: Vec<&str> = statuses
        .iter()
        .filter(|s| matches!(s.state, ConnectorState::Failed(_)))
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("connector(s) failed: {}", failed.join(", "));
    }
    Ok(())
}

fn write_status(path: &Path, statuses: &[ConnectorStatus]) {
    let doc = serde_json::json!({ "updated_ms": brook_broker::util::now_ms(), "connectors": statuses });
    let tmp = path.with_extension("json.tmp");
    // Best effort: a status file that cannot be written must not stop the connectors.
    if std::fs::write(&tmp, doc.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn status(json: bool, target: &TargetArgs) -> anyhow::Result<()> {
    let rows = match &target.bootstrap {
        Some(bootstrap) => stored_rows(&KafkaCluster::connect(bootstrap)?)?,
        None => match target.open() {
            Ok(Target::Local(cluster)) => {
                let rows = stored_rows(&cluster);
                cluster.broker().close()?;
                rows?
            }
            Ok(Target::Remote(_)) => unreachable!("no --bootstrap was given"),
            Err(e) if in_use(&e) => live_rows(&target.data_dir.join(STATUS_FILE))?,
            Err(e) => return Err(e),
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no connectors");
    } else {
        print_rows(&rows);
    }
    Ok(())
}

fn in_use(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(c.downcast_ref::<brook_broker::Error>(), Some(brook_broker::Error::DataDirInUse(_)))
    })
}

/// One line of `brook connect status`.
#[derive(Debug, serde::Serialize)]
struct Row {
    name: String,
    kind: String,
    state: String,
    topic: String,
    metrics: MetricsSnapshot,
    last_error: Option<String>,
}

fn from_status(s: &ConnectorStatus) -> Row {
    Row {
        name: s.name.clone(),
        kind: s.kind.as_str().to_string(),
        state: s.state.to_string(),
        topic: s.topic.clone(),
        metrics: s.metrics,
        last_error: s.last_error.clone(),
    }
}

fn stored_rows(cluster: &dyn Cluster) -> anyhow::Result<Vec<Row>> {
    Ok(stored_status(cluster)?
        .into_iter()
        .map(|c| {
            let committed = c.checkpoint.as_ref().map(|cp| cp.committed_ms);
            let kind = c.definition.as_ref().map(|d| d.kind).or(c.checkpoint.as_ref().and_then(|cp| cp.kind));
            let topic = c.definition.as_ref().and_then(|d| d.properties.get("topic").cloned());
            Row {
                kind: kind.map_or("-", |k| k.as_str()).to_string(),
                topic: topic.or(c.checkpoint.as_ref().and_then(|cp| cp.topic.clone())).unwrap_or_default(),
                state: committed
                    .map_or("DEFINED".to_string(), |ms| format!("COMMITTED {}s ago", age_secs(ms))),
                metrics: c.checkpoint.map(|cp| cp.metrics).unwrap_or_default(),
                last_error: None,
                name: c.name,
            }
        })
        .collect())
}

fn live_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the data directory is in use, but {} is missing: is `brook connect run` using it?",
            path.display()
        )
    })?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let statuses: Vec<serde_json::Value> = doc["connectors"].as_array().cloned().unwrap_or_default();
    let age = age_secs(doc["updated_ms"].as_i64().unwrap_or(0));
    Ok(statuses
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            let state = match &s["state"] {
                serde_json::Value::Object(o) => {
                    o.get("state").and_then(|v| v.as_str()).unwrap_or("?").to_uppercase()
                }
                other => other.as_str().unwrap_or("?").to_uppercase(),
            };
            Row {
                name: text("name"),
                kind: text("kind"),
                state: format!("{state} ({age}s ago)"),
                topic: text("topic"),
                metrics: serde_json::from_value(s["metrics"].clone()).unwrap_or_default(),
                last_error: s["last_error"].as_str().map(str::to_string),
            }
        })
        .collect())
}

fn age_secs(ms: i64) -> i64 {
    ((brook_broker::util::now_ms() - ms) / 1000).max(0)
}

fn print_table(statuses: &[ConnectorStatus]) {
    print_rows(&statuses.iter().map(from_status).collect::<Vec<_>>());
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<24} {:<6} {:<22} {:<24} {:>10} {:>10} {:>7} {:>9} {:>7}  LAST ERROR",
        "NAME", "KIND", "STATE", "TOPIC", "IN", "OUT", "DLQ", "SKIPPED", "FILES"
    );
    for r in rows {
        let m = &r.metrics;
        println!(
            "{:<24} {:<6} {:<22} {:<24} {:>10} {:>10} {:>7} {:>9} {:>7}  {}",
            r.name,
            r.kind,
            r.state,
            r.topic,
            m.records_in,
            m.records_out,
            m.dlq,
            m.skipped,
            if r.kind == "sink" {
                m.files_done.to_string()
            } else {
                format!("{}/{}", m.files_done, m.files_seen)
            },
            r.last_error.as_deref().unwrap_or("-")
        );
    }
}
