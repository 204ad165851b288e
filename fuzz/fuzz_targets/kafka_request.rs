//! libFuzzer entry of the `kafka_request` target: see `src/kafka_request.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::kafka_request::run(data));
