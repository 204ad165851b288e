//! `brook bench produce|consume`: broker throughput and latency through the Kafka protocol,
//! measured with a real client library (librdkafka, via the `rdkafka` crate). `brook bench
//! nexmark` and `brook bench e2e` live in their own modules.
//!
//! * `produce`: N producers send `--count` messages of `--message-size` bytes as fast as the
//!   broker takes them (with the given `--acks` and `--compression`); then, unless
//!   `--latency-rate 0`, one producer sends at a fixed rate while a consumer reads the same
//!   topic, and the produce-to-consume latency of every message is recorded (p50/p99/max),
//!   as is the produce-to-acknowledgement latency (which, with `acks=all`, includes the fsync).
//! * `consume`: writes `--count` messages (unless the topic already holds them), then one
//!   consumer reads them all from the beginning.
//!
//! Without `--bootstrap`, an embedded server is started on a temporary data directory and
//! `127.0.0.1:0`, so the numbers include the full protocol path but no separate process.
//! Payloads are pseudo-random bytes, so compression ratios are pessimistic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use brook_broker::server::{KafkaServer, ServerConfig};
use brook_broker::{Broker, BrokerConfig};
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde_json::json;

use crate::target::{kafka_config, producer_config as base_producer_config};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce throughput, then produce-to-consume latency at a fixed rate.
    Produce(BenchArgs),
    /// Consume throughput (after writing the messages if needed).
    Consume(BenchArgs),
    /// Nexmark queries on Brook SQL, in process or through the embedded broker.
    Nexmark(super::nexmark::NexmarkArgs),
    /// Transactional produce (commit every N records / every T ms) next to idempotent produce.
    Txn(super::bench_txn::TxnBenchArgs),
    /// The user's path end to end: a JSON-lines file → file source connector → topic → SQL
    /// query (a tumbling window or a filter) → topic.
    E2e(super::e2e::E2eArgs),
}

/// Options shared by the benchmarks.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Broker to measure; without it an embedded server runs on a temporary directory.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
    /// Topic to use (created with --partitions if missing).
    #[arg(long, default_value = "brook-bench")]
    pub topic: String,
    /// Bytes per message value.
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    /// Number of messages.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Producer acks: 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: String,
    /// Compression codec: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Concurrent producers (each with its own connection).
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Messages per second in the latency phase (0 skips it).
    #[arg(long, default_value_t = 1000)]
    pub latency_rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10)]
    pub latency_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let (mode, args) = match cmd {
        BenchCommand::Produce(a) => ("produce", a),
        BenchCommand::Consume(a) => ("consume", a),
        BenchCommand::Nexmark(a) => return super::nexmark::run(a).await,
        BenchCommand::Txn(a) => return super::bench_txn::run(a).await,
        BenchCommand::E2e(a) => return super::e2e::run(a).await,
    };
    if !matches!(args.acks.as_str(), "0" | "1" | "all" | "-1") {
        bail!("--acks must be 0, 1 or all, not '{}'", args.acks);
    }
    if !matches!(args.compression.as_str(), "none" | "gzip" | "snappy" | "lz4" | "zstd") {
        bail!("--compression must be none, gzip, snappy, lz4 or zstd, not '{}'", args.compression);
    }
    if args.message_size < 8 || args.count == 0 || args.producers == 0 || args.partitions < 1 {
        bail!("--message-size must be ≥ 8 and --count, --producers, --partitions ≥ 1");
    }
    let report = with_server(args.bootstrap.clone(), move |bootstrap| match mode {
        "produce" => bench_produce(&bootstrap, &args),
        _ => bench_consume(&bootstrap, &args),
    })
    .await?;
    println!("{report}");
    Ok(())
}

/// Runs `bench(bootstrap)` on a blocking thread against `bootstrap`, or, without one, against
/// an embedded server on a temporary directory and `127.0.0.1:0` that lives as long as the run.
pub(super) async fn with_server<R: Send + 'static>(
    bootstrap: Option<String>,
    bench: impl FnOnce(String) -> anyhow::Result<R> + Send + 'static,
) -> anyhow::Result<R> {
    let mut embedded = None;
    let bootstrap = match bootstrap {
        Some(b) => b,
        None => {
            let dir = tempfile::tempdir().context("creating a temporary data directory")?;
            let broker =
                Broker::open(BrokerConfig::new(dir.path())).context("opening the embedded broker")?;
            let server = KafkaServer::bind(broker.clone(), ServerConfig::new("127.0.0.1:0".parse()?))?;
            let addr = server.local_addr();
            embedded = Some((dir, broker, server.spawn()));
            addr.to_string()
        }
    };
    let result =
        tokio::task::spawn_blocking(move || bench(bootstrap)).await.context("the benchmark thread failed");
    if let Some((_dir, broker, handle)) = embedded {
        handle.shutdown().await?;
        broker.close()?;
    }
    result?
}

pub(super) struct Counting {
    pub(super) delivered: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) first_error: Mutex<Option<String>>,
}

impl Counting {
    pub(super) fn new() -> Counting {
        Counting { delivered: AtomicU64::new(0), failed: AtomicU64::new(0), first_error: Mutex::new(None) }
    }
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Records, per message, the time from send to acknowledgement (the send time rides along as
/// the delivery opaque).
struct AckTimer {
    acks: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

impl ClientContext for AckTimer {}

impl ProducerContext for AckTimer {
    type DeliveryOpaque = Box<u64>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent_micros: Box<u64>) {
        if result.is_ok() {
            if let Ok(mut acks) = self.acks.lock() {
                acks.push(now_micros().saturating_sub(*sent_micros));
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(super) fn producer_config(bootstrap: &str, args: &BenchArgs, linger_ms: &str) -> ClientConfig {
    let mut c = base_producer_config(bootstrap);
    c.set("acks", &args.acks)
        .set("compression.codec", &args.compression)
        .set("linger.ms", linger_ms)
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "120000");
    c
}

/// Pseudo-random payload bytes (an LCG), so compression has realistic work to do.
pub(super) fn payload_pool(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // Printable-ish bytes: text-like data as most topics carry.
            b'a' + ((x >> 33) % 26) as u8
        })
        .collect()
}

pub(super) fn ensure_topic(bootstrap: &str, args: &BenchArgs) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<_> = kafka_config(bootstrap).create().context("creating an admin client")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt.block_on(admin.create_topics([&topic], &opts)).context("creating the topic")?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => bail!("creating topic {t}: {e}"),
        }
    }
    Ok(())
}

/// Sends `count` messages from `producers` threads as fast as possible; returns elapsed time.
fn produce_flat_out(bootstrap: &str, args: &BenchArgs, count: u64) -> anyhow::Result<Duration> {
    let pool = Arc::new(payload_pool(args.message_size + 4096));
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..args.producers {
        let share = count / args.producers as u64 + u64::from((i as u64) < count % args.producers as u64);
        let config = producer_config(bootstrap, args, "5");
        let (topic, size, pool) = (args.topic.clone(), args.message_size, pool.clone());
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let producer: ThreadedProducer<Counting> =
                config.create_with_context(Counting::new()).context("creating a producer")?;
            for n in 0..share {
                send_payload(&producer, &topic, &pool, n, size)?;
            }
            producer.flush(Duration::from_secs(300)).context("flushing")?;
            let ctx = producer.context();
            let failed = ctx.failed.load(Ordering::Relaxed);
            if failed > 0 {
                bail!(
                    "{failed} messages failed, first error: {}",
                    ctx.first_error.lock().ok().and_then(|f| f.clone()).unwrap_or_default()
                );
            }
            let delivered = ctx.delivered.load(Ordering::Relaxed);
            if delivered != share {
                bail!("only {delivered} of {share} messages were acknowledged");
            }
            Ok(())
        }));
    }
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a producer thread panicked"))??;
    }
    Ok(started.elapsed())
}

/// Sends message number `n` (a `size`-byte slice of `pool`), waiting while the producer's
/// queue is full.
pub(super) fn send_payload(
    producer: &ThreadedProducer<Counting>,
    topic: &str,
    pool: &[u8],
    n: u64,
    size: usize,
) -> anyhow::Result<()> {
    let start = (n as usize * 7919) % 4096;
    let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(&pool[start..start + size]);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_micros(500));
            }
            Err((e, _)) => bail!("produce failed: {e}"),
        }
    }
}

fn consumer_at(bootstrap: &str, args: &BenchArgs, offset: Offset) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = kafka_config(bootstrap)
        .set("group.id", format!("brook-bench-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1")
        .create()
        .context("creating a consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..args.partitions {
        tpl.add_partition_offset(&args.topic, p, offset)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

fn rate(count: u64, bytes: u64, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    (count as f64 / secs, bytes as f64 / secs / 1e6)
}

fn bench_produce(bootstrap: &str, args: &BenchArgs) -> anyhow::Result<String> {
    ensure_topic(bootstrap, args)?;
    let elapsed = produce_flat_out(bootstrap, args, args.count)?;
    let (msgs, mb) = rate(args.count, args.count * args.message_size as u64, elapsed);
    let latency = if args.latency_rate > 0 { Some(measure_latency(bootstrap, args)?) } else { None };
    if args.json {
        return Ok(json!({
            "bench": "produce", "bootstrap": args.bootstrap.as_deref().unwrap_or("embedded"),
            "message_size": args.message_size, "count": args.count, "acks": args.acks,
            "compression": args.compression, "partitions": args.partitions, "producers": args.producers,
            "elapsed_s": elapsed.as_secs_f64(), "msgs_per_s": msgs, "mb_per_s": mb,
            "latency": latency.as_ref().map(|l| json!({
                "rate_per_s": args.latency_rate, "samples": l.samples, "lost": l.lost,
                "p50_ms": l.p50_ms, "p99_ms": l.p99_ms, "max_ms": l.max_ms,
                "ack_p50_ms": l.ack_p50_ms, "ack_p99_ms": l.ack_p99_ms,
            })),
        })
        .to_string());
    }
    let mut out = format!(
        "produce: {} msgs x {} B, acks={}, compression={}, {} partitions, {} producer(s): {:.2} s, {:.0} msgs/s, {:.1} MB/s",
        args.count,
        args.message_size,
        args.acks,
        args.compression,
        args.partitions,
        args.producers,
        elapsed.as_secs_f64(),
        msgs,
        mb
    );
    if let Some(l) = latency {
        out.push_str(&format!(
            "\nproduce-to-consume latency at {} msgs/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples, {} lost); \
             produce-to-ack (acks={}): p50 {:.2} ms, p99 {:.2} ms",
            args.latency_rate, l.p50_ms, l.p99_ms, l.max_ms, l.samples, l.lost, args.acks, l.ack_p50_ms, l.ack_p99_ms
        ));
    }
    Ok(out)
}

fn bench_consume(bootstrap: &str, args: &BenchArgs) -> anyhow::Result<String> {
    ensure_topic(bootstrap, args)?;
    // Top the topic up to `count` messages.
    let probe = consumer_at(bootstrap, args, Offset::Beginning)?;
    let mut available = 0u64;
    for p in 0..args.partitions {
        let (lo, hi) = probe.fetch_watermarks(&args.topic, p, Duration::from_secs(10))?;
        available += (hi - lo).max(0) as u64;
    }
    drop(probe);
    if available < args.count {
        produce_flat_out(bootstrap, args, args.count - available)?;
    }
    let consumer = consumer_at(bootstrap, args, Offset::Beginning)?;
    let started = Instant::now();
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    while count < args.count {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                count += 1;
                bytes += m.payload_len() as u64;
                last_progress = Instant::now();
            }
            Some(Err(e)) => bail!("consume failed: {e}"),
            None if last_progress.elapsed() > Duration::from_secs(30) => {
                bail!("no progress for 30 s after {count} of {} messages", args.count)
            }
            None => {}
        }
    }
    let elapsed = started.elapsed();
    let (msgs, mb) = rate(count, bytes, elapsed);
    if args.json {
        return Ok(json!({
            "bench": "consume", "bootstrap": args.bootstrap.as_deref().unwrap_or("embedded"),
            "message_size": args.message_size, "count": count, "compression": args.compression,
            "partitions": args.partitions, "elapsed_s": elapsed.as_secs_f64(),
            "msgs_per_s": msgs, "mb_per_s": mb,
        })
        .to_string());
    }
    Ok(format!(
        "consume: {count} msgs x {} B from {} partitions: {:.2} s, {:.0} msgs/s, {:.1} MB/s",
        args.message_size,
        args.partitions,
        elapsed.as_secs_f64(),
        msgs,
        mb
    ))
}

struct Latency {
    samples: usize,
    lost: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
}

/// The `q` quantile of sorted microsecond samples, in ms.
fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
        .map_or(0.0, |&v| v as f64 / 1000.0)
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// One producer at a fixed rate, one consumer tailing the topic; each message carries its send
/// time, and the consumer records receive time minus send time.
fn measure_latency(bootstrap: &str, args: &BenchArgs) -> anyhow::Result<Latency> {
    let consumer = consumer_at(bootstrap, args, Offset::End)?;
    // Let the consumer resolve the end offsets before the first timed message.
    let warmup = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warmup {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let total = args.latency_rate * args.latency_secs;
    let size = args.message_size;
    let producer_cfg = producer_config(bootstrap, args, "0");
    let topic = args.topic.clone();
    let interval = Duration::from_secs_f64(1.0 / args.latency_rate as f64);
    let sender = std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
        let producer: ThreadedProducer<AckTimer> = producer_cfg
            .create_with_context(AckTimer { acks: Mutex::new(Vec::new()), failed: AtomicU64::new(0) })?;
        let start = Instant::now();
        let mut buf = payload_pool(size);
        for i in 0..total {
            let due = start + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent = now_micros();
            buf[..8].copy_from_slice(&sent.to_be_bytes());
            let record = BaseRecord::<'_, (), [u8], Box<u64>>::with_opaque_to(&topic, Box::new(sent))
                .payload(&buf[..]);
            producer.send(record).map_err(|(e, _)| anyhow::anyhow!("produce failed: {e}"))?;
        }
        producer.flush(Duration::from_secs(60))?;
        let failed = producer.context().failed.load(Ordering::Relaxed);
        if failed > 0 {
            bail!("{failed} latency messages failed");
        }
        let acks = producer.context().acks.lock().map(|a| a.clone()).unwrap_or_default();
        Ok(acks)
    });
    let mut latencies = Vec::with_capacity(total as usize);
    let deadline = Instant::now() + Duration::from_secs(args.latency_secs + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            if let Some(p) = m.payload().filter(|p| p.len() >= 8) {
                let sent = u64::from_be_bytes(p[..8].try_into().unwrap_or([0; 8]));
                latencies.push(now_micros().saturating_sub(sent));
            }
        }
    }
    let mut acks = sender.join().map_err(|_| anyhow::anyhow!("the latency producer panicked"))??;
    if latencies.is_empty() || acks.is_empty() {
        bail!("the latency consumer received nothing");
    }
    latencies.sort_unstable();
    acks.sort_unstable();
    Ok(Latency {
        samples: latencies.len(),
        lost: total.saturating_sub(latencies.len() as u64),
        p50_ms: quantile_ms(&latencies, 0.50),
        p99_ms: quantile_ms(&latencies, 0.99),
        max_ms: quantile_ms(&latencies, 1.0),
        ack_p50_ms: quantile_ms(&acks, 0.50),
        ack_p99_ms: quantile_ms(&acks, 0.99),
    })
}
