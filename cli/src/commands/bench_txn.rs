//! `brook bench txn`: transactional produce next to idempotent produce, side by side in one run.
//!
//! Three modes send `--count` messages of `--message-size` bytes (default 1 KB) through
//! librdkafka with `acks=all`:
//!
//! * `idempotent`: `enable.idempotence=true`, no transactions (the baseline);
//! * `txn-every-N`: a transactional producer that commits every `--commit-records` messages;
//! * `txn-every-Tms`: one that commits every `--commit-interval-ms` (Kafka Streams' EOS
//!   default is 100 ms).
//!
//! The modes alternate for `--rounds` rounds (so machine noise hits all of them alike); the
//! report gives each mode's median throughput, its ratio to the baseline, and the median
//! commit latency (commit_transaction, which includes flushing the transaction's messages).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rdkafka::producer::{Producer, ThreadedProducer};
use serde_json::json;

use super::bench::{
    BenchArgs, Counting, ensure_topic, payload_pool, producer_config, send_payload, with_server,
};

/// Options of `brook bench txn`.
#[derive(Debug, Clone, Args)]
pub struct TxnBenchArgs {
    /// Broker to measure; without it an embedded server runs on a temporary directory.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
    /// Topic to use (created with --partitions if missing).
    #[arg(long, default_value = "brook-bench-txn")]
    pub topic: String,
    /// Bytes per message value.
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,
    /// Messages per mode and round.
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Commit every this many messages in the `txn-every-N` mode.
    #[arg(long, default_value_t = 1000)]
    pub commit_records: u64,
    /// Commit every this many milliseconds in the `txn-every-Tms` mode.
    #[arg(long, default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// Rounds; each runs every mode once, in turn.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Idempotent,
    EveryRecords(u64),
    EveryMillis(u64),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Idempotent => "idempotent".to_string(),
            Mode::EveryRecords(n) => format!("txn-every-{n}"),
            Mode::EveryMillis(ms) => format!("txn-every-{ms}ms"),
        }
    }
}

/// One mode's run: messages per second and commit latencies (ms).
struct Run {
    msgs_per_s: f64,
    commits: Vec<f64>,
}

/// Runs the benchmark.
pub async fn run(args: TxnBenchArgs) -> anyhow::Result<()> {
    if args.message_size < 8 || args.count == 0 || args.rounds == 0 || args.commit_records == 0 {
        bail!("--message-size must be ≥ 8 and --count, --rounds, --commit-records ≥ 1");
    }
    let report = with_server(args.bootstrap.clone(), move |bootstrap| bench(&bootstrap, &args)).await?;
    println!("{report}");
    Ok(())
}

fn bench(bootstrap: &str, args: &TxnBenchArgs) -> anyhow::Result<String> {
    let base = BenchArgs {
        bootstrap: Some(bootstrap.to_string()),
        topic: args.topic.clone(),
        message_size: args.message_size,
        count: args.count,
        acks: "all".to_string(),
        compression: "none".to_string(),
        partitions: args.partitions,
        producers: 1,
        latency_rate: 0,
        latency_secs: 0,
        json: args.json,
    };
    ensure_topic(bootstrap, &base)?;
    let modes = [
        Mode::Idempotent,
        Mode::EveryRecords(args.commit_records),
        Mode::EveryMillis(args.commit_interval_ms),
    ];
    let pool = Arc::new(payload_pool(args.message_size + 4096));
    let mut results: Vec<Vec<Run>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..args.rounds {
        for (i, mode) in modes.iter().enumerate() {
            let run = run_mode(bootstrap, &base, *mode, &pool, &format!("brook-bench-txn-{round}-{i}"))?;
            results[i].push(run);
        }
    }
    let medians: Vec<(f64, f64)> = results
        .iter()
        .map(|runs| {
            let rate = median(runs.iter().map(|r| r.msgs_per_s).collect());
            let commit = median(runs.iter().flat_map(|r| r.commits.iter().copied()).collect());
            (rate, commit)
        })
        .collect();
    let baseline = medians[0].0;
    if args.json {
        let modes: Vec<_> = modes
            .iter()
            .zip(&medians)
            .map(|(m, (rate, commit))| {
                json!({"mode": m.name(), "median_msgs_per_s": rate, "median_mb_per_s": rate * args.message_size as f64 / 1e6,
                       "ratio_to_idempotent": rate / baseline, "median_commit_ms": commit})
            })
            .collect();
        return Ok(json!({"bench": "txn", "message_size": args.message_size, "count": args.count,
                         "partitions": args.partitions, "rounds": args.rounds, "modes": modes})
        .to_string());
    }
    let mut out = format!(
        "transactional vs idempotent produce: {} msgs x {} B, acks=all, {} partitions, median of {} rounds",
        args.count, args.message_size, args.partitions, args.rounds
    );
    for (mode, (rate, commit)) in modes.iter().zip(&medians) {
        out.push_str(&format!(
            "\n  {:<16} {:>9.0} msgs/s {:>7.1} MB/s  {:>5.2}x idempotent",
            mode.name(),
            rate,
            rate * args.message_size as f64 / 1e6,
            rate / baseline
        ));
        if !commit.is_nan() {
            out.push_str(&format!("  commit p50 {commit:.2} ms"));
        }
    }
    Ok(out)
}

fn run_mode(
    bootstrap: &str,
    args: &BenchArgs,
    mode: Mode,
    pool: &[u8],
    transactional_id: &str,
) -> anyhow::Result<Run> {
    let mut config = producer_config(bootstrap, args, "5");
    config.set("enable.idempotence", "true");
    if !matches!(mode, Mode::Idempotent) {
        // librdkafka requires message.timeout.ms (120 s here) ≤ transaction.timeout.ms.
        config.set("transactional.id", transactional_id).set("transaction.timeout.ms", "120000");
    }
    let producer: ThreadedProducer<Counting> =
        config.create_with_context(Counting::new()).context("creating a producer")?;
    let timeout = Duration::from_secs(60);
    let transactional = !matches!(mode, Mode::Idempotent);
    if transactional {
        producer.init_transactions(timeout).context("init_transactions")?;
        producer.begin_transaction()?;
    }
    let mut commits = Vec::new();
    let mut in_txn = 0u64;
    let mut txn_started = Instant::now();
    let started = Instant::now();
    for n in 0..args.count {
        send_payload(&producer, &args.topic, pool, n, args.message_size)?;
        in_txn += 1;
        let due = match mode {
            Mode::Idempotent => false,
            Mode::EveryRecords(every) => in_txn >= every,
            Mode::EveryMillis(ms) => txn_started.elapsed() >= Duration::from_millis(ms),
        };
        if due {
            let t = Instant::now();
            producer.commit_transaction(timeout).context("commit_transaction")?;
            commits.push(t.elapsed().as_secs_f64() * 1e3);
            producer.begin_transaction()?;
            in_txn = 0;
            txn_started = Instant::now();
        }
    }
    if transactional {
        let t = Instant::now();
        producer.commit_transaction(timeout).context("commit_transaction")?;
        commits.push(t.elapsed().as_secs_f64() * 1e3);
    } else {
        producer.flush(timeout).context("flushing")?;
    }
    let elapsed = started.elapsed();
    let ctx = producer.context();
    let (delivered, failed) = (ctx.delivered.load(Ordering::Relaxed), ctx.failed.load(Ordering::Relaxed));
    if failed > 0 || delivered != args.count {
        bail!(
            "{}: {delivered} of {} messages acknowledged, {failed} failed (first error: {})",
            mode.name(),
            args.count,
            ctx.first_error.lock().ok().and_then(|f| f.clone()).unwrap_or_default()
        );
    }
    Ok(Run { msgs_per_s: args.count as f64 / elapsed.as_secs_f64().max(1e-9), commits })
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
