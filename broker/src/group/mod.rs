//! Consumer groups: durable committed offsets (and, with the Kafka protocol, the coordinator).

pub mod offsets;

pub use offsets::{GroupOffsetStore, OFFSETS_TOPIC, OffsetAndMetadata};
