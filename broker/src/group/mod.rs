//! Consumer groups: durable committed offsets and the classic group coordinator.

pub mod coordinator;
pub mod offsets;

pub use coordinator::{CoordinatorConfig, GroupCoordinator, GroupState};
pub use offsets::{GroupOffsetStore, OFFSETS_TOPIC, OffsetAndMetadata};
