//! `cargo fuzz run config`: see `darts_pt::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::config(data));
