//! `cargo fuzz run idx`: see `darts_pt::fuzz::idx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::idx(data));
