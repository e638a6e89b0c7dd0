//! libFuzzer target `llm_sse`: see [`troupe_fuzz::llm_sse`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::llm_sse(data));
