//! Property: whatever happens to the unflushed tail of a log in a crash, a batch that was
//! reported durable is never lost, and what survives is a prefix of what was written.

use std::time::Duration;

use brook_broker::{Broker, BrokerConfig, NewRecord, OffsetSpec, TopicConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Op {
    records: usize,
    value_len: usize,
    durable: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (1usize..8, 0usize..300, any::<bool>()).prop_map(|(records, value_len, durable)| Op {
        records,
        value_len,
        durable,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn durable_batches_survive_any_crash_point(
        ops in proptest::collection::vec(op(), 1..40),
        cut in 0.0f64..=1.0,
        flip in proptest::option::of((0.0f64..1.0, 1u8..=255)),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join("topics/t/0/00000000000000000000.log");
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        config.cleaner_interval = Duration::from_secs(3600);
        let mut written: Vec<String> = Vec::new();
        let (mut durable_end, mut durable_len) = (0i64, 0u64);
        {
            let broker = Broker::open(config.clone()).unwrap();
            broker.create_topic("t", 1, TopicConfig::default()).unwrap();
            for (i, op) in ops.iter().enumerate() {
                let records: Vec<_> = (0..op.records)
                    .map(|j| {
                        let v = format!("{i}-{j}-{}", "x".repeat(op.value_len));
                        written.push(v.clone());
                        NewRecord::new(Some(format!("k{i}")), Some(v))
                    })
                    .collect();
                let placed = broker.produce("t", Some(0), records).unwrap();
                if op.durable {
                    let end = placed.last().unwrap().1 + 1;
                    rt.block_on(broker.wait_durable("t", 0, end)).unwrap();
                    durable_end = end;
                    durable_len = std::fs::metadata(&seg).unwrap().len();
                }
            }
            // Crash: no clean shutdown.
        }
        // The crash damages only what was not yet durable.
        let len = std::fs::metadata(&seg).unwrap().len();
        let cut_at = durable_len + ((len - durable_len) as f64 * cut) as u64;
        let mut data = std::fs::read(&seg).unwrap();
        data.truncate(cut_at as usize);
        if let Some((where_, mask)) = flip
            && (cut_at as usize) > durable_len as usize {
                let at = durable_len as usize + ((cut_at - durable_len) as f64 * where_) as usize;
                data[at] ^= mask;
            }
        std::fs::write(&seg, &data).unwrap();

        let broker = Broker::open(config).unwrap();
        let end = broker.list_offset("t", 0, OffsetSpec::Latest).unwrap().unwrap().0;
        prop_assert!(end >= durable_end, "log end {} below durable end {}", end, durable_end);
        let mut next = 0;
        while next < end {
            let records = broker.read("t", 0, next, 1 << 20).unwrap();
            prop_assert!(!records.is_empty());
            for r in records {
                prop_assert_eq!(r.offset, next);
                prop_assert_eq!(r.value.as_deref(), Some(written[next as usize].as_bytes()));
                next += 1;
            }
        }
        prop_assert_eq!(next, end);
    }
}
