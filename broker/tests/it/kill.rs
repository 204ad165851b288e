//! Kill test with real processes: a writer process appends with durable acknowledgements and is
//! SIGKILLed at random moments; after each kill every acknowledged record must be present
//! exactly once at its acknowledged offset.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use brook_broker::{Broker, BrokerConfig, OffsetSpec};
use rand::Rng;

#[test]
fn sigkill_never_loses_an_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: HashMap<i64, u64> = HashMap::new();
    let mut rng = rand::rng();
    let rounds = 25;
    for round in 0..rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brook-log-writer"))
            .arg(dir.path())
            .arg("t")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start writer");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace().skip(1);
                let offset: i64 = parts.next().unwrap().parse().unwrap();
                let seq: u64 = parts.next().unwrap().parse().unwrap();
                acks.push((offset, seq));
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().expect("SIGKILL writer");
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        for (offset, seq) in acks {
            acked.insert(offset, seq);
        }

        // Recover in this process and check every acknowledged record.
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        let broker = Broker::open(config).unwrap();
        let end = broker.list_offset("t", 0, OffsetSpec::Latest).unwrap().map_or(0, |o| o.0);
        let mut seen = HashMap::new();
        let mut next = 0;
        while next < end {
            for r in broker.read("t", 0, next, 1 << 20).unwrap() {
                let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                let seq: u64 = v.trim_start_matches("seq-").parse().unwrap();
                assert!(seen.insert(seq, r.offset).is_none(), "seq {seq} stored twice");
                assert_eq!(seq, r.offset as u64, "sequence and offset advance together");
                next = r.offset + 1;
            }
        }
        for (offset, seq) in &acked {
            assert_eq!(seen.get(seq), Some(offset), "round {round}: acknowledged seq {seq} lost or moved");
        }
        drop(broker);
    }
    assert!(acked.len() > 100, "the writer made progress ({} acks)", acked.len());
}
