//! Brook's fuzz targets, one module per target, each a `run(&[u8])` that must return for any
//! input (errors are fine; a panic, a stack overflow, a hang or an allocation beyond the
//! limits is a finding).
//!
//! `fuzz_targets/<target>.rs` hands each module to libFuzzer (`cargo +nightly fuzz run
//! <target>`, coverage-guided). CI has no nightly toolchain: `cli/tests/it/fuzz.rs` includes
//! these same modules in the workspace's tests and runs every seed of `corpus/<target>/` and
//! then random mutations of the seeds for a fixed time (see `RELIABILITY.md`).

pub mod debezium;
pub mod kafka_request;
pub mod keys;
pub mod record_batch;
pub mod record_value;
pub mod segment_recovery;
pub mod sql_statement;
