//! `cargo fuzz run nb201_csv`: see `darts_pt::fuzz::nb201_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::nb201_csv(data));
