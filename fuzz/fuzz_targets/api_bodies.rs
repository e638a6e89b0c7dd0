//! libFuzzer target `api_bodies`: see [`troupe_fuzz::api_bodies`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::api_bodies(data));
