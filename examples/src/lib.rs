//! Runnable examples of Brook's Rust DSL. Each example is a function over a [`Cluster`] so the
//! same code runs against an embedded broker (the default of `cargo run --example …`) and, in
//! the tests, against a real `brook server` over the Kafka protocol.
//!
//! * [`wordcount`] — words counted across lines (flat_map, group_by, count).
//! * [`pageviews`] — page views per region per tumbling window (stream-table join, windowed count).
//! * [`order_enrichment`] — orders enriched with customer data (stream-table join).
//! * [`fraud_alerts`] — payments within minutes of a login from another country (stream-stream join).
//! * [`cdc_inventory`] — Debezium change events ingested into tables, joined, aggregated continuously.

pub mod cdc_inventory;
pub mod cluster;
pub mod fraud_alerts;
pub mod order_enrichment;
pub mod pageviews;
pub mod wordcount;

pub use cluster::Cluster;

/// Parses `--bootstrap HOST:PORT` from the command line: a remote cluster if given, else an
/// embedded broker in a temporary directory.
pub fn cluster_from_args() -> anyhow::Result<Cluster> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--bootstrap") {
        Some(i) => {
            let b = args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--bootstrap needs HOST:PORT"))?;
            Cluster::remote(b)
        }
        None => Cluster::embedded(),
    }
}
