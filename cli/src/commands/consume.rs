//! `brook consume TOPIC`: prints records with their partition, offset and timestamp.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_client::{Cluster, Committed};
use clap::{Args, ValueEnum};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;

use crate::target::{Target, TargetArgs, kafka_config};

/// Output format of consumed records.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// `partition:P offset:O timestamp:T key:K value:V`
    Text,
    /// One JSON object per record.
    Json,
}

/// Options of `brook consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Start at the earliest offset instead of the end (when the group has no commit).
    #[arg(long)]
    pub from_beginning: bool,
    /// Consume as this consumer group: resume from and commit its offsets.
    #[arg(long)]
    pub group: Option<String>,
    /// Stop after this many records.
    #[arg(long)]
    pub max_messages: Option<usize>,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// With --bootstrap: stop after this long without new records (default: wait forever).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub target: TargetArgs,
}

struct Printed<'a> {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

fn print(format: Format, r: &Printed<'_>) {
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    match format {
        Format::Text => println!(
            "partition:{} offset:{} timestamp:{} key:{} value:{}",
            r.partition,
            r.offset,
            r.timestamp,
            text(r.key).unwrap_or_else(|| "null".into()),
            text(r.value).unwrap_or_else(|| "null".into())
        ),
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
                "key": text(r.key), "value": text(r.value),
            })
        ),
    }
}

/// Reads and prints records.
pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    match args.target.open()? {
        Target::Local(cluster) => {
            let result = consume_local(&cluster, &args);
            cluster.broker().close()?;
            result
        }
        // Group membership and waiting for new records are not in `Cluster` yet: a consumer.
        Target::Remote(cluster) => consume_remote(cluster.bootstrap(), &args).await,
    }
}

/// With a data directory nobody else can write, so reading stops at the end of the log.
fn consume_local(cluster: &dyn Cluster, args: &ConsumeArgs) -> anyhow::Result<()> {
    let partitions: Vec<i32> = match (args.partition, cluster.partitions(&args.topic)?) {
        (_, None) => bail!("topic '{}' does not exist in {}", args.topic, cluster.describe()),
        (Some(p), Some(_)) => vec![p],
        (None, Some(n)) => (0..n).collect(),
    };
    let mut printed = 0usize;
    let limit = args.max_messages.unwrap_or(usize::MAX);
    let mut commits = Vec::new();
    for p in partitions {
        let committed = match &args.group {
            Some(g) => cluster.committed(g, &args.topic, p)?,
            None => None,
        };
        let (start, end) = cluster.offsets(&args.topic, p)?;
        let mut next = match committed {
            Some(c) => c.offset,
            None if args.from_beginning => start,
            None => end,
        };
        while next < end && printed < limit {
            let records = cluster.read(&args.topic, p, next, 1 << 20)?;
            if records.is_empty() {
                break;
            }
            for r in records {
                if printed >= limit {
                    break;
                }
                print(
                    args.format,
                    &Printed {
                        partition: p,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: r.key.as_deref(),
                        value: r.value.as_deref(),
                    },
                );
                next = r.offset + 1;
                printed += 1;
            }
        }
        commits.push((args.topic.as_str(), p, Committed::new(next)));
    }
    if let Some(g) = &args.group {
        cluster.commit(g, &commits).context("committing group offsets")?;
    }
    eprintln!("Consumed {printed} record(s).");
    Ok(())
}

async fn consume_remote(bootstrap: &str, args: &ConsumeArgs) -> anyhow::Result<()> {
    let group = args.group.clone().unwrap_or_else(|| format!("brook-console-{}", std::process::id()));
    let consumer: StreamConsumer = kafka_config(bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", if args.from_beginning { "earliest" } else { "latest" })
        .create()
        .with_context(|| format!("connecting to {bootstrap}"))?;
    match args.partition {
        Some(p) => {
            let mut tpl = rdkafka::TopicPartitionList::new();
            // With a group, resume from its committed offset (falling back to the reset policy).
            let offset = if args.group.is_some() {
                rdkafka::Offset::Stored
            } else if args.from_beginning {
                rdkafka::Offset::Beginning
            } else {
                rdkafka::Offset::End
            };
            tpl.add_partition_offset(&args.topic, p, offset)?;
            consumer.assign(&tpl)?;
        }
        None => consumer.subscribe(&[&args.topic])?,
    }
    let limit = args.max_messages.unwrap_or(usize::MAX);
    let idle = args.timeout_ms.map(Duration::from_millis);
    let mut printed = 0usize;
    let mut last = Instant::now();
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    while printed < limit {
        let wait = idle.map_or(Duration::from_secs(3600), |i| i.saturating_sub(last.elapsed()));
        let msg: BorrowedMessage<'_> = match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(m) => m.context("consuming")?,
            Err(_) => break,
        };
        print(
            args.format,
            &Printed {
                partition: msg.partition(),
                offset: msg.offset(),
                timestamp: msg.timestamp().to_millis().unwrap_or(-1),
                key: msg.key(),
                value: msg.payload(),
            },
        );
        positions.insert(msg.partition(), msg.offset() + 1);
        printed += 1;
        last = Instant::now();
    }
    if args.group.is_some() && !positions.is_empty() {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (p, o) in &positions {
            tpl.add_partition_offset(&args.topic, *p, rdkafka::Offset::Offset(*o))?;
        }
        consumer.commit(&tpl, CommitMode::Sync).context("committing group offsets")?;
    }
    eprintln!("Consumed {printed} record(s).");
    Ok(())
}
