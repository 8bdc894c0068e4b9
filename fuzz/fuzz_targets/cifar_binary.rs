//! `cargo fuzz run cifar_binary`: see `darts_pt::fuzz::cifar_binary`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::cifar_binary(data));
