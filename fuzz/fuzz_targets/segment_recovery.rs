//! libFuzzer entry of the `segment_recovery` target: see `src/segment_recovery.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::segment_recovery::run(data));
