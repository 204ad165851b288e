//! The Kafka request path: one request frame (without its size prefix), as a client would send
//! it, through header parsing, the array-count guard, kafka-protocol's decoders and the
//! broker's handlers (produce validation included) of a real broker on a temporary directory.
//! Any panic — in the decoder, a handler, or a task it spawned — aborts and is a finding.
//! Handlers that legitimately wait (JoinGroup until the rebalance completes) are cut off after
//! 100 ms of runtime time; a thread that blocks for real still trips libFuzzer's `-timeout`.

use std::sync::OnceLock;
use std::time::Duration;

use brook_broker::server::{KafkaServer, ServerConfig};
use brook_broker::{Broker, BrokerConfig, TopicConfig};

struct Target {
    runtime: tokio::runtime::Runtime,
    server: KafkaServer,
    _dir: tempfile::TempDir,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut config = BrokerConfig::new(dir.path());
        config.default_partitions = 2;
        let broker = Broker::open(config).unwrap();
        // Topics the corpus names, one of them compacted.
        broker.create_topic("fuzz", 2, TopicConfig::default()).unwrap();
        broker
            .create_topic(
                "fuzz-compact",
                1,
                TopicConfig::from_pairs([("cleanup.policy", "compact")]).unwrap(),
            )
            .unwrap();
        let server = {
            let _guard = runtime.enter();
            KafkaServer::bind(broker, ServerConfig::new("127.0.0.1:0".parse().unwrap())).unwrap()
        };
        Target { runtime, server, _dir: dir }
    })
}

/// One input: a request frame.
pub fn run(data: &[u8]) {
    let t = target();
    let frame = bytes::Bytes::copy_from_slice(data);
    t.runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_millis(100), t.server.process_frame(frame)).await;
    });
    // What the server's ticker does every 100 ms: expire sessions, complete rebalances.
    t.server.coordinator().tick();
}
