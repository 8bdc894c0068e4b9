//! `cargo fuzz run genotype`: see `darts_pt::fuzz::genotype`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::genotype(data));
