//! libFuzzer target `workflow_file`: see [`troupe_fuzz::workflow_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::workflow_file(data));
