//! Engine semantics through the deterministic test driver, and the runtime against a real
//! embedded broker — gathered into one test binary.

mod aggregate;
mod changelog;
mod event_time;
mod joins;
mod runtime;
mod state;
mod stateless;
mod tables;
mod windows;

use brook_streams::serde::{SerdeRef, serdes};

/// String serde.
pub fn s() -> SerdeRef<String> {
    serdes::string()
}

/// i64 serde.
pub fn i() -> SerdeRef<i64> {
    serdes::i64()
}

/// Counts the words of `lines` into `counts` (a repartition, then a count per word).
pub fn wordcount() -> brook_streams::Topology {
    let b = brook_streams::dsl::StreamsBuilder::new();
    b.stream::<String, String>("lines")
        .flat_map_values(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .group_by(|_, w| w.clone())
        .count()
        .to_stream()
        .to("counts");
    b.build().unwrap()
}

/// The latest count per word in `counts` of an embedded broker.
pub fn latest_counts(broker: &brook_broker::Broker) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    let t = broker.topic("counts").unwrap();
    for p in 0..t.partition_count() {
        for r in broker.read("counts", p, 0, 64 << 20).unwrap() {
            let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v = i64::from_be_bytes(r.value.unwrap().as_ref().try_into().unwrap());
            out.insert(k, v);
        }
    }
    out
}
