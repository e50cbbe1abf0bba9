//! `cargo fuzz run replay`: see rand_guard_fuzz::replay for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rand_guard_fuzz::replay(data));
