//! libFuzzer entry of the `record_batch` target: see `src/record_batch.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::record_batch::run(data));
