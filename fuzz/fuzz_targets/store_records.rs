//! libFuzzer target `store_records`: see [`troupe_fuzz::store_records`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::store_records(data));
