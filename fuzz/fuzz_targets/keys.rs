//! libFuzzer entry of the `keys` target: see `src/keys.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::keys::run(data));
