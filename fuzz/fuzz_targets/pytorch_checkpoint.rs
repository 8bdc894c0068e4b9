//! `cargo fuzz run pytorch_checkpoint`: see `darts_pt::fuzz::pytorch_checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::pytorch_checkpoint(data));
