//! libFuzzer target `membership_datagram`: see [`troupe_fuzz::membership_datagram`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| troupe_fuzz::membership_datagram(data));
