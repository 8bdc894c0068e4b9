//! `cargo fuzz run cifar_python`: see `darts_pt::fuzz::cifar_python`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::cifar_python(data));
