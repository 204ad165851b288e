//! `brook produce TOPIC`: one record per stdin line.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::Context;
use brook_client::{Cluster, NewRecord};
use clap::Args;

use crate::target::{Target, TargetArgs, close};

/// Options of `brook produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    pub topic: String,
    /// Split each line at the first SEP into key and value (otherwise the key is null).
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Write every record to this partition instead of using the key's partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Acknowledgements with --bootstrap: 0, 1 or all.
    #[arg(long, default_value = "all")]
    pub acks: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Reads stdin and produces it in chunks; returns once every record is acknowledged (and, on a
/// data directory, durable).
pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let split = |line: String| -> (Option<String>, String) {
        match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => (None, line),
            },
            None => (None, line),
        }
    };
    // A console producer, as Kafka's: not idempotent, so --acks may be 0 or 1, and writing runs
    // at a plain producer's speed (about twice an idempotent one's against `brook server`).
    let producer = [("acks", args.acks.as_str()), ("enable.idempotence", "false")];
    let target = args.target.open_with(&producer)?;
    // Each chunk waits for its acknowledgements. In-process a chunk is one record batch per
    // partition; over the network a larger chunk keeps the producer's pipeline full.
    let chunk = match &target {
        Target::Local(_) => 1000,
        Target::Remote(_) => 50_000,
    };
    let cluster = target.cluster();
    let mut count = 0usize;
    let mut ends = BTreeMap::new();
    let mut batch = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let (key, value) = split(line.context("reading stdin")?);
        batch.push(NewRecord::new(key, Some(value)));
        if batch.len() >= chunk {
            count += flush(cluster, &args, &mut batch, &mut ends)?;
        }
    }
    count += flush(cluster, &args, &mut batch, &mut ends)?;
    for (p, end) in ends {
        cluster.sync(&args.topic, p, end)?;
    }
    close(target)?;
    eprintln!("Produced {count} record(s) to {}.", args.topic);
    Ok(())
}

/// Produces `batch` and notes the end offset per partition; returns how many records it held.
fn flush(
    cluster: &dyn Cluster,
    args: &ProduceArgs,
    batch: &mut Vec<NewRecord>,
    ends: &mut BTreeMap<i32, i64>,
) -> anyhow::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len();
    for (p, offset) in cluster.produce(&args.topic, args.partition, std::mem::take(batch))? {
        let e = ends.entry(p).or_insert(0);
        *e = (*e).max(offset + 1);
    }
    Ok(n)
}
