//! `brook produce TOPIC`: one record per stdin line.

use std::io::BufRead;
use std::time::Duration;

use anyhow::Context;
use brook_broker::NewRecord;
use clap::Args;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::target::{Target, TargetArgs, producer_config};

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

/// Reads stdin and produces; returns once every record is acknowledged (durable locally).
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
    let stdin = std::io::stdin();
    let mut count = 0usize;
    match args.target.open()? {
        Target::Local(broker) => {
            let mut batch = Vec::new();
            let mut ends = std::collections::BTreeMap::new();
            for line in stdin.lock().lines() {
                let (key, value) = split(line.context("reading stdin")?);
                batch.push(NewRecord::new(key, Some(value)));
                if batch.len() >= 1000 {
                    count += flush(&broker, &args, &mut batch, &mut ends)?;
                }
            }
            count += flush(&broker, &args, &mut batch, &mut ends)?;
            for (p, end) in ends {
                broker.wait_durable(&args.topic, p, end).await?;
            }
            broker.close()?;
        }
        Target::Remote(bootstrap) => {
            let producer: FutureProducer = producer_config(&bootstrap)
                .set("acks", &args.acks)
                .set("linger.ms", "5")
                .create()
                .with_context(|| format!("connecting to {bootstrap}"))?;
            // Enqueue without waiting for each delivery; wait for all of them at the end.
            let mut pending = std::collections::VecDeque::new();
            for line in stdin.lock().lines() {
                let (key, value) = split(line.context("reading stdin")?);
                let mut record = FutureRecord::to(&args.topic).payload(&value);
                if let Some(k) = &key {
                    record = record.key(k);
                }
                if let Some(p) = args.partition {
                    record = record.partition(p);
                }
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push_back(delivery);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err((e, _)) => anyhow::bail!("produce failed: {e}"),
                    }
                }
                count += 1;
                // Bound memory on long inputs by settling the oldest deliveries.
                while pending.len() > 100_000 {
                    if let Some(d) = pending.pop_front() {
                        settle(d).await?;
                    }
                }
            }
            for d in pending {
                settle(d).await?;
            }
        }
    }
    eprintln!("Produced {count} record(s) to {}.", args.topic);
    Ok(())
}

async fn settle(delivery: DeliveryFuture) -> anyhow::Result<()> {
    delivery
        .await
        .context("the producer shut down before delivering")?
        .map_err(|(e, _)| anyhow::anyhow!("produce failed: {e}"))?;
    Ok(())
}

fn flush(
    broker: &brook_broker::Broker,
    args: &ProduceArgs,
    batch: &mut Vec<NewRecord>,
    ends: &mut std::collections::BTreeMap<i32, i64>,
) -> anyhow::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len();
    for (p, offset) in broker.produce(&args.topic, args.partition, std::mem::take(batch))? {
        let e = ends.entry(p).or_insert(0);
        *e = (*e).max(offset + 1);
    }
    Ok(n)
}
