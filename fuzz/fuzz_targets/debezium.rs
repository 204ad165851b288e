//! libFuzzer entry of the `debezium` target: see `src/debezium.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::debezium::run(data));
