//! Word count: the "hello world" of stream processing.
//!
//! `lines` (key: line number, value: text) → split into words → re-key by word (through a
//! repartition topic) → count per word → `word-counts` (key: word, value: count as a Kafka
//! `LongSerializer` i64).

use std::collections::BTreeMap;

use anyhow::Result;
use brook_streams::dsl::StreamsBuilder;

use crate::Cluster;

/// Sample input.
pub const LINES: &[&str] = &[
    "all streams flow to the sea",
    "the sea is not full",
    "to the place where the streams flow",
    "there they flow again",
];

/// Runs word count on the sample lines and returns the final count of every word.
pub fn run(cluster: &Cluster) -> Result<BTreeMap<String, i64>> {
    let (input, output) = (cluster.name("lines"), cluster.name("word-counts"));
    cluster.create_topic(&input, 2)?;
    cluster.create_topic(&output, 2)?;
    let records: Vec<_> = LINES
        .iter()
        .enumerate()
        .map(|(i, l)| (Some(format!("line-{i}")), Some(l.to_string()), 1_000 + i as i64))
        .collect();
    cluster.produce(&input, &records)?;

    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(&input)
        .flat_map_values(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .group_by(|_, word| word.clone())
        .count()
        .to_stream()
        .to(&output);
    cluster.run(&cluster.name("wordcount"), builder.build()?)?;

    let mut counts = BTreeMap::new();
    for r in cluster.read_all(&output)? {
        let word = String::from_utf8(r.key.unwrap_or_default())?;
        let count = i64::from_be_bytes(r.value.unwrap_or_default().as_slice().try_into()?);
        counts.insert(word, count);
    }
    Ok(counts)
}
