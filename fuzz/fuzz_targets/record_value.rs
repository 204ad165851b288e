//! libFuzzer entry of the `record_value` target: see `src/record_value.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::record_value::run(data));
