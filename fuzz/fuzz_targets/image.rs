//! `cargo fuzz run image`: see `darts_pt::fuzz::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| darts_pt::fuzz::image(data));
