//! Log throughput: appends of 100 B and 1 KB records with and without waiting for durability,
//! in-process produce (encode + append), and sequential reads.
//!
//! `cargo bench -p brook-broker --bench log`

use std::time::{Duration, Instant};

use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use brook_broker::{Broker, BrokerConfig, TopicConfig};
use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const RECORDS_PER_BATCH: usize = 1000;

/// Incompressible payload bytes (virtual disks may compress or deduplicate constant data).
fn random_bytes(n: usize, seed: &mut u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

fn batch(record_size: usize) -> BytesMut {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ record_size as u64;
    for i in 0..RECORDS_PER_BATCH {
        let value = random_bytes(record_size, &mut seed);
        b.push(&NewRecord::new(None::<Vec<u8>>, Some(value)).with_timestamp(1_700_000_000_000 + i as i64));
    }
    b.finish()
}

fn broker(dir: &std::path::Path) -> Broker {
    let mut c = BrokerConfig::new(dir);
    c.flush_interval = None;
    c.cleaner_interval = Duration::from_secs(3600);
    let b = Broker::open(c).unwrap();
    b.create_topic("t", 1, TopicConfig::default()).unwrap();
    b
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for size in [100usize, 1024] {
        let data = batch(size);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::new("no_flush", format!("{size}B")), &data, |b, data| {
            let dir = tempfile::tempdir().unwrap();
            let broker = broker(dir.path());
            let log = broker.partition("t", 0).unwrap();
            b.iter(|| log.append(data.clone()).unwrap());
        });
        // Durable: 4 concurrent writers append a batch each and wait until it is fsynced;
        // group commit lets one fsync cover all four.
        g.throughput(Throughput::Bytes(4 * data.len() as u64));
        g.bench_with_input(BenchmarkId::new("durable_4_writers", format!("{size}B")), &data, |b, data| {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let broker = broker(dir.path());
            let log = broker.partition("t", 0).unwrap();
            b.iter_custom(|iters| {
                let start = Instant::now();
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for _ in 0..4 {
                        let (log, data) = (log.clone(), data.clone());
                        tasks.push(tokio::spawn(async move {
                            for _ in 0..iters {
                                let info = log.append(data.clone()).unwrap();
                                log.wait_durable(info.last_offset + 1).await.unwrap();
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                start.elapsed()
            });
        });
    }
    g.finish();
}

fn produce(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    g.bench_function("encode_and_append_100B_keyed", |b| {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        let value = random_bytes(100, &mut 42u64.clone());
        let records: Vec<NewRecord> = (0..RECORDS_PER_BATCH)
            .map(|i| NewRecord::new(Some(format!("key-{i}")), Some(value.clone())))
            .collect();
        b.iter(|| broker.produce("t", Some(0), records.clone()).unwrap());
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let data = batch(1024);
    let n_batches = 256; // ~256 MB
    for _ in 0..n_batches {
        broker.append("t", 0, data.clone()).unwrap();
    }
    let log = broker.partition("t", 0).unwrap();
    let end = log.stats().log_end_offset;
    g.throughput(Throughput::Bytes((data.len() * n_batches) as u64));
    g.bench_function("sequential_fetch_1MB_1KB_records", |b| {
        b.iter(|| {
            let mut next = 0;
            while next < end {
                let f = log.fetch(next, 1 << 20).unwrap();
                let last = brook_broker::log::segment::batches(&f.batches).last().unwrap().unwrap().0;
                next = last.next_offset();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, append, produce, read);
criterion_main!(benches);
