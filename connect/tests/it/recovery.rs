//! Exactly-once positions in one process: restarts, and checkpoints lost or older than the
//! data (what a crash between writing records and committing leaves behind).

use std::io::Write;
use std::sync::Arc;

use brook_client::{Cluster, EmbeddedCluster};
use brook_connect::checkpoint::OffsetStore;
use brook_connect::synthetic::CdcGenerator;

use crate::{ingest, open_broker, read_topic, table_of};

fn cdc_props(path: &str) -> Vec<(&str, &str)> {
    vec![
        ("connector", "file"),
        ("path", path),
        ("format", "debezium_json"),
        ("topic", "customers"),
        ("key", "id"),
        ("partitions", "3"),
    ]
}

fn append_lines(path: &std::path::Path, generator: &mut CdcGenerator, n: usize) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for _ in 0..n {
        writeln!(f, "{}", generator.next_line()).unwrap();
    }
}

#[test]
fn a_restart_resumes_where_the_source_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("cdc.json");
    let mut generator = CdcGenerator::new(500, 1);
    append_lines(&input, &mut generator, 3000);
    let first = ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    append_lines(&input, &mut generator, 2000);
    let second = ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    assert_eq!((first.records_in, second.records_in), (3000, 5000), "counters continue");
    let records = read_topic(&broker, "customers");
    assert_eq!(second.records_out, records.len() as u64);
    assert_eq!(table_of(&records), generator.table());
}

#[test]
fn a_lost_checkpoint_neither_duplicates_nor_loses_records() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("cdc.json");
    let mut generator = CdcGenerator::new(500, 2);
    append_lines(&input, &mut generator, 3000);
    let cluster: Arc<dyn Cluster> = Arc::new(EmbeddedCluster::new(broker.clone()));
    ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    let written = read_topic(&broker, "customers");

    // As if the process died after writing every record but before its first commit.
    OffsetStore::delete(cluster.as_ref(), "cdc").unwrap();
    append_lines(&input, &mut generator, 1000);
    let m = ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    let records = read_topic(&broker, "customers");
    assert!(records.len() > written.len());
    assert_eq!(m.records_in, 4000, "the replayed lines are counted once");
    assert_eq!(m.records_out, records.len() as u64);
    assert_eq!(table_of(&records), generator.table());
    // Every record appears once: replaying the whole input from scratch gives the same log.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_broker(fresh_dir.path());
    ingest(&fresh, "cdc", &cdc_props(input.to_str().unwrap()));
    let expected = read_topic(&fresh, "customers");
    let strip =
        |rs: Vec<crate::Rec>| rs.into_iter().map(|r| (r.partition, r.key, r.raw_value)).collect::<Vec<_>>();
    assert_eq!(strip(records), strip(expected));
}

#[test]
fn an_old_checkpoint_replays_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("cdc.json");
    let mut generator = CdcGenerator::new(300, 3);
    append_lines(&input, &mut generator, 2000);
    let cluster: Arc<dyn Cluster> = Arc::new(EmbeddedCluster::new(broker.clone()));
    ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    let old = OffsetStore::load(cluster.as_ref(), "cdc").unwrap().unwrap();
    append_lines(&input, &mut generator, 2000);
    let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
    writeln!(f, "{{broken").unwrap();
    append_lines(&input, &mut generator, 500);
    let full = ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    let before = read_topic(&broker, "customers");
    let dlq_before = read_topic(&broker, "customers.dlq");

    // The newer checkpoint is lost: the source restarts from the old one.
    OffsetStore::save(cluster.as_ref(), "cdc", &old).unwrap();
    let again = ingest(&broker, "cdc", &cdc_props(input.to_str().unwrap()));
    assert_eq!(read_topic(&broker, "customers"), before);
    assert_eq!(read_topic(&broker, "customers.dlq"), dlq_before);
    assert_eq!(again, full, "counters match a run without the lost checkpoint");
    assert_eq!(full.dlq, 1);
}
