//! libFuzzer target `llm_completion`: see [`troupe_fuzz::llm_completion`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::llm_completion(data));
