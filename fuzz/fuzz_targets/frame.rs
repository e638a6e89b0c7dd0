//! libFuzzer target `frame`: see [`troupe_fuzz::frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::frame(data));
