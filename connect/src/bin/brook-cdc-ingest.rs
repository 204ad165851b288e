//! A small process that runs a Debezium directory source against an embedded broker, used by
//! the kill tests (`tests/it/kill.rs`), which SIGKILL it at random moments and restart it.
//!
//! Usage: `brook-cdc-ingest DATA_DIR INPUT_DIR follow|once [json]`
//!
//! With `json` the source reads JSON lines instead (no key, into the 2-partition topic `bids`).
//!
//! `follow` runs until killed; `once` reads the input to its end, closes the broker cleanly
//! and prints `DONE <records in> <records out> <dead-lettered>`.

use std::sync::Arc;

use brook_broker::{Broker, BrokerConfig};
use brook_client::EmbeddedCluster;
use brook_connect::source::FileSource;
use brook_connect::{ConnectorConfig, ConnectorDefinition, ConnectorKind, Metrics, StopSignal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, input, mode, json) = match &args[..] {
        [data, input, mode] => (data, input, mode, false),
        [data, input, mode, format] if format == "json" => (data, input, mode, true),
        _ => {
            eprintln!("usage: brook-cdc-ingest DATA_DIR INPUT_DIR follow|once [json]");
            std::process::exit(2);
        }
    };
    let mut config = BrokerConfig::new(data);
    config.flush_interval = None;
    // Compaction would make the log depend on timing; the test compares logs record by record.
    config.cleaner_interval = std::time::Duration::from_secs(24 * 3600);
    let broker = Broker::open(config)?;
    let mut props = vec![
        ("connector", "file"),
        ("path", input.as_str()),
        ("pattern", "*.json"),
        ("mode", mode.as_str()),
        ("poll_interval_ms", "5"),
        ("commit_interval_ms", "50"),
    ];
    if json {
        props.extend([("format", "json"), ("topic", "bids"), ("partitions", "2")]);
    } else {
        props.extend([
            ("format", "debezium_json"),
            ("topic", "customers"),
            ("key", "id"),
            ("partitions", "4"),
        ]);
    }
    let def = ConnectorDefinition::new("cdc", ConnectorKind::Source, props)?;
    let ConnectorConfig::Source(source) = def.config()? else {
        return Err("expected a source".into());
    };
    let metrics = Arc::new(Metrics::default());
    FileSource::new("cdc", source, Arc::new(EmbeddedCluster::new(broker.clone())), metrics.clone())
        .run(&StopSignal::new())?;
    broker.close()?;
    let m = metrics.snapshot();
    println!("DONE {} {} {}", m.records_in, m.records_out, m.dlq);
    Ok(())
}
