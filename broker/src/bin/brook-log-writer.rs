//! A small process that appends to a Brook log with durable acknowledgements, used by the
//! kill test (`tests/it/kill.rs`): it prints `ACK <offset> <seq>` only after the record is
//! fsynced, so a record it acknowledged must survive `kill -9` at any moment.
//!
//! Usage: `brook-log-writer DATA_DIR TOPIC`

use std::io::Write;

use brook_broker::{Broker, BrokerConfig, NewRecord, OffsetSpec, TopicConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(topic)) = (args.next(), args.next()) else {
        eprintln!("usage: brook-log-writer DATA_DIR TOPIC");
        std::process::exit(2);
    };
    let mut config = BrokerConfig::new(dir);
    config.flush_interval = None;
    let broker = Broker::open(config)?;
    if broker.topic(&topic).is_err() {
        broker.create_topic(&topic, 1, TopicConfig::from_pairs([("segment.bytes", "65536")])?)?;
    }
    // Continue the sequence after whatever the log already holds.
    let end = broker.list_offset(&topic, 0, OffsetSpec::Latest)?.map_or(0, |o| o.0);
    let mut seq: u64 = if end == 0 {
        0
    } else {
        let last = broker.read(&topic, 0, end - 1, 1 << 20)?;
        let v = last.last().and_then(|r| r.value.clone()).unwrap_or_default();
        String::from_utf8_lossy(&v).trim_start_matches("seq-").parse::<u64>()? + 1
    };
    let stdout = std::io::stdout();
    loop {
        let n = 1 + (seq % 7) as usize;
        let records: Vec<_> = (0..n)
            .map(|i| {
                NewRecord::new(Some(format!("k{}", seq + i as u64)), Some(format!("seq-{}", seq + i as u64)))
            })
            .collect();
        let placed = broker.produce(&topic, Some(0), records)?;
        let end = placed.last().map_or(0, |p| p.1 + 1);
        broker.wait_durable(&topic, 0, end).await?;
        let mut out = stdout.lock();
        for (i, (_, offset)) in placed.iter().enumerate() {
            writeln!(out, "ACK {offset} {}", seq + i as u64)?;
        }
        out.flush()?;
        seq += n as u64;
    }
}
