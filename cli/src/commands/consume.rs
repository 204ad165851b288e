//! `brook consume TOPIC`: prints records with their partition, offset and timestamp.
//!
//! Reads go through the [`Cluster`] of the target, the data directory or a server, in the same
//! way: each partition starts at the group's committed offset (with `--group`), else at the
//! beginning or the end; reading passes over the partitions until `--max-messages`. On a data
//! directory nobody else can write, so reading stops at the end of the log; on a server the
//! topic may grow, so it waits for new records until `--timeout-ms` passes without any. With
//! `--group` the positions reached are committed at the end, as a group-less ("simple")
//! commit: the command reads the partitions itself and never joins the group.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_client::{Cluster, Committed};
use clap::{Args, ValueEnum};

use crate::target::{Target, TargetArgs};

/// How long a reader following a server's topic waits before asking for new records again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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
    let target = args.target.open()?;
    let follow = matches!(target, Target::Remote(_));
    // The cluster calls block (librdkafka polls, fsyncs): keep them off the async workers.
    tokio::task::spawn_blocking(move || {
        let result = consume(target.cluster(), &args, follow);
        crate::target::close(target)?;
        result
    })
    .await
    .context("the consumer thread failed")?
}

/// Prints records of `args.topic` from `cluster`; `follow` waits for new records at the end.
fn consume(cluster: &dyn Cluster, args: &ConsumeArgs, follow: bool) -> anyhow::Result<()> {
    let mut positions = start_positions(cluster, args)?;
    let limit = args.max_messages.unwrap_or(usize::MAX);
    let idle = args.timeout_ms.map(Duration::from_millis);
    let mut printed = 0usize;
    let mut last_record = Instant::now();
    while printed < limit {
        let before = printed;
        for (p, next) in positions.iter_mut() {
            if printed >= limit {
                break;
            }
            for r in cluster.read(&args.topic, *p, *next, 1 << 20)? {
                if printed >= limit {
                    break;
                }
                print(
                    args.format,
                    &Printed {
                        partition: *p,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: r.key.as_deref(),
                        value: r.value.as_deref(),
                    },
                );
                *next = r.offset + 1;
                printed += 1;
            }
        }
        if printed > before {
            last_record = Instant::now();
        } else if !follow || idle.is_some_and(|idle| last_record.elapsed() >= idle) {
            break;
        } else {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    if let Some(g) = &args.group {
        let commits: Vec<(&str, i32, Committed)> =
            positions.iter().map(|&(p, next)| (args.topic.as_str(), p, Committed::new(next))).collect();
        cluster.commit(g, &commits).context("committing group offsets")?;
    }
    eprintln!("Consumed {printed} record(s).");
    Ok(())
}

/// Where reading starts in each partition read: `(partition, offset)`.
fn start_positions(cluster: &dyn Cluster, args: &ConsumeArgs) -> anyhow::Result<Vec<(i32, i64)>> {
    let partitions: Vec<i32> = match (args.partition, cluster.partitions(&args.topic)?) {
        (_, None) => bail!("topic '{}' does not exist in {}", args.topic, cluster.describe()),
        (Some(p), Some(_)) => vec![p],
        (None, Some(n)) => (0..n).collect(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for p in partitions {
        let committed = match &args.group {
            Some(g) => cluster.committed(g, &args.topic, p)?,
            None => None,
        };
        let (start, end) = cluster.offsets(&args.topic, p)?;
        let next = match committed {
            // Records below the log start are gone (retention, deleted records).
            Some(c) => c.offset.max(start),
            None if args.from_beginning => start,
            None => end,
        };
        positions.push((p, next));
    }
    Ok(positions)
}
