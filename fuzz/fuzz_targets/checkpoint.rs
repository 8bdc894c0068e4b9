//! `cargo fuzz run checkpoint`: see `darts_pt::fuzz::checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::checkpoint(data));
