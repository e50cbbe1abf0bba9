//! `cargo fuzz run config`: see rand_guard_fuzz::config for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rand_guard_fuzz::config(data));
