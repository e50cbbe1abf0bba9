//! `cargo fuzz run rules`: see rand_guard_fuzz::rules for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rand_guard_fuzz::rules(data));
