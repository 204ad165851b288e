//! Connectors over the Kafka protocol (`--bootstrap`): a source and a sink against a Brook
//! Kafka server on 127.0.0.1, resumed without duplicates.

use std::io::Write;
use std::sync::Arc;

use brook_broker::server::LoopbackServer;
use brook_client::{Cluster, KafkaCluster};
use brook_connect::metrics::Metrics;
use brook_connect::synthetic::CdcGenerator;
use brook_connect::{FileSink, RunEnd, StopSignal};

use crate::{open_broker, read_topic, source_config, table_of};

#[test]
fn source_and_sink_over_the_kafka_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let server = LoopbackServer::start(broker.clone()).unwrap();
    let addr = server.bootstrap();
    // As `brook connect run --bootstrap` names itself: the client a Brook server lets write
    // the connector's internal offsets topic.
    let cluster: Arc<dyn Cluster> =
        Arc::new(KafkaCluster::connect_with(&addr, "brook-connect", &[]).unwrap());

    let input = dir.path().join("cdc.json");
    let mut generator = CdcGenerator::new(200, 5);
    let mut append = |n: usize| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&input).unwrap();
        for _ in 0..n {
            writeln!(f, "{}", generator.next_line()).unwrap();
        }
    };
    append(2000);
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "debezium_json"),
        ("topic", "remote"),
        ("key", "id"),
        ("partitions", "2"),
    ];
    let run = |cluster: &Arc<dyn Cluster>| {
        brook_connect::source::run_once("remote", source_config("remote", &props), cluster.clone())
            .unwrap()
            .snapshot()
    };
    let first = run(&cluster);
    append(500);
    let second = run(&cluster);
    assert_eq!((first.records_in, second.records_in), (2000, 2500));
    let records = read_topic(&broker, "remote");
    assert_eq!(second.records_out, records.len() as u64, "nothing written twice across the restart");
    assert_eq!(table_of(&records), generator.table());

    let out = dir.path().join("out");
    let sink_props =
        [("connector", "file"), ("path", out.to_str().unwrap()), ("topic", "remote"), ("mode", "once")];
    let def =
        brook_connect::ConnectorDefinition::new("remote-out", brook_connect::ConnectorKind::Sink, sink_props)
            .unwrap();
    let brook_connect::ConnectorConfig::Sink(sink_config) = def.config().unwrap() else {
        unreachable!("a sink")
    };
    let metrics = Arc::new(Metrics::default());
    let mut sink = FileSink::new("remote-out", sink_config, cluster.clone(), metrics.clone());
    assert_eq!(sink.run(&StopSignal::new()).unwrap(), RunEnd::Finished);
    let lines: usize = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().lines().count())
        .sum();
    assert_eq!((lines as u64, metrics.snapshot().records_out), (records.len() as u64, records.len() as u64));
    assert!(
        cluster.committed("_brook_connect.remote-out", "remote", 0).unwrap().is_some_and(|c| c.offset > 0)
    );

    drop(cluster);
    server.shutdown().unwrap();
    broker.close().unwrap();
}
