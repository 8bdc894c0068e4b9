//! `cargo fuzz run run_records`: see `darts_pt::fuzz::run_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::run_records(data));
