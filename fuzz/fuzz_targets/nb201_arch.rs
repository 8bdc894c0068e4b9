//! `cargo fuzz run nb201_arch`: see `darts_pt::fuzz::nb201_arch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::nb201_arch(data));
